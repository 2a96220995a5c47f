"""Runs the big-input benchmark side by side and prints one table per input.

    python3 bench/run.py [DATA_DIR] [--runs N] [--python-runs N] [--only NAME] [--skip-python]

DATA_DIR (default target/bench-data) holds what bench/generate.py wrote. The
release CLI and the copy_kept example must be built (bench/run.sh does it).
Each contender is a child process timed from spawn to exit, its peak RSS from
GNU time's `%M`, on a warm page cache (the inputs are read once before every
run), writing to a fresh output directory (removed and synced away before the
next run, untimed). servegraph and the copy take turns, run by run, so a busy
spell on a shared machine hits both alike.

- servegraph: `servegraph export` with the run's inputs and outputs (an
  untimed first export writes the report the copy and the header read);
- copy: copy_kept, the bytes of the variables that export keeps, fsync'd;
- python_reference: rebuild the serving graph from model code, restore, Builder;
- python_no_model: import_meta_graph, restore, Builder.

The table gives each contender's median wall time (with the spread), median
user + system CPU time (steadier than wall time on a busy machine), median
peak RSS, output size, and wall-time ratios to servegraph and to the copy.

Python is found through SERVEGRAPH_PYTHON or ./.venv/bin/python.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
CLI = os.path.join(ROOT, "target", "release", "servegraph")
COPY = os.path.join(ROOT, "target", "release", "examples", "copy_kept")


def python():
    found = os.environ.get("SERVEGRAPH_PYTHON") or os.path.join(ROOT, ".venv", "bin", "python")
    if not os.path.exists(found):
        sys.exit(f"no Python with TensorFlow at {found}: set SERVEGRAPH_PYTHON (or use --skip-python)")
    return found


def warm(paths):
    """Reads every input file once so the run starts on a warm page cache."""
    buffer = bytearray(1 << 20)
    for path in paths:
        with open(path, "rb", buffering=0) as f:
            while f.readinto(buffer):
                pass


def timed(argv, stdout_path):
    """Runs argv to completion: (wall seconds, peak RSS in MB, user + system CPU seconds).

    The peak RSS comes from GNU time (`%M`) wrapped around the command, not
    from this process's wait4: Linux carries the parent's high-water mark
    through fork + exec, so a Python parent would set a floor on every child.
    """
    rss_path = stdout_path + ".rss"
    with open(stdout_path, "wb") as out:
        started = time.perf_counter()
        child = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", "-o", rss_path, *argv], stdout=out, stderr=subprocess.PIPE)
        wall = time.perf_counter() - started
    if child.returncode != 0:
        stderr = child.stderr.decode(errors="replace")
        sys.exit(f"{' '.join(argv)} failed ({child.returncode}):\n{stderr[-4000:]}")
    with open(rss_path) as f:
        rss, user, system = f.read().split()[-3:]
    return wall, int(rss) / 1024, float(user) + float(system)


def fresh(path):
    """Removes what the last run wrote and flushes it, outside the timing."""
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)
    os.sync()


class Input:
    """One generated training run and the commands every contender runs on it."""

    def __init__(self, data_dir, name):
        self.name = name
        self.dir = os.path.join(data_dir, name)
        with open(os.path.join(self.dir, "bench.json")) as f:
            self.meta = json.load(f)
        self.prefix = os.path.join(self.dir, self.meta["checkpoint"])
        self.work = os.path.join(data_dir, "out", name)
        os.makedirs(self.work, exist_ok=True)
        self.report = os.path.join(self.work, "export-report.json")
        self.files = [os.path.join(self.dir, f) for f in sorted(os.listdir(self.dir)) if f.startswith(self.meta["checkpoint"])]

    def servegraph(self, out):
        specs = [f"--input={k}={v}" for k, v in self.meta["inputs"].items()]
        specs += [f"--output={k}={v}" for k, v in self.meta["outputs"].items()]
        return [CLI, "export", self.prefix, out, "--json", *specs]

    def copy(self, out):
        return [COPY, self.prefix, self.report, out]

    def python_script(self, script):
        return lambda out: [python(), os.path.join(BENCH, script), self.dir, out]


class Contender:
    """One command under test and what its runs measured."""

    def __init__(self, label, command):
        self.label, self.command = label, command
        self.walls, self.peaks, self.cpus = [], [], []
        self.bytes = 0

    def run_once(self, input):
        """One run on fresh output and a warm page cache."""
        out = os.path.join(input.work, self.label)
        fresh(out)
        warm(input.files)
        wall, peak, cpu = timed(self.command(out), os.path.join(input.work, f"{self.label}.stdout"))
        self.walls.append(wall)
        self.peaks.append(peak)
        self.cpus.append(cpu)
        self.bytes = directory_bytes(out)
        fresh(out)

    def row(self):
        return {
            "label": self.label,
            "runs": len(self.walls),
            "wall": statistics.median(self.walls),
            "walls": self.walls,
            "rss": statistics.median(self.peaks),
            "cpu": statistics.median(self.cpus),
            "bytes": self.bytes,
        }


def measure(input, contenders, runs):
    """Runs the contenders in turn, `runs` rounds, so that a busy spell on a
    shared machine hits them alike; returns their rows."""
    for _ in range(runs):
        for contender in contenders:
            contender.run_once(input)
    return [c.row() for c in contenders]


def directory_bytes(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def describe(input):
    """Sizes and node counts of the input and of servegraph's export of it."""
    with open(input.report) as f:
        report = json.load(f)
    kept = sum(v["bytes"] for v in report["kept"])
    lines = [
        f"== {input.name}: {input.prefix}",
        "   checkpoint files: " + ", ".join(f"{os.path.basename(p)} {os.path.getsize(p) / 1e6:.1f} MB" for p in input.files),
        f"   graph nodes: {report['nodes_before']} training, {report['nodes_after']} serving (servegraph)",
        f"   variables kept: {len(report['kept'])} ({kept / 1e6:.1f} MB), dropped: {len(report['dropped'])}",
        "   servegraph passes (untimed first run, ms): "
        + ", ".join(f"{p['pass']} {p['micros'] / 1000:.1f}" for p in report["passes"]),
    ]
    return "\n".join(lines)


def table(rows):
    by_label = {r["label"]: r for r in rows}
    base, copy = by_label["servegraph"], by_label.get("copy")
    header = f"{'contender':<18} {'runs':>4} {'wall median':>12} {'(min..max)':>17} {'CPU':>9} {'peak RSS':>10} {'output':>10} {'x servegraph':>13} {'x copy':>8}"
    lines = [header, "-" * len(header)]
    for r in rows:
        spread = f"({min(r['walls']):.2f}..{max(r['walls']):.2f})"
        to_copy = f"{r['wall'] / copy['wall']:.2f}" if copy else "-"
        lines.append(
            f"{r['label']:<18} {r['runs']:>4} {r['wall']:>10.3f} s {spread:>17} {r['cpu']:>7.2f} s {r['rss']:>7.0f} MB"
            f" {r['bytes'] / 1e6:>7.1f} MB {r['wall'] / base['wall']:>13.2f} {to_copy:>8}"
        )
    return "\n".join(lines)


def bench_input(input, args):
    """An untimed export writes the report (the kept keys for the copy, the
    node counts, the pass times), then the contenders run."""
    timed(input.servegraph(os.path.join(input.work, "report-run")), input.report)
    fresh(os.path.join(input.work, "report-run"))
    print(describe(input), flush=True)
    rows = measure(input, [Contender("servegraph", input.servegraph), Contender("copy", input.copy)], args.runs)
    if not args.skip_python:
        subprocess.run([python(), "-c", "import tensorflow"], check=True, capture_output=True)
        for label, script in [("python_reference", "python_reference.py"), ("python_no_model", "python_no_model.py")]:
            rows += measure(input, [Contender(label, input.python_script(script))], args.python_runs)
    print(table(rows), flush=True)
    print(flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="?", default=os.path.join(ROOT, "target", "bench-data"))
    parser.add_argument("--runs", type=int, default=5, help="runs of servegraph and the copy (median)")
    parser.add_argument("--python-runs", type=int, default=2, help="runs of each Python contender (median)")
    parser.add_argument("--only", choices=["lstm_graph", "big_ckpt"])
    parser.add_argument("--skip-python", action="store_true")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; medians of {args.runs} (Python: {args.python_runs}); warm page cache; fsync'd copy")
    for name in ["lstm_graph", "big_ckpt"]:
        if args.only in (None, name):
            bench_input(Input(args.data, name), args)


if __name__ == "__main__":
    main()
