"""Link options that bind gRPC, protobuf, abseil and libelf statically
(STATIC_GRPC_LINKOPTS), and the C++ runtime too (STATIC_RUNTIME_LINKOPTS).

For binaries that never load user modules (the guardian): a static copy
cannot clash with a module's, and it saves the dynamic loading of ~75
shared libraries at every exec (15 ms here) and their pages in RSS.
These options come before the -l flags of the //third_party targets on
the link line, so the archives resolve every symbol and --as-needed drops
the shared libraries. Never use this for a binary that dlopens modules
(executor, worker): modules must bind to one shared copy of protobuf.

gRPC is Debian's unsecure build (libgrpc_unsecure, libgrpc++_unsecure):
these binaries speak only over Unix sockets and plaintext TCP (the
health_listen probes), never TLS, and the secure build brings in OpenSSL,
whose tables were 360 KB of the guardian's 560 KB of relocated data (about
90 of the 140 pages ld.so writes at every exec) besides its start-up CPU
probing: 3.5 ms less per guardian exec here (bench/README.md).
static_runtime_test.sh checks that no OpenSSL comes back.
"""

STATIC_GRPC_LINKOPTS = [
    "-Wl,--as-needed",
    "-Wl,--start-group",
    "-l:libgrpc++_reflection.a",
    "-l:libgrpc++_unsecure.a",
    "-l:libgrpc_unsecure.a",
    "-l:libaddress_sorting.a",
    "-l:libre2.a",
    "-l:libupb.a",
    "-l:libcares.a",
    "-l:libgpr.a",
    "-l:libprotobuf.a",
    "-l:libelf.a",
    "-l:libz.a",
    "-l:libabsl_throw_delegate.a",
    "-l:libabsl_raw_logging_internal.a",
    "-l:libabsl_raw_hash_set.a",
    "-l:libabsl_hashtablez_sampler.a",
    "-l:libabsl_hash.a",
    "-l:libabsl_city.a",
    "-l:libabsl_low_level_hash.a",
    "-l:libabsl_random_distributions.a",
    "-l:libabsl_random_seed_sequences.a",
    "-l:libabsl_random_internal_pool_urbg.a",
    "-l:libabsl_random_internal_randen.a",
    "-l:libabsl_random_internal_randen_hwaes.a",
    "-l:libabsl_random_internal_randen_hwaes_impl.a",
    "-l:libabsl_random_internal_randen_slow.a",
    "-l:libabsl_random_internal_platform.a",
    "-l:libabsl_random_internal_seed_material.a",
    "-l:libabsl_random_seed_gen_exception.a",
    "-l:libabsl_statusor.a",
    "-l:libabsl_status.a",
    "-l:libabsl_cord.a",
    "-l:libabsl_cordz_info.a",
    "-l:libabsl_cord_internal.a",
    "-l:libabsl_cordz_functions.a",
    "-l:libabsl_exponential_biased.a",
    "-l:libabsl_cordz_handle.a",
    "-l:libabsl_bad_optional_access.a",
    "-l:libabsl_strerror.a",
    "-l:libabsl_str_format_internal.a",
    "-l:libabsl_synchronization.a",
    "-l:libabsl_graphcycles_internal.a",
    "-l:libabsl_stacktrace.a",
    "-l:libabsl_symbolize.a",
    "-l:libabsl_debugging_internal.a",
    "-l:libabsl_demangle_internal.a",
    "-l:libabsl_malloc_internal.a",
    "-l:libabsl_time.a",
    "-l:libabsl_civil_time.a",
    "-l:libabsl_strings.a",
    "-l:libabsl_strings_internal.a",
    "-l:libabsl_base.a",
    "-l:libabsl_spinlock_wait.a",
    "-l:libabsl_int128.a",
    "-l:libabsl_time_zone.a",
    "-l:libabsl_bad_variant_access.a",
    "-l:libabsl_log_severity.a",
    "-Wl,--end-group",
    "-ldl",
    "-lrt",
    "-latomic",
    "-pthread",
]

# STATIC_GRPC_LINKOPTS, plus the C++ runtime (libstdc++, libgcc) linked in,
# for a binary that loads no modules and also depends on
# //third_party:spdlog_static (spdlog and fmt compiled in): its process then
# maps no shared library but glibc's (libc, libm), which saves the dynamic
# loader's symbol lookups and relocations of libstdc++.so, libgcc_s,
# libspdlog.so and libfmt.so at every exec (about 2 ms of CPU per start of
# appkitctl or the guardian here: bench/README.md).
#
# libstdc++.a comes after the gRPC group, so every archive that calls it is
# already on the line; the toolchain's own -lstdc++ at the end then finds
# nothing left to resolve and --as-needed drops libstdc++.so. If a shared
# library that needs libstdc++.so stays needed (spdlog without
# :spdlog_static, say), the process would hold two copies of the C++
# runtime: third_party/static_runtime_test.sh fails on that. Never for a
# binary that loads modules (executor, worker, fork servers): a module
# must share the host's one libstdc++.so.
STATIC_RUNTIME_LINKOPTS = STATIC_GRPC_LINKOPTS + [
    "-l:libstdc++.a",
    "-static-libgcc",
]

# For a position-independent executable that starts often and carries many
# pointers (the guardian: ~42,000 relative relocations, 1 MB of .rela.dyn):
# its relative relocations packed as DT_RELR (glibc >= 2.36, binutils >=
# 2.38; gold cannot, so the BFD linker, which needs Bazel's start-lib
# feature off). ld.so then reads 10 KB instead of 1 MB and the exec takes
# ~40 fewer page faults: 1.3-1.5 ms less per exec here (bench/README.md).
# ASLR is unchanged (the binary stays PIE). Use both lists together:
#   linkopts = PACKED_RELOCATIONS_LINKOPTS + ..., features = PACKED_RELOCATIONS_FEATURES
PACKED_RELOCATIONS_LINKOPTS = [
    "-fuse-ld=bfd",
    "-Wl,-z,pack-relative-relocs",
]

PACKED_RELOCATIONS_FEATURES = ["-supports_start_end_lib"]
