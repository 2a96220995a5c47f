"""Counts what TensorFlow did for the judge: `tally("load")` after a loader
loaded a model, `tally("compare", n)` when n of its outputs were compared with
expected values. Appends to the file $SERVEGRAPH_JUDGE_TALLY names (the judge
gives each task its own); does nothing without it."""
import os


def tally(kind, count=1):
    path = os.environ.get("SERVEGRAPH_JUDGE_TALLY")
    if path:
        with open(path, "a") as f:
            f.write(f"{kind} {count}\n")


def read_tally(path):
    """{"loads": n, "comparisons": m} from a tally file (zero when absent)."""
    counts = {"loads": 0, "comparisons": 0}
    names = {"load": "loads", "compare": "comparisons"}
    try:
        with open(path) as f:
            for line in f:
                kind, count = line.split()
                counts[names[kind]] += int(count)
    except FileNotFoundError:
        pass
    return counts
