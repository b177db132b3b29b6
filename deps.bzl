"""appkit_dependencies(): what a WORKSPACE that uses appkit needs (SPEC §11).

    local_repository(name = "appkit", path = "...")   # any name, any repository rule
    load("@appkit//:deps.bzl", "appkit_dependencies")
    appkit_dependencies()

The build is offline: every library is a Debian package (installed by
appkit's ./bazelw). Bazel 4 would download rules_cc, rules_java, platforms
and, for `bazel test`, remote_coverage_tools; this defines local stand-ins
for those that the WORKSPACE has not defined already (a definition made
before the call wins):
  rules_cc, remote_coverage_tools  appkit's third_party/ (found through
                                   Label, whatever appkit's repository is
                                   named);
  rules_java, platforms            Debian's bazel-rules-java and
                                   bazel-platforms (/usr/share/bazel).
"""

def _stand_in_impl(rctx):
    # The stand-in's files are symlinked from appkit's own tree.
    for label in rctx.attr.files:
        path = rctx.path(label)
        rel = label.package[len(rctx.attr.prefix):].lstrip("/")
        rctx.symlink(path, (rel + "/" if rel else "") + label.name)
    rctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % rctx.name)

_stand_in = repository_rule(
    implementation = _stand_in_impl,
    attrs = {
        "files": attr.label_list(allow_files = True),
        "prefix": attr.string(),
    },
    local = True,
)

def appkit_dependencies():
    """Defines the offline stand-ins Bazel 4 would otherwise download."""
    if not native.existing_rule("rules_cc"):
        _stand_in(
            name = "rules_cc",
            prefix = "third_party/rules_cc",
            files = [
                Label("//third_party/rules_cc:BUILD"),
                Label("//third_party/rules_cc/cc:BUILD"),
                Label("//third_party/rules_cc/cc:defs.bzl"),
            ],
        )
    if not native.existing_rule("remote_coverage_tools"):
        _stand_in(
            name = "remote_coverage_tools",
            prefix = "third_party/remote_coverage_tools",
            files = [
                Label("//third_party/remote_coverage_tools:BUILD"),
                Label("//third_party/remote_coverage_tools:unsupported.sh"),
            ],
        )
    if not native.existing_rule("rules_java"):
        native.local_repository(name = "rules_java", path = "/usr/share/bazel/rules/java")
    if not native.existing_rule("platforms"):
        native.local_repository(name = "platforms", path = "/usr/share/bazel/platforms")
