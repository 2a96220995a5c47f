#!/usr/bin/env python3
"""Which top-level modules of the library name which others, and the cycles.

Every `crate::X` path (in `use` items and inline) counts, and `super::X`
from a file directly under `src/`'s subfolders resolves the same way.
Test code is left out: tests may reach anywhere. That is `#[cfg(test)]`
modules, files named `tests.rs` and files under a `tests/` folder.

    python3 tools/imports.py [--all]
    python3 tools/imports.py --check tools/layers.txt
    python3 tools/imports.py --write-debt tools/layers.txt

Without a flag, prints each module's dependencies (`--all` also lists who
names whom with the file and line), then every pair of modules that name
each other and every larger cycle (strongly connected component).

The layers file puts every module in one layer, lowest first; the order is
the architecture's (format, core, front, passes, back, export, tools, cli).
A module may name modules of its own layer or of lower ones. Its `[debt]`
section lists the imports that go up a layer (`from -> to`) and the cycles
(`cycle: a b c`) that the code has today, to be removed by a redesign.

`--check` fails (exit 1, one problem a line) when a module is in no layer or
in two, an import goes up a layer or a cycle exists without a `[debt]` line,
or a `[debt]` line no longer happens: the list may only shrink, and whoever
removes an upward import or a cycle deletes its line. CI runs it.

`--write-debt` rewrites the `[debt]` section from today's code, keeping
everything above it; the diff shows any debt it adds.
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


def is_test_code(path, src):
    """Whether `path` holds only tests, which may reach anywhere: an
    out-of-line `mod tests;` or a file under a `tests/` folder."""
    relative = path.relative_to(src)
    return relative.name == "tests.rs" or "tests" in relative.parts[:-1]


def module_edges(src):
    """The top-level modules of `src` and, for each, the modules it names with
    every place (`file:line`) it names them."""
    files = [p for p in sorted(src.rglob("*.rs")) if not is_test_code(p, src)]
    modules = {top_module(p, src) for p in files} - {"lib", "main"}
    edges = collections.defaultdict(lambda: collections.defaultdict(list))
    for path in files:
        here = top_module(path, src)
        code = without_tests(code_only(path.read_text()))
        for target, line in references(code):
            if target in modules and target != here:
                edges[here][target].append(f"{path}:{line}")
    return modules, edges


def cycles_of(graph):
    """Strongly connected sets of more than one module, each sorted."""
    return [c for c in strongly_connected(graph) if len(c) > 1]


def print_graph(graph, edges, show_all):
    """The report without flags: dependencies, mutual pairs and cycles."""
    for module, targets in graph.items():
        print(f"{module} -> {', '.join(targets) or '(nothing)'}")
        if show_all:
            for target in targets:
                print(f"    {target}: {' '.join(edges[module][target])}")
    pairs = [(a, b) for a in graph for b in graph[a] if a < b and a in graph.get(b, [])]
    print(f"\nmutual pairs: {len(pairs)}")
    for a, b in pairs:
        print(f"  {a} <-> {b}: {' '.join(edges[a][b])} | {' '.join(edges[b][a])}")
    cycles = cycles_of(graph)
    print(f"cycles (strongly connected sets of modules): {len(cycles)}")
    for component in cycles:
        print(f"  {' '.join(component)}")


def read_layers(text):
    """(layers, debt imports, debt cycles, problems) from a layers file.

    Layers are (name, modules) lowest first; debt imports map `(from, to)`
    and debt cycles map a sorted tuple of modules, each to its line number,
    so a stale entry can be pointed at. Lines that fit no section are
    problems rather than ignored, so a typo cannot hide an entry."""
    layers, debt_imports, debt_cycles, problems = [], {}, {}, []
    section = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        heading = re.fullmatch(r"\[(\w+)\]", line)
        layer = re.fullmatch(r"(\w+)\s*:\s*(.*)", line)
        imported = re.fullmatch(r"(\w+)\s*->\s*(\w+)", line)
        if heading and heading.group(1) in ("layers", "debt"):
            section = heading.group(1)
        elif section == "layers" and layer:
            layers.append((layer.group(1), layer.group(2).split()))
        elif section == "debt" and imported:
            listed(debt_imports, imported.groups(), number, problems)
        elif section == "debt" and layer and layer.group(1) == "cycle":
            listed(debt_cycles, tuple(sorted(layer.group(2).split())), number, problems)
        else:
            problems.append(f"line {number}: not understood: {raw.strip()}")
    return layers, debt_imports, debt_cycles, problems


def listed(entries, key, number, problems):
    """Records a debt entry; a second line for the same entry is a problem,
    since deleting one copy would leave the debt still listed."""
    if key in entries:
        problems.append(f"line {number}: listed twice (also line {entries[key]})")
    entries.setdefault(key, number)


def layer_ranks(layers, modules):
    """Each module's layer index (0 lowest), and problems: a module in no
    layer or in two, and a layer naming something that is not a module."""
    ranks, problems = {}, []
    for rank, (name, members) in enumerate(layers):
        for module in members:
            if module not in modules:
                problems.append(f"layer {name} names {module}, which is not a module of src")
            elif module in ranks:
                problems.append(
                    f"module {module} is in two layers: {layers[ranks[module]][0]} and {name}"
                )
            else:
                ranks[module] = rank
    for module in sorted(modules - set(ranks)):
        problems.append(f"module {module} is in no layer")
    return ranks, problems


def upward_imports(graph, ranks):
    """Imports from a module to one in a higher layer, as (from, to)."""
    return [
        (a, b)
        for a in graph
        for b in graph[a]
        if a in ranks and b in ranks and ranks[b] > ranks[a]
    ]


def check(path, graph, edges, modules):
    """Problems with the layering today, compared with `path`'s debt: new
    upward imports and cycles, and debt lines that no longer happen."""
    layers, debt_imports, debt_cycles, problems = read_layers(path.read_text())
    ranks, layer_problems = layer_ranks(layers, modules)
    problems += layer_problems
    upward = upward_imports(graph, ranks)
    cycles = [tuple(c) for c in cycles_of(graph)]
    for a, b in upward:
        if (a, b) not in debt_imports:
            problems.append(
                f"upward import {a} -> {b} ({layers[ranks[a]][0]} -> "
                f"{layers[ranks[b]][0]}) at {edges[a][b][0]} is not listed under [debt]"
            )
    for cycle in cycles:
        if cycle not in debt_cycles:
            problems.append(f"cycle {' '.join(cycle)} is not listed under [debt]")
    for (a, b), number in debt_imports.items():
        if (a, b) not in upward:
            problems.append(
                f"line {number}: {a} -> {b} is no longer an upward import: delete the line"
            )
    for cycle, number in debt_cycles.items():
        if cycle not in cycles:
            problems.append(
                f"line {number}: cycle {' '.join(cycle)} no longer happens as listed: "
                f"delete the line (and list the cycle that is left, if any)"
            )
    return layers, upward, cycles, problems


def debt_section(graph, edges, layers, modules):
    """Today's `[debt]` section: each upward import with one place it
    happens, then each cycle. Fails on layer problems, since without a layer
    for every module the upward imports are not known."""
    ranks, problems = layer_ranks(layers, modules)
    if problems:
        raise SystemExit("\n".join(problems))
    upward = upward_imports(graph, ranks)
    width = max((len(f"{a} -> {b}") for a, b in upward), default=0)
    lines = [
        "[debt]",
        "# Generated by `python3 tools/imports.py --write-debt tools/layers.txt`.",
        "# Only delete lines: --check fails on a line that no longer happens.",
    ]
    lines += [f"{f'{a} -> {b}':<{width}}  # {edges[a][b][0]}" for a, b in upward]
    lines += [f"cycle: {' '.join(c)}" for c in cycles_of(graph)]
    return "\n".join(lines) + "\n"


def write_debt(path, graph, edges, modules):
    """Replaces everything from the `[debt]` heading on (or appends the
    section) with today's debt, keeping the layers and comments above it."""
    kept = path.read_text().splitlines(keepends=True)
    heading = [i for i, line in enumerate(kept) if line.split("#", 1)[0].strip() == "[debt]"]
    above = "".join(kept[: heading[0]] if heading else kept)
    if above and not above.endswith("\n"):
        above += "\n"
    layers, _, _, problems = read_layers(above)
    if problems:
        raise SystemExit("\n".join(problems))
    path.write_text(above + debt_section(graph, edges, layers, modules))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--src", default="src")
    parser.add_argument("--all", action="store_true")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", metavar="FILE", type=pathlib.Path)
    mode.add_argument("--write-debt", metavar="FILE", type=pathlib.Path)
    args = parser.parse_args()
    modules, edges = module_edges(pathlib.Path(args.src))
    graph = {m: sorted(edges[m]) for m in sorted(modules)}
    if args.write_debt:
        write_debt(args.write_debt, graph, edges, modules)
    elif args.check:
        layers, upward, cycles, problems = check(args.check, graph, edges, modules)
        for problem in problems:
            print(problem)
        if problems:
            plural = "s" * (len(problems) != 1)
            raise SystemExit(f"{args.check}: {len(problems)} problem{plural} with the layering")
        print(
            f"layers: {len(layers)}, upward imports: {len(upward)} (all listed as debt), "
            f"cycles: {len(cycles)} (all listed as debt)"
        )
    else:
        print_graph(graph, edges, args.all)


if __name__ == "__main__":
    main()
