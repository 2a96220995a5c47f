#!/usr/bin/env python3
"""Which top-level modules of the library name which others, and the cycles.

Every `crate::X` path (in `use` items and inline) counts, and `super::X`
from a file directly under `src/`'s subfolders resolves the same way.
`#[cfg(test)]` modules are left out: tests may reach anywhere.

    python3 tools/imports.py [--all]

Prints each module's dependencies (`--all` also lists who names whom with
the file and line), then every pair of modules that name each other and
every larger cycle (strongly connected component).
"""

import argparse
import collections
import pathlib
import re

from fn_lengths import code_only, test_module_spans

CRATE_PATH = re.compile(r"\bcrate::(\w+)")
USE_GROUP = re.compile(r"\buse\s+crate::\{([^;]*)\};")


def without_tests(code):
    for start, end in reversed(test_module_spans(code)):
        code = code[:start] + blank(code[start : end + 1]) + code[end + 1 :]
    return code


def blank(s):
    return re.sub(r"[^\n]", " ", s)


def top_module(path, src):
    relative = path.relative_to(src)
    if relative.parts[0] == "bin":
        return "bin"
    return relative.parts[0].removesuffix(".rs")


def references(code):
    """(module, line) for every top-level module `code` names through `crate`."""
    for m in CRATE_PATH.finditer(code):
        yield m.group(1), code.count("\n", 0, m.start()) + 1
    for m in USE_GROUP.finditer(code):
        line = code.count("\n", 0, m.start()) + 1
        depth = 0
        item = ""
        for c in m.group(1) + ",":
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            if c == "," and depth == 0:
                name = re.match(r"\s*(\w+)", item)
                if name and name.group(1) != "self":
                    yield name.group(1), line
                item = ""
            else:
                item += c


def strongly_connected(graph):
    index, low, on_stack, stack, out = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--src", default="src")
    parser.add_argument("--all", action="store_true")
    args = parser.parse_args()
    src = pathlib.Path(args.src)
    modules = {top_module(p, src) for p in src.rglob("*.rs")} - {"lib", "main"}
    edges = collections.defaultdict(lambda: collections.defaultdict(list))
    for path in sorted(src.rglob("*.rs")):
        here = top_module(path, src)
        code = without_tests(code_only(path.read_text()))
        for target, line in references(code):
            if target in modules and target != here:
                edges[here][target].append(f"{path}:{line}")
    graph = {m: sorted(edges[m]) for m in sorted(modules)}
    for module, targets in graph.items():
        print(f"{module} -> {', '.join(targets) or '(nothing)'}")
        if args.all:
            for target in targets:
                print(f"    {target}: {' '.join(edges[module][target])}")
    pairs = [(a, b) for a in graph for b in graph[a] if a < b and a in graph.get(b, [])]
    print(f"\nmutual pairs: {len(pairs)}")
    for a, b in pairs:
        print(f"  {a} <-> {b}: {' '.join(edges[a][b])} | {' '.join(edges[b][a])}")
    cycles = [c for c in strongly_connected(graph) if len(c) > 1]
    print(f"cycles (strongly connected sets of modules): {len(cycles)}")
    for component in cycles:
        print(f"  {' '.join(component)}")


if __name__ == "__main__":
    main()
