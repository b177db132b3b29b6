"""appkit_proto_library: C++ (and gRPC) code from .proto files, offline.

Runs the system protoc (Debian's protobuf-compiler) and grpc_cpp_plugin
(protobuf-compiler-grpc) in a genrule; no network, no rules_proto.

    appkit_proto_library(
        name = "guardian_proto",
        srcs = ["guardian.proto"],
        deps = [":process_proto"],   # other appkit_proto_library targets
        grpc = True,                 # also generate .grpc.pb.{h,cc}
    )

Imports are relative to the workspace root ("proto/process.proto");
well-known types (google/protobuf/*.proto) come from /usr/include.

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

def appkit_proto_library(name, srcs, deps = [], grpc = False, visibility = None):
    hdrs, cc_srcs = _outs(srcs, grpc)
    grpc_flags = ""
    if grpc:
        grpc_flags = "--grpc_out=$(GENDIR) --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin "
    native.filegroup(
        name = name + "_srcs",
        srcs = srcs + [dep + "_srcs" for dep in deps],
        visibility = visibility,
    )
    native.genrule(
        name = name + "_gen",
        srcs = srcs + [dep + "_srcs" for dep in deps],
        outs = hdrs + cc_srcs,
        cmd = ("/usr/bin/protoc -I. -I/usr/include --cpp_out=$(GENDIR) " +
               grpc_flags +
               " ".join(["$(location %s)" % src for src in srcs])),
        # protoc and the plugin are system binaries outside the sandbox.
        local = True,
        message = "protoc " + " ".join(srcs),
    )
    pb_hdrs = [h for h in hdrs if not h.endswith(".grpc.pb.h")]
    pb_srcs = [f for f in cc_srcs if not f.endswith(".grpc.pb.cc")]
    native.cc_library(
        name = name + "_headers",
        hdrs = hdrs,
        deps = [dep + "_headers" for dep in deps] + ["//third_party:protobuf"],
        visibility = visibility,
    )
    if not grpc:
        native.cc_library(
            name = name,
            srcs = pb_srcs,
            hdrs = pb_hdrs,
            deps = deps + ["//third_party:protobuf"],
            visibility = visibility,
        )
        native.alias(name = name + "_messages", actual = name, visibility = visibility)
        return
    native.cc_library(
        name = name + "_messages",
        srcs = pb_srcs,
        hdrs = pb_hdrs,
        deps = [dep + "_messages" for dep in deps] + ["//third_party:protobuf"],
        visibility = visibility,
    )
    native.cc_library(
        name = name + "_grpc_only",
        srcs = [f for f in cc_srcs if f.endswith(".grpc.pb.cc")],
        hdrs = [h for h in hdrs if h.endswith(".grpc.pb.h")],
        deps = [name + "_headers", "//third_party:grpc"],
        visibility = visibility,
    )
    native.cc_library(
        name = name,
        deps = [name + "_messages", name + "_grpc_only"],
        visibility = visibility,
    )
