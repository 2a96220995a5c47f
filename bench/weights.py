"""The weight conversions side by side: `servegraph export --weights f32`,
`f16` and `int8` on the big checkpoint, and the ratios of the converted
exports' wall time to the plain one's.

    python3 bench/weights.py [DATA_DIR] [--runs N] [--cli PATH] [--baseline PATH] [--perf]

DATA_DIR (default target/bench-data) holds bench/generate.py's `big_ckpt/`.
The exports take turns run by run (so a busy spell on a shared machine hits
them alike), each on a warm page cache and writing a fresh output directory,
timed from spawn to exit with GNU time for peak RSS and user + system CPU
(see bench/run.py); the table gives medians. `--baseline` adds another
binary's three exports (an older build, say) to the same rounds, and checks
that both write the same variables byte for byte. `--perf` adds the
instructions each export retires (`perf stat -e instructions`, one more
untimed run each), which the machine's load does not change; on a virtual
machine without that counter it says so and the column stays out.
"""
import argparse
import filecmp
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402

PRECISIONS = ["f32", "f16", "int8"]


class Export(run.Contender):
    """One binary exporting at one precision."""

    def __init__(self, label, cli, input, weights):
        super().__init__(label, lambda out: [cli, *input.servegraph(out)[1:], "--weights", weights])
        self.input, self.cli, self.weights = input, cli, weights
        self.instructions = None

    def count_instructions(self):
        out = os.path.join(self.input.work, self.label + "-perf")
        run.fresh(out)
        events = subprocess.run(
            ["perf", "stat", "-x", ",", "-e", "instructions", *self.command(out)],
            capture_output=True, text=True, check=True,
        ).stderr
        run.fresh(out)
        for line in events.splitlines():
            fields = line.split(",")
            if len(fields) > 2 and fields[2].startswith("instructions") and fields[0].isdigit():
                self.instructions = int(fields[0])
        if self.instructions is None:
            print(f"   {self.label}: perf stat counts no instructions here ({events.strip()[-200:]})")


def same_variables(a, b):
    """Whether two exports wrote the same `variables/` files."""
    names = ["variables.index", "variables.data-00000-of-00001"]
    return all(filecmp.cmp(os.path.join(a, "variables", n), os.path.join(b, "variables", n), shallow=False) for n in names)


def check_identical(input, baseline, current):
    """Exports once with each binary at each converted precision and
    compares their variables byte for byte."""
    for weights in PRECISIONS[1:]:
        outs = []
        for cli in (baseline, current):
            out = os.path.join(input.work, f"identical-{weights}-{len(outs)}")
            run.fresh(out)
            subprocess.run([cli, *input.servegraph(out)[1:], "--weights", weights], check=True, capture_output=True)
            outs.append(out)
        verdict = "byte-identical" if same_variables(*outs) else "DIFFERENT"
        print(f"   --weights {weights}: variables/ of the baseline and this build are {verdict}")
        for out in outs:
            run.fresh(out)


def table(exports):
    header = f"{'export':<16} {'runs':>4} {'wall median':>12} {'(min..max)':>15} {'CPU':>8} {'peak RSS':>9} {'output':>9} {'x f32':>6}"
    if any(e.instructions for e in exports):
        header += f" {'instructions':>14}"
    lines = [header, "-" * len(header)]
    for e in exports:
        r = e.row()
        base = next(x for x in exports if x.cli == e.cli and x.weights == "f32").row()
        line = (
            f"{e.label:<16} {r['runs']:>4} {r['wall']:>10.3f} s ({min(r['walls']):.2f}..{max(r['walls']):.2f})"
            f" {r['cpu']:>6.2f} s {r['rss']:>6.0f} MB {r['bytes'] / 1e6:>6.0f} MB {r['wall'] / base['wall']:>6.2f}"
        )
        if e.instructions:
            line += f" {e.instructions / 1e9:>12.2f} G"
        lines.append(line)
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="?", default=os.path.join(run.ROOT, "target", "bench-data"))
    parser.add_argument("--runs", type=int, default=5, help="runs of each export (median)")
    parser.add_argument("--cli", default=run.CLI, help="the servegraph binary measured")
    parser.add_argument("--baseline", help="another servegraph binary measured alongside")
    parser.add_argument("--perf", action="store_true", help="count instructions with perf stat")
    args = parser.parse_args()
    input = run.Input(args.data, "big_ckpt")
    clis = [("", args.cli)] + ([("base ", args.baseline)] if args.baseline else [])
    exports = [Export(f"{tag}{w}", cli, input, w) for tag, cli in clis for w in PRECISIONS]
    load = os.getloadavg()[0]
    print(f"== big_ckpt: {input.prefix}; {os.cpu_count()} CPUs, load {load:.1f}; medians of {args.runs}")
    if args.baseline:
        check_identical(input, args.baseline, args.cli)
    run.measure(input, exports, args.runs)
    if args.perf:
        for e in exports:
            e.count_instructions()
    print(table(exports))
    for tag, cli in clis:
        walls = {e.weights: statistics.median(e.walls) for e in exports if e.cli == cli}
        peak = max(statistics.median(e.peaks) for e in exports if e.cli == cli)
        name = tag.strip() or "this build"
        print(
            f"{name}: f16 / f32 wall {walls['f16'] / walls['f32']:.2f} (target <= 1.3), "
            f"int8 / f32 {walls['int8'] / walls['f32']:.2f} (target <= 1.5), largest median peak RSS {peak:.0f} MB (target <= 100)"
        )
    print(f"load average after the runs: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
