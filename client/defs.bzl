"""appkit_module: build an appkit module (lib<name>.so) from entry sources.

    load("//client:defs.bzl", "appkit_module")

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
process's quit flag in two.
"""

def appkit_module(name, srcs, deps = [], visibility = None, testonly = False, linkopts = [], **kwargs):
    native.cc_binary(
        name = "lib%s.so" % name,
        srcs = srcs,
        deps = deps + ["//client:module_api"],
        linkshared = True,
        # Only the shared libraries the module uses: loading it costs less.
        linkopts = ["-Wl,--as-needed"] + linkopts,
        visibility = visibility,
        testonly = testonly,
        **kwargs
    )
    native.filegroup(
        name = name,
        srcs = [":lib%s.so" % name],
        visibility = visibility,
        testonly = testonly,
    )
