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

Two C++ targets come out:
  name            the generated code, to link into binaries and libraries;
  name + "_headers"  the generated headers only, for dlopen'ed modules,
                  which must not carry a second copy of the generated code
                  (see client/README.md: one copy per process).
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
    base_deps = ["//third_party:protobuf"]
    if grpc:
        base_deps.append("//third_party:grpc")
    native.cc_library(
        name = name,
        srcs = cc_srcs,
        hdrs = hdrs,
        deps = deps + base_deps,
        visibility = visibility,
    )
    native.cc_library(
        name = name + "_headers",
        hdrs = hdrs,
        deps = [dep + "_headers" for dep in deps] + base_deps,
        visibility = visibility,
    )
