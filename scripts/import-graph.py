#!/usr/bin/env python3
"""The server crate's import graph, read from its sources: which file uses which.

Prints the cycles (strongly connected components of more than one file) that span more than
one folder, and every import of a higher layer from a lower one (the layers, lowest first:
domain, db, documents, clients, services, adapters, graphql, http, live). Exits 1 when it finds either,
so it can guard a change: `python3 scripts/import-graph.py`.

`crate::a::b` and `super::` paths (in `use` lines, grouped imports one level deep included,
and inline in code) are resolved to the longest module path that is a file.
"""

import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
LAYERS = [
    "domain", "db", "documents", "clients", "services", "adapters", "graphql", "http", "live"
]


def module_of(path):
    rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


def files():
    found = {}
    for folder, _, names in os.walk(ROOT):
        for name in names:
            if name.endswith(".rs") and name != "main.rs":
                path = os.path.join(folder, name)
                found[module_of(path)] = os.path.relpath(path, ROOT)
    return found


PATH = re.compile(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)+)(::\{([^}]*)\})?")


def references(text):
    text = re.sub(r"//[^\n]*", "", text)
    for m in PATH.finditer(text):
        base = m.group(2).split("::")[1:]
        group = m.group(4)
        if group:
            for item in group.split(","):
                item = item.strip().split(" as ")[0].strip()
                if item and item != "self":
                    yield m.group(1), base + item.split("::")
                elif item == "self":
                    yield m.group(1), base
        else:
            yield m.group(1), base
    for m in re.finditer(r"\b(crate|super)::\{([^}]*)\}", text):
        for item in m.group(2).split(","):
            item = item.strip().split(" as ")[0].strip()
            if item:
                yield m.group(1), item.split("::")


def resolve(module, kind, parts, known):
    if kind == "crate":
        start = ()
    else:
        start = module[:-1]
        while parts and parts[0] == "super":
            start = start[:-1]
            parts = parts[1:]
    full = start + tuple(parts)
    for n in range(len(full), 0, -1):
        if full[:n] in known:
            return full[:n]
    return None


def scc(graph):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def layer(module):
    return module[0] if module and module[0] in LAYERS else None


def main():
    known = files()
    graph = {m: set() for m in known}
    for module, rel in known.items():
        with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
            text = f.read()
        for kind, parts in references(text):
            target = resolve(module, kind, parts, known)
            if target and target != module and not (module[:len(target)] == target):
                graph[module].add(target)
    problems = 0
    for comp in scc(graph):
        if len(comp) > 1 and len({c[:-1] if len(c) > 1 else () for c in comp}) > 1:
            problems += 1
            print("cycle across folders:", ", ".join(sorted(known[c] for c in comp)))
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            a, b = layer(module), layer(target)
            if a and b and LAYERS.index(b) > LAYERS.index(a):
                problems += 1
                print(f"upward import: {known[module]} -> {known[target]}")
    if problems:
        sys.exit(1)
    print(f"{len(known)} files: no cycle across folders, no upward import")


main()
