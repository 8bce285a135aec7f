#!/usr/bin/env python3
"""Functions of the workspace's sources longer than a limit (80 lines by default), outside tests.

A long function usually holds two steps; one that stays long says why in a comment whose
first line starts with `// Long:` within the three lines above its `fn` line, and is not listed.
Exits 1 when it lists any: `python3 scripts/long-functions.py [LIMIT]`.
"""

import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FOLDERS = ["src", "actors/src", "model/src", "vocab/src", "tools"]
FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")


def strip(line):
    """The line without string literals and comments (roughly: enough to count braces)."""
    line = re.sub(r'r#"[^"]*"#', '""', line)
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(\\.|[^'\\])'", "''", line)
    return line.split("//")[0]


def functions(path):
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    in_tests_from = None
    for i, line in enumerate(lines):
        if line.strip() == "#[cfg(test)]":
            in_tests_from = i
            break
    i = 0
    while i < len(lines):
        if in_tests_from is not None and i >= in_tests_from:
            return
        m = FN.match(lines[i])
        if not m:
            i += 1
            continue
        depth, started, j = 0, False, i
        while j < len(lines):
            code = strip(lines[j])
            if not started and ";" in code and "{" not in code:
                break
            depth += code.count("{") - code.count("}")
            if "{" in code:
                started = True
            if started and depth <= 0:
                break
            j += 1
        length = j - i + 1
        reasoned = any(l.strip().startswith("// Long:") for l in lines[max(0, i - 3):i])
        if started:
            yield m.group(6), i + 1, length, reasoned
        i += 1


def main():
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else 80
    found = 0
    for folder in FOLDERS:
        for base, _, names in os.walk(os.path.join(ROOT, folder)):
            if "/tests" in base.replace(os.sep, "/") or "target" in base:
                continue
            for name in sorted(names):
                if not name.endswith(".rs") or name == "tests.rs":
                    continue
                path = os.path.join(base, name)
                for fn, line, length, reasoned in functions(path):
                    if length > limit and not reasoned:
                        found += 1
                        rel = os.path.relpath(path, ROOT)
                        print(f"{rel}:{line}: {fn} is {length} lines")
    if found:
        sys.exit(1)
    print(f"no function over {limit} lines outside tests")


main()
