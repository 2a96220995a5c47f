#!/usr/bin/env python3
"""Are the exports of this checkout byte for byte those of another revision?

    python3 tools/export_identity.py [--base REV] [--keep DIR]

Builds the `servegraph` binary of REV (default: HEAD) in a git worktree and
that of the working tree, exports every fixture under testdata/fixtures
(with the tensors its fixture.json names) and testdata/tf2 with each option
set below, by both binaries, and compares every file of the two exports
(saved_model.pb, variables/, assets/, everything else) byte for byte. Each
export is first made twice by the working tree's binary, so that a
difference cannot be an export that is not deterministic. Prints one line per
fixture and option set, then a summary; exits 1 when any export differs or
fails on one side only.

For a change that must not change what servegraph writes (a refactoring):
run it against the revision before the change. Needs git and cargo; takes a
few minutes (two debug builds, about 300 exports each).
"""
import argparse
import filecmp
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parent.parent

# The option sets of the TF1 route: what tests/interop/options_matrix.rs and
# the serving rewrites exercise.
TF1_OPTIONS = [
    [],
    ["--weights", "f16", "--weights-min-size", "0"],
    ["--weights", "int8", "--weights-min-size", "0"],
    ["--narrow-int64", "--weights-min-size", "0"],
    ["--freeze"],
    ["--freeze", "--weights", "f16", "--weights-min-size", "0"],
    ["--variant", "gpu"],
    ["--examples"],
    ["--max-vocab", "10"],
]
# The lean TF2 route (no --input/--output).
TF2_OPTIONS = [
    [],
    ["--weights", "f16", "--weights-min-size", "0"],
]


def build(checkout, target_dir):
    """Builds the CLI of `checkout` into `target_dir`; returns the binary's path."""
    subprocess.run(["cargo", "build", "--quiet", "--bin", "servegraph"], cwd=checkout, check=True,
                   env=dict(os.environ, CARGO_TARGET_DIR=str(target_dir)))
    return pathlib.Path(target_dir) / "debug" / "servegraph"


def cases():
    """(name, source directory, tensor flags, option sets) for every fixture."""
    for fixture_json in sorted((REPO / "testdata" / "fixtures").glob("*/fixture.json")):
        spec = json.loads(fixture_json.read_text())
        flags = []
        for flag, field in (("--input", "inputs"), ("--output", "outputs")):
            for key, tensor in spec[field].items():
                flags += [flag, f"{key}={tensor['tensor']}"]
        yield fixture_json.parent.name, fixture_json.parent, flags, TF1_OPTIONS
    for fixture_json in sorted((REPO / "testdata" / "tf2").glob("*/fixture.json")):
        spec = json.loads(fixture_json.read_text())
        if spec.get("format") != "tf2-saved-model":
            continue
        yield "tf2/" + fixture_json.parent.name, fixture_json.parent / spec["saved_model"], [], TF2_OPTIONS


def export(binary, source, out, flags):
    """Exit code and stderr of one export into `out`."""
    run = subprocess.run([str(binary), "export", str(source), str(out), *flags, "-q"],
                         capture_output=True, text=True)
    return run.returncode, run.stderr.strip()


def differences(a, b):
    """Relative paths that differ between directories `a` and `b` (missing on one side included)."""
    files = lambda root: {p.relative_to(root) for p in root.rglob("*") if p.is_file()}
    left, right = files(a), files(b)
    odd = sorted(str(p) + (" (only in base)" if p in left else " (only here)") for p in left ^ right)
    return odd + sorted(str(p) for p in left & right if not filecmp.cmp(a / p, b / p, shallow=False))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD", help="the revision to compare with (default HEAD)")
    parser.add_argument("--keep", help="write the exports under this directory and keep them")
    args = parser.parse_args()
    scratch = pathlib.Path(args.keep or tempfile.mkdtemp(prefix="export-identity-"))
    scratch.mkdir(parents=True, exist_ok=True)
    worktree = scratch / "base-checkout"
    subprocess.run(["git", "worktree", "add", "--detach", "--force", str(worktree), args.base],
                   cwd=REPO, check=True, capture_output=True)
    try:
        base = build(worktree, REPO / "target" / "identity-base")
        here = build(REPO, REPO / "target")
        return compare(base, here, scratch)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=REPO, capture_output=True)
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


def compare(base, here, scratch):
    same = differ = failed = 0
    for name, source, tensors, option_sets in cases():
        for number, options in enumerate(option_sets):
            flags = tensors + options
            outs = {side: scratch / side / name / str(number) for side in ("base", "here", "again")}
            results = {side: export(binary, source, outs[side], flags)
                       for side, binary in (("base", base), ("here", here), ("again", here))}
            label = f"{name} {' '.join(options) or '(no options)'}"
            codes = {side: code for side, (code, _) in results.items()}
            if len(set(codes.values())) > 1:
                failed += 1
                print(f"DIFFERS {label}: exit codes {codes}: {results['here'][1] or results['base'][1]}")
                continue
            if codes["here"] != 0:
                same += 1
                print(f"same    {label} (refused by both: {results['here'][1].splitlines()[0]})")
                continue
            unstable = differences(outs["here"], outs["again"])
            if unstable:
                failed += 1
                print(f"UNSTABLE {label}: two exports by this checkout differ in {unstable}")
                continue
            changed = differences(outs["base"], outs["here"])
            if changed:
                differ += 1
                print(f"DIFFERS {label}: {', '.join(changed)}")
            else:
                same += 1
                print(f"same    {label}")
    print(f"\nexports: {same} identical, {differ} different, {failed} failed or unstable")
    return 0 if differ == failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
