"""appkit_module: build an appkit module (lib<name>.so) from entry sources.

    load("@appkit//client:defs.bzl", "appkit_module")   # "//client:defs.bzl" inside appkit

    appkit_module(
        name = "demo",            # -> libdemo.so, entries "demo:<function>"
        srcs = ["demo.cc"],       # uses APPKIT_ENTRY(...) from client/appkit.h
        deps = [...],             # your own libraries
    )

The module links only the appkit *headers*: at run time its calls to the
appkit runtime (QuitRequested, Sleep, Args, StartWorkers, the generated
protos) bind to the one copy exported by the executor or worker binary
that loads it. A second copy inside the module would register the same
protobuf descriptors twice (a fatal error in libprotobuf) and split the
process's quit flag in two. So a module whose deps link the runtime
(//client:appkit, directly or through a library of yours) is refused when
it is built, with a message saying what to use instead; StartDaemon and
StartWorkers refuse such a module too, however it was built.

Works from any workspace: every label the macro adds is resolved in
appkit's repository (Label), and the module's sources are compiled as
C++17, the standard client/appkit.h needs, whatever the workspace's
default is.
"""

load("//tools:cc.bzl", "APPKIT_COPTS")

# Targets whose code is the appkit runtime: a module that links one of
# them carries a second copy.
_RUNTIME = [
    Label("//client:appkit_runtime"),
    Label("//common/host"),
    Label("//common/host:entry_loader"),
    Label("//common/runtime"),
]

def _runtime_check_impl(ctx):
    runtime = {str(label): True for label in _RUNTIME}
    for dep in ctx.attr.deps:
        if CcInfo not in dep:
            continue
        for linker_input in dep[CcInfo].linking_context.linker_inputs.to_list():
            if str(linker_input.owner) in runtime:
                fail(("appkit_module(name = \"%s\"): its dep %s links the appkit runtime (%s). " +
                      "A module gets the runtime from the executor or worker that loads it; a " +
                      "second copy in the module would run with its own quit flag and its own " +
                      "copy of every generated message. Take %s (and any library of yours that " +
                      "depends on it) out of the module's deps: appkit_module already gives the " +
                      "module client/appkit.h, and a library shared by a module and a launcher " +
                      "should depend on %s instead.") % (
                    ctx.attr.module,
                    dep.label,
                    linker_input.owner,
                    Label("//client:appkit"),
                    Label("//client:module_api"),
                ))
    return [CcInfo()]

# Fails the build of a module whose deps (transitively) link the runtime.
_appkit_runtime_check = rule(
    implementation = _runtime_check_impl,
    attrs = {
        "deps": attr.label_list(providers = [CcInfo]),
        "module": attr.string(),
    },
)

def appkit_module(
        name,
        srcs,
        deps = [],
        visibility = None,
        testonly = False,
        linkopts = [],
        copts = [],
        tags = [],
        **kwargs):
    _appkit_runtime_check(
        name = name + "_runtime_check",
        deps = deps,
        module = name,
        testonly = testonly,
        tags = tags,
        visibility = ["//visibility:private"],
    )
    native.cc_binary(
        name = "lib%s.so" % name,
        srcs = srcs,
        deps = deps + [
            ":%s_runtime_check" % name,
            Label("//client:module_api"),
        ],
        copts = APPKIT_COPTS + copts,
        linkshared = True,
        # Only the shared libraries the module uses: loading it costs less.
        linkopts = ["-Wl,--as-needed"] + linkopts,
        visibility = visibility,
        testonly = testonly,
        tags = tags,
        **kwargs
    )
    native.filegroup(
        name = name,
        srcs = [":lib%s.so" % name],
        visibility = visibility,
        testonly = testonly,
        tags = tags,
    )
