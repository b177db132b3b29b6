#!/usr/bin/env bash
# check_snippets.sh README NAME=FILE... : the README's code cannot drift
# from files that build.
#
# A fenced code block of README right after a line
#   <!-- same as NAME -->   must be FILE's whole text;
#   <!-- from NAME -->      must appear in FILE verbatim (a part of it).
# Blocks inside list items may be indented: the fence's indentation is
# removed from every line. Each NAME given must be checked by at least one
# marker; markers that name other files are left to another test.
set -euo pipefail
exec /usr/bin/python3 - "$@" <<'PY'
import re, sys

readme_path, pairs = sys.argv[1], sys.argv[2:]
files = dict(pair.split("=", 1) for pair in pairs)
lines = open(readme_path, encoding="utf-8").read().split("\n")
marker = re.compile(r"^\s*<!-- (same as|from) (\S+) -->\s*$")
failures, checked = [], set()
i = 0
while i < len(lines):
    m = marker.match(lines[i])
    if not m:
        i += 1
        continue
    kind, name = m.groups()
    fence = lines[i + 1] if i + 1 < len(lines) else ""
    indent = len(fence) - len(fence.lstrip(" "))
    if not fence.strip().startswith("```"):
        failures.append("%s:%d: marker for %s is not followed by a code block" % (readme_path, i + 1, name))
        i += 1
        continue
    block, j = [], i + 2
    while j < len(lines) and lines[j].strip() != "```":
        block.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
        j += 1
    i = j + 1
    if name not in files:
        continue
    checked.add(name)
    text = "\n".join(block) + "\n"
    actual = open(files[name], encoding="utf-8").read()
    if kind == "same as" and text != actual:
        failures.append("%s: the block after '<!-- same as %s -->' differs from %s" % (readme_path, name, name))
    if kind == "from" and text not in actual:
        failures.append("%s: the block after '<!-- from %s -->' is not in %s" % (readme_path, name, name))
for name in sorted(set(files) - checked):
    failures.append("%s: no block is marked as '%s'" % (readme_path, name))
for failure in failures:
    print("FAIL: " + failure)
if failures:
    sys.exit(1)
print("PASS: %d files match their blocks in %s" % (len(checked), readme_path))
PY
