"""appkit_install: an executable that installs files into a prefix.

    appkit_install(
        name = "install",
        bin = {"//client:appkitctl": "appkitctl"},          # -> PREFIX/bin/appkitctl
        lib = {"//guardian": "guardian", ...},               # -> PREFIX/lib/appkit/guardian
    )

`bazel run //:install -- PREFIX` copies each file from the program's
runfiles (a relative PREFIX is taken from where bazel was run,
$BUILD_WORKING_DIRECTORY). Executables get mode 0755, other files 0644.
It prints what it installed, and fails naming the file it could not
install. Works from another workspace too (the runfiles paths are those of
the files' repository).
"""

def _runfiles_path(ctx, file):
    # The file's path below the runfiles root: short_path is relative to
    # the main workspace's directory ("../<repo>/..." for another repository).
    if file.short_path.startswith("../"):
        return file.short_path[3:]
    return ctx.workspace_name + "/" + file.short_path

def _impl(ctx):
    lines = []
    files = []
    for target, dest in ctx.attr.bin.items():
        for file in target.files.to_list():
            lines.append("install_one 0755 %s bin/%s" % (_runfiles_path(ctx, file), dest))
            files.append(file)
    for target, dest in ctx.attr.lib.items():
        for file in target.files.to_list():
            mode = "0644" if file.basename.endswith(".so") else "0755"
            lines.append("install_one %s %s lib/appkit/%s" % (mode, _runfiles_path(ctx, file), dest))
            files.append(file)
    script = ctx.actions.declare_file(ctx.label.name)
    ctx.actions.expand_template(
        template = ctx.file._template,
        output = script,
        substitutions = {"%{INSTALL_LINES}": "\n".join(lines)},
        is_executable = True,
    )
    return [DefaultInfo(
        executable = script,
        runfiles = ctx.runfiles(files = files),
    )]

appkit_install = rule(
    implementation = _impl,
    attrs = {
        "bin": attr.label_keyed_string_dict(allow_files = True),
        "lib": attr.label_keyed_string_dict(allow_files = True),
        "_template": attr.label(
            default = Label("//tools:install.sh.tpl"),
            allow_single_file = True,
        ),
    },
    executable = True,
)
