#!/usr/bin/env python3
"""Function lengths in the library and the CLI, for keeping functions short.

A function's length is its lines from the line holding `fn` to the line
holding its closing brace, both counted. `#[cfg(test)]` modules are left out,
as are trait method declarations without a body.

    python3 tools/fn_lengths.py [--over N] [--fail] [ROOT ...]

ROOT defaults to `src`. Prints the count, median, 90th percentile and maximum,
then every function longer than N lines (default 40), longest first;
`--fail` exits 1 when there is one (CI runs it with `--over 60`).
"""

import argparse
import pathlib
import re
import statistics

FN = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)")
CFG_TEST = re.compile(r"#\[cfg\(test\)\]")


def code_only(text):
    """`text` with comments, strings and char literals blanked out (newlines
    kept), so braces and keywords inside them are not counted."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(blank(text[i:j]))
            i = j
        elif raw := re.match(r'b?r(#*)"', text[i:]):
            closing = '"' + raw.group(1)
            end = text.find(closing, i + raw.end())
            end = n if end < 0 else end + len(closing)
            out.append(blank(text[i:end]))
            i = end
        elif c == '"' or text.startswith('b"', i):
            j = i + (2 if c == "b" else 1)
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(blank(text[i : j + 1]))
            i = j + 1
        elif char := re.match(r"b?'(\\.[^']*|[^\\'])'", text[i:]):
            out.append(blank(char.group(0)))
            i += char.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


def blank(s):
    return re.sub(r"[^\n]", " ", s)


def matching_brace(code, open_at):
    depth = 0
    for j in range(open_at, len(code)):
        if code[j] == "{":
            depth += 1
        elif code[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(code) - 1


def test_module_spans(code):
    """Character ranges of `#[cfg(test)] mod x { ... }` blocks."""
    spans = []
    for m in CFG_TEST.finditer(code):
        item = re.compile(r"\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{").match(code, m.end())
        if item:
            open_at = item.end() - 1
            spans.append((m.start(), matching_brace(code, open_at)))
    return spans


def functions(path):
    code = code_only(path.read_text())
    skipped = test_module_spans(code)
    for m in FN.finditer(code):
        if any(a <= m.start() <= b for a, b in skipped):
            continue
        body = re.compile(r"[{;]").search(code, m.end())
        # Skip to the body's brace past generics, where clauses and return
        # types; a `;` first means a declaration without a body.
        if not body or code[body.start()] == ";":
            continue
        end = matching_brace(code, body.start())
        first = code.count("\n", 0, m.start()) + 1
        last = code.count("\n", 0, end) + 1
        yield f"{path}:{first} {m.group(1)}", last - first + 1


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("roots", nargs="*", default=["src"])
    parser.add_argument("--over", type=int, default=40)
    parser.add_argument(
        "--fail", action="store_true", help="exit 1 when any function is longer than --over"
    )
    args = parser.parse_args()
    found = []
    for root in args.roots:
        root = pathlib.Path(root)
        files = [root] if root.is_file() else sorted(root.rglob("*.rs"))
        for path in files:
            found.extend(functions(path))
    lengths = sorted(length for _, length in found)
    if not lengths:
        print("no functions found")
        return
    p90 = lengths[min(len(lengths) - 1, int(0.9 * len(lengths)))]
    print(
        f"functions {len(lengths)}  median {statistics.median(lengths)}  "
        f"p90 {p90}  max {lengths[-1]}"
    )
    long = sorted((f for f in found if f[1] > args.over), key=lambda f: -f[1])
    print(f"over {args.over} lines: {len(long)}")
    for where, length in long:
        print(f"{length:5}  {where}")
    if args.fail and long:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
