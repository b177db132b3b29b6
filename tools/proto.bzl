"""appkit_proto_library: C++ (and gRPC) code from .proto files, offline.

Runs the system protoc (Debian's protobuf-compiler) and grpc_cpp_plugin
(protobuf-compiler-grpc) in a genrule; no network, no rules_proto.

    appkit_proto_library(
        name = "guardian_proto",
        srcs = ["guardian.proto"],
        deps = [":process_proto"],   # other appkit_proto_library targets
        grpc = True,                 # also generate .grpc.pb.{h,cc}
    )

Imports are relative to the repository root ("proto/process.proto"),
whatever workspace builds it: protoc runs with -I<repository root> and
writes under the repository's output directory, so the generated code
builds when appkit is an external repository (@appkit, or any other name)
as well as in its own workspace. Well-known types (google/protobuf/*.proto)
come from /usr/include.

proto_root: a directory of the repository that is the import root of
`srcs` instead, for a file that has a standard path of its own:
    appkit_proto_library(name = "health_proto", proto_root = "proto",
                         srcs = ["grpc/health/v1/health.proto"], grpc = True)
is the file "grpc/health/v1/health.proto" (its name in descriptors and
server reflection), included as "grpc/health/v1/health.pb.h". Nothing
may import such a file from another root.

C++ targets that come out:
  name            the generated code, to link into binaries and libraries;
  name + "_headers"  the generated headers only, for dlopen'ed modules,
                  which must not carry a second copy of the generated code
                  (see client/README.md: one copy per process);
  name + "_messages"  the message code alone, without gRPC (with grpc =
                  True; otherwise an alias of name): what the executor and
                  worker link, so that they start without loading gRPC;
  name + "_grpc_only"  the service code alone over the headers (grpc =
                  True): for the control-plane plugin, which binds to the
                  host binary's message code.
"""

load("//tools:cc.bzl", "appkit_cc_library")

def _outs(srcs, grpc):
    hdrs = []
    cc_srcs = []
    for src in srcs:
        base = src[:-len(".proto")]
        hdrs.append(base + ".pb.h")
        cc_srcs.append(base + ".pb.cc")
        if grpc:
            hdrs.append(base + ".grpc.pb.h")
            cc_srcs.append(base + ".grpc.pb.cc")
    return hdrs, cc_srcs

def _repository_root():
    # Where the repository's files are, relative to the execution root,
    # for protoc's -I and for the outputs: "." in appkit's own workspace,
    # "external/<name>" when another workspace uses it.
    repository = native.repository_name()  # "@" or "@<name>"
    if repository == "@":
        return "."
    return "external/" + repository[1:]

def appkit_proto_library(name, srcs, deps = [], grpc = False, visibility = None, proto_root = "",
                         testonly = False):
    hdrs, cc_srcs = _outs(srcs, grpc)
    root = _repository_root()
    if proto_root:
        root = root + "/" + proto_root
        # Included by their path below proto_root.
        cc_kwargs = {"strip_include_prefix": "/" + proto_root}
    else:
        cc_kwargs = {}
    grpc_flags = ""
    if grpc:
        grpc_flags = ("--grpc_out=$(GENDIR)/%s " % root +
                      "--plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin ")
    native.filegroup(
        name = name + "_srcs",
        srcs = srcs + [dep + "_srcs" for dep in deps],
        visibility = visibility,
        testonly = testonly,
    )
    native.genrule(
        name = name + "_gen",
        srcs = srcs + [dep + "_srcs" for dep in deps],
        outs = hdrs + cc_srcs,
        cmd = ("/usr/bin/protoc -I%s -I/usr/include --cpp_out=$(GENDIR)/%s " % (root, root) +
               grpc_flags +
               " ".join(["$(location %s)" % src for src in srcs])),
        # protoc and the plugin are system binaries outside the sandbox.
        local = True,
        message = "protoc " + " ".join(srcs),
        testonly = testonly,
    )
    pb_hdrs = [h for h in hdrs if not h.endswith(".grpc.pb.h")]
    pb_srcs = [f for f in cc_srcs if not f.endswith(".grpc.pb.cc")]
    appkit_cc_library(
        name = name + "_headers",
        hdrs = hdrs,
        deps = [dep + "_headers" for dep in deps] + [Label("//third_party:protobuf")],
        visibility = visibility,
        testonly = testonly,
        **cc_kwargs
    )
    if not grpc:
        appkit_cc_library(
            name = name,
            srcs = pb_srcs,
            hdrs = pb_hdrs,
            deps = deps + [Label("//third_party:protobuf")],
            visibility = visibility,
        testonly = testonly,
            **cc_kwargs
        )
        native.alias(name = name + "_messages", actual = name, visibility = visibility,
                     testonly = testonly)
        return
    appkit_cc_library(
        name = name + "_messages",
        srcs = pb_srcs,
        hdrs = pb_hdrs,
        deps = [dep + "_messages" for dep in deps] + [Label("//third_party:protobuf")],
        visibility = visibility,
        testonly = testonly,
        **cc_kwargs
    )
    appkit_cc_library(
        name = name + "_grpc_only",
        srcs = [f for f in cc_srcs if f.endswith(".grpc.pb.cc")],
        hdrs = [h for h in hdrs if h.endswith(".grpc.pb.h")],
        deps = [name + "_headers", Label("//third_party:grpc")],
        visibility = visibility,
        testonly = testonly,
        **cc_kwargs
    )
    appkit_cc_library(
        name = name,
        # The service code first on the link line: it uses the messages, and
        # does not depend on them (see _grpc_only), so with static archives
        # the other order leaves its references to them unresolved.
        deps = [name + "_grpc_only", name + "_messages"],
        visibility = visibility,
        testonly = testonly,
    )
