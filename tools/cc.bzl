"""C++ rules for appkit's own targets: the native ones, compiled as C++17.

Bazel 4's auto-configured toolchain compiles with -std=c++0x, and a
workspace that uses appkit has no reason to carry appkit's .bazelrc, so
appkit's targets set their own standard (SPEC §11): every BUILD file of
appkit uses these instead of cc_library / cc_binary / cc_test.

    load("//tools:cc.bzl", "appkit_cc_binary", "appkit_cc_library", "appkit_cc_test")

appkit_cc_test also fills in what every appkit test repeats: size
"medium" (Bazel's default, said once here), and GoogleTest with its main
(gtest_main = False for a test with its own main).
"""

# Appended to each target's own copts, so that it follows the toolchain's
# -std=c++0x on the command line (the last -std wins).
APPKIT_COPTS = ["-std=c++17"]

def appkit_cc_library(name, copts = [], **kwargs):
    native.cc_library(name = name, copts = APPKIT_COPTS + copts, **kwargs)

def appkit_cc_binary(name, copts = [], **kwargs):
    native.cc_binary(name = name, copts = APPKIT_COPTS + copts, **kwargs)

def appkit_cc_test(name, copts = [], deps = [], size = "medium", gtest_main = True, **kwargs):
    # (A test that still lists gtest_main itself keeps just that one.)
    if gtest_main and not [d for d in deps if str(d).endswith("third_party:gtest_main")]:
        deps = deps + [Label("//third_party:gtest_main")]
    native.cc_test(
        name = name,
        copts = APPKIT_COPTS + copts,
        deps = deps,
        size = size,
        **kwargs
    )

# The stanza every integration test of appkit repeats: a test that starts
# real daemons through //client:appkit (which carries the guardian,
# executor, worker and control-plane plugin as data), with the test module
# to run and the temp-dir and process helpers of //testing. The test lists
# only what it needs beyond those.
def appkit_daemon_test(name, deps = [], data = [], **kwargs):
    appkit_cc_test(
        name = name,
        deps = [
            Label("//client:appkit"),
            Label("//testing:process_helpers"),
            Label("//testing:temp_dir"),
        ] + deps,
        data = [Label("//testing:test_module")] + data,
        **kwargs
    )
