#!/usr/bin/env python3
"""Import cycles between sibling modules at every depth of the library.

    python3 tools/nested_cycles.py [--src src] [--check]

`tools/imports.py` checks the top-level modules against the layers; this
looks inside them. Every file is a module (`src/passes/inputs.rs` is
`passes::inputs`, `src/passes/mod.rs` is `passes`). A path it names
(`crate::a::b::Item`, `super::x`, `self::x`, in `use` items, groups and
inline) is resolved to the deepest module it reaches. An edge from module A
to module B counts between the two siblings under their deepest common
ancestor that contain A and B: `passes::inputs` naming
`passes::sparse_inputs::parse` is an edge inputs -> sparse_inputs inside
`passes`. A module naming its own ancestor or descendant is not an edge (a
parent re-exports its children, a child names its parent's shared items).
Test code is left out, as in `tools/imports.py`.

Prints each cycle (a strongly connected set of siblings) with one place
each edge in it happens; `--check` exits 1 when there is any.
"""

import argparse
import collections
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from fn_lengths import code_only  # noqa: E402
from imports import is_test_code, strongly_connected, without_tests  # noqa: E402

PATH = re.compile(r"\b(crate|super|self)((?:::\w+)+)")
GROUP = re.compile(r"\buse\s+((?:crate|super|self)(?:::\w+)*)::\{")


def module_of(path, src):
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts.pop()
    return tuple(parts)


def group_paths(code, start):
    """The paths inside a `use prefix::{...}` group opening at `start`,
    nested groups flattened, each as a `::`-joined tail."""
    depth, item, items, i = 1, "", [], start
    stack = [""]
    while i < len(code) and depth:
        c = code[i]
        if c == "{":
            stack.append(stack[-1] + item.strip())
            item, depth = "", depth + 1
        elif c in ",}":
            if item.strip():
                items.append(stack[-1] + item.strip())
            item = ""
            if c == "}":
                depth -= 1
                stack.pop()
        else:
            item += c
        i += 1
    return [re.sub(r"\s+", "", p) for p in items]


def named_paths(code):
    """(root, [segments], line) for every crate/super/self path in `code`."""
    for m in PATH.finditer(code):
        line = code.count("\n", 0, m.start()) + 1
        yield m.group(1), m.group(2).strip(":").split("::"), line
    for m in GROUP.finditer(code):
        line = code.count("\n", 0, m.start()) + 1
        root, *head = m.group(1).split("::")
        for tail in group_paths(code, m.end()):
            segments = head + [s for s in tail.split("::") if s and s != "self"]
            yield root, segments, line


def resolve(here, is_dir_module, root, segments, modules):
    """The deepest module a path reaches, or None."""
    if root == "crate":
        base = ()
    else:
        base = here if root == "self" else here[:-1]
        while segments and segments[0] == "super":
            base, segments = base[:-1], segments[1:]
    found = None
    for depth in range(len(segments) + 1):
        candidate = base + tuple(segments[:depth])
        if candidate in modules:
            found = candidate
        elif depth:
            break
    return found


def sibling_edge(a, b):
    """The pair of siblings an edge a -> b counts between, or None."""
    common = 0
    while common < min(len(a), len(b)) and a[common] == b[common]:
        common += 1
    if common == len(a) or common == len(b):
        return None
    return a[: common + 1], b[: common + 1]


def sibling_graph(src):
    files = [p for p in sorted(src.rglob("*.rs")) if not is_test_code(p, src)]
    modules = {module_of(p, src) for p in files}
    edges = collections.defaultdict(lambda: collections.defaultdict(list))
    for path in files:
        here = module_of(path, src)
        code = without_tests(code_only(path.read_text()))
        for root, segments, line in named_paths(code):
            target = resolve(here, path.name == "mod.rs", root, list(segments), modules)
            pair = target and sibling_edge(here, target)
            if pair:
                edges[pair[0]][pair[1]].append(f"{path}:{line}")
    return edges


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--src", default="src")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    edges = sibling_graph(pathlib.Path(args.src))
    nodes = set(edges) | {b for a in edges for b in edges[a]}
    graph = {n: sorted(edges[n]) for n in nodes}
    cycles = [c for c in strongly_connected(graph) if len(c) > 1]
    for cycle in cycles:
        print("cycle: " + " ".join("::".join(m) for m in cycle))
        members = set(cycle)
        for a in cycle:
            for b in graph[a]:
                if b in members:
                    print(f"    {'::'.join(a)} -> {'::'.join(b)}: {edges[a][b][0]}")
    print(f"cycles between sibling modules: {len(cycles)}")
    if args.check and cycles:
        sys.exit(1)


if __name__ == "__main__":
    main()
