#!/usr/bin/env python3
"""Before/after comparison of two servegraph binaries on the same inputs.

    bench/compare.py BEFORE_BIN AFTER_BIN [--data BENCH_DATA_DIR] [--runs N]

Every fixture under testdata/fixtures (its fixture.json names the checkpoint
prefix and the --input/--output tensors) and, with --data, every generated
benchmark input there (bench.json, see bench/generate.py) is exported by both
binaries, N runs each, the two binaries taking turns run by run so a change
in machine load hits both alike. Each run starts from a warm page cache (the
input files are read first) and a fresh output directory, and is measured by
`/usr/bin/time`: wall time, user+sys CPU time, peak RSS. The medians are
printed as a markdown table with the after/before ratio; on a shared machine
CPU time is the steadier figure, so the table keeps the load average seen
during the runs next to it.

One more untimed run per binary gives the stage table: `--timings --json`
where the binary has `--timings`, else `--json` alone, whose `passes[].micros`
are the only stage times an older binary reports.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIME = "/usr/bin/time"


class Input:
    """One export to measure: a source prefix and its signature flags."""

    def __init__(self, label, prefix, flags, files):
        self.label, self.prefix, self.flags, self.files = label, prefix, flags, files

    def command(self, binary, out, extra):
        return [binary, "export", self.prefix, out, *self.flags, *extra]


def specs(flag, named):
    return [f"{flag}={key}={tensor}" for key, tensor in named.items()]


def prefix_files(directory, prefix):
    name = os.path.basename(prefix)
    return [os.path.join(directory, f) for f in sorted(os.listdir(directory)) if f.startswith(name)]


def fixture_inputs(fixtures):
    """The fixtures, flagged as the export tests flag them: inputs and outputs."""
    found = []
    for name in sorted(os.listdir(fixtures)):
        directory = os.path.join(fixtures, name)
        path = os.path.join(directory, "fixture.json")
        if not os.path.isfile(path):
            continue
        with open(path) as f:
            meta = json.load(f)
        tensors = lambda field: {k: v["tensor"] for k, v in meta[field].items()}
        flags = specs("--input", tensors("inputs")) + specs("--output", tensors("outputs"))
        prefix = os.path.join(directory, meta["checkpoint_prefix"])
        found.append(Input(name, prefix, flags, prefix_files(directory, prefix)))
    return found


def bench_inputs(data):
    """The generated benchmark inputs, flagged as bench/run.py flags them."""
    found = []
    for name in sorted(os.listdir(data)):
        directory = os.path.join(data, name)
        path = os.path.join(directory, "bench.json")
        if not os.path.isfile(path):
            continue
        with open(path) as f:
            meta = json.load(f)
        flags = specs("--input", meta["inputs"]) + specs("--output", meta["outputs"])
        prefix = os.path.join(directory, meta["checkpoint"])
        found.append(Input(name, prefix, flags, prefix_files(directory, prefix)))
    return found


def warm(files):
    for path in files:
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass


def fresh(path):
    if os.path.isdir(path):
        shutil.rmtree(path)


def run(command):
    """Runs an export, failing loudly; returns its stdout."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr}")
    return done.stdout


def timed(command):
    """(wall s, user+sys CPU s, peak RSS KiB) of one run.

    Peak RSS is `/usr/bin/time`'s %M: a child forked straight from this
    Python process would start from Python's own high-water mark. Wall and
    CPU come from waiting on `time` itself (its usage includes the export it
    waited for), as time(1) rounds them to 10 ms and a fixture exports in a
    few; `time`'s own start-up, under a millisecond, is in both binaries'
    figures alike.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".time") as record, \
            tempfile.TemporaryFile() as sink, tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        child = subprocess.Popen([TIME, "-f", "%M", "-o", record.name, *command], stdout=sink, stderr=errors)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            errors.seek(0)
            sys.exit(f"failed ({child.returncode}): {' '.join(command)}\n{errors.read().decode()}")
        peak = int(record.read().split()[-1])
    return wall, usage.ru_utime + usage.ru_stime, peak


class Binary:
    """One servegraph build and the runs measured with it."""

    def __init__(self, label, path):
        self.label, self.path = label, os.path.abspath(path)
        usage = run([self.path, "export", "--help"])
        self.has_timings = "--timings" in usage
        self.runs = {}

    def measure(self, input, out):
        fresh(out)
        warm(input.files)
        self.runs.setdefault(input.label, []).append(timed(input.command(self.path, out, ["--json"])))
        fresh(out)

    def stages(self, input, out):
        """[(stage, micros)] from one run: --timings, else the passes' own times."""
        fresh(out)
        warm(input.files)
        extra = ["--json", "--timings"] if self.has_timings else ["--json"]
        report = json.loads(run(input.command(self.path, out, extra)))
        fresh(out)
        if self.has_timings:
            return [(t["stage"], t["micros"]) for t in report["timings"]]
        return [(p["pass"], p["micros"]) for p in report["passes"]]


def median(runs, field):
    return statistics.median(r[field] for r in runs)


def seconds(value):
    return f"{value:.2f} s" if value >= 1 else f"{value * 1000:.1f} ms"


def ratio(after, before):
    return f"{after / before:.2f}x" if before else "-"


def summary_table(inputs, before, after, loads):
    rows = [
        "| input | wall before | wall after | x | CPU before | CPU after | x | RSS before | RSS after | x | load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for input in inputs:
        b, a = before.runs[input.label], after.runs[input.label]
        cells = [input.label]
        for field, unit in ((0, "s"), (1, "s"), (2, "MiB")):
            mb, ma = median(b, field), median(a, field)
            if unit == "MiB":
                cells += [f"{mb / 1024:.1f} MiB", f"{ma / 1024:.1f} MiB"]
            else:
                cells += [seconds(mb), seconds(ma)]
            cells.append(ratio(ma, mb))
        cells.append(f"{min(loads[input.label]):.1f}..{max(loads[input.label]):.1f}")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def stage_table(input, before_stages, after_stages):
    """Stages in the after binary's order, then any only the before one has."""
    b, a = dict(before_stages), dict(after_stages)
    order = [s for s, _ in after_stages] + [s for s, _ in before_stages if s not in a]
    ms = lambda table, stage: f"{table[stage] / 1000:.1f}" if stage in table else "-"
    rows = [f"**{input.label}** (ms, one run)", "", "| stage | before | after |", "|---|---:|---:|"]
    rows += [f"| {stage} | {ms(b, stage)} | {ms(a, stage)} |" for stage in order]
    return "\n".join(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", help="the older servegraph binary")
    parser.add_argument("after", help="the newer servegraph binary")
    parser.add_argument("--data", help="generated benchmark inputs (bench/generate.py's directory)")
    parser.add_argument("--fixtures", default=os.path.join(ROOT, "testdata", "fixtures"))
    parser.add_argument("--runs", type=int, default=5, help="timed runs per binary and input (median)")
    parser.add_argument("--work", default=os.path.join(ROOT, "target", "compare"), help="scratch output directory")
    parser.add_argument("--only", help="measure only the input with this name")
    args = parser.parse_args()

    inputs = fixture_inputs(args.fixtures) + (bench_inputs(args.data) if args.data else [])
    inputs = [i for i in inputs if args.only in (None, i.label)]
    before, after = Binary("before", args.before), Binary("after", args.after)
    os.makedirs(args.work, exist_ok=True)
    out = os.path.join(args.work, "out")
    loads, stages = {}, {}
    for input in inputs:
        print(f"measuring {input.label} ...", file=sys.stderr, flush=True)
        loads[input.label] = []
        for _ in range(args.runs):
            for binary in (before, after):
                loads[input.label].append(os.getloadavg()[0])
                binary.measure(input, out)
        stages[input.label] = (before.stages(input, out), after.stages(input, out))

    print(f"{os.cpu_count()} CPUs; medians of {args.runs} runs each, binaries alternating; "
          "warm page cache; fresh output; load = 1-minute load average seen before the runs\n")
    print(summary_table(inputs, before, after, loads))
    for input in inputs:
        print()
        print(stage_table(input, *stages[input.label]))


if __name__ == "__main__":
    main()
