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


def code_only(text):
    """The text with string and char literals and comments blanked out, newlines kept: enough to
    count braces, multi-line and raw strings included."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif c == "r" and re.match(r'r(#*)"', text[i:i + 8]) and not (
            i and (text[i - 1].isalnum() or text[i - 1] == "_")
        ):
            hashes = re.match(r'r(#*)"', text[i:i + 8]).group(1)
            start = i + 2 + len(hashes)
            j = text.find('"' + hashes, start)
            j = n if j < 0 else j + 1 + len(hashes)
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
        elif c == "'" and re.match(r"'(\\.[^']*|[^'\\])'", text[i:i + 12]):
            j = text.index("'", i + 2 if text[i + 1] != "\\" else i + 3)
            out.append("''")
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    codes = code_only("\n".join(lines)).split("\n")
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
            code = codes[j]
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
