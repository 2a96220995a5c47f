"""Imports GraphDefs into TensorFlow and runs them on the same feeds.

    python tests/interop/run_graph_def.py --inputs INPUTS.json
        --feed KEY=TENSOR ... --fetch KEY=TENSOR ...
        [--expected EXPECTED.json --tolerance T] [--checkpoint PREFIX]
        [--flag TENSOR=false ...] GRAPH.pb [GRAPH2.pbtxt ...]

INPUTS.json / EXPECTED.json: {key: {"dtype", "shape", "values": [flat]}}
(a fixture.json's test_inputs / expected_outputs). Each graph (binary or
text GraphDef, by extension) is imported into a fresh tf.Graph with
tf.compat.v1.import_graph_def and run in a session: input KEY is fed to
TENSOR, output KEY fetched from TENSOR. --checkpoint restores every
variable node of the graph from the TensorBundle at PREFIX (the key is the
node's name) before running, for training graphs that still hold
variables. --flag feeds a boolean tensor (a training flag) False.

Prints one JSON document {graph: {"ok", "error", "outputs", "max_abs_diff"}}
and exits non-zero when a graph fails to import or run, or an output
differs from the expected one by more than the tolerance.
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tally import tally  # noqa: E402  (beside this script)


def pairs(items):
    return dict(item.split("=", 1) for item in items)


def load_graph_def(path):
    from google.protobuf import text_format
    from tensorflow.core.framework import graph_pb2

    graph_def = graph_pb2.GraphDef()
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith((".pbtxt", ".txt")):
        text_format.Parse(data.decode("utf-8"), graph_def)
    else:
        graph_def.ParseFromString(data)
    return graph_def


def restore(session, graph, prefix):
    import tensorflow as tf

    reader = tf.train.load_checkpoint(prefix)
    keys = reader.get_variable_to_shape_map()
    assigns = []
    for op in graph.get_operations():
        if op.name not in keys:
            continue
        value = reader.get_tensor(op.name)
        if op.type in ("VariableV2", "Variable"):
            assigns.append(tf.compat.v1.assign(op.outputs[0], value))
        elif op.type == "VarHandleOp":
            assigns.append(tf.raw_ops.AssignVariableOp(resource=op.outputs[0], value=value))
    session.run(assigns)


def run_graph(path, args, arrays):
    import numpy as np
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(load_graph_def(path), name="")
        tally("load")
        with tf.compat.v1.Session(graph=graph) as session:
            if args.checkpoint:
                restore(session, graph, args.checkpoint)
            feeds = {graph.get_tensor_by_name(t): arrays[k] for k, t in pairs(args.feed).items()}
            for flag in args.flag:
                feeds[graph.get_tensor_by_name(flag)] = False
            fetch = pairs(args.fetch)
            values = session.run({k: graph.get_tensor_by_name(t) for k, t in fetch.items()}, feeds)
    return {k: np.asarray(v) for k, v in values.items()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("graphs", nargs="+")
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--feed", action="append", default=[])
    parser.add_argument("--fetch", action="append", default=[])
    parser.add_argument("--flag", action="append", default=[])
    parser.add_argument("--expected")
    parser.add_argument("--tolerance", type=float, default=1e-5)
    parser.add_argument("--checkpoint")
    args = parser.parse_args()

    import numpy as np

    with open(args.inputs) as f:
        inputs = json.load(f)
    arrays = {k: np.array(t["values"], dtype=t["dtype"]).reshape(t["shape"]) for k, t in inputs.items()}
    expected = None
    if args.expected:
        with open(args.expected) as f:
            expected = json.load(f)

    report, failed = {}, False
    for path in args.graphs:
        entry = {"ok": False}
        try:
            outputs = run_graph(path, args, arrays)
            entry["outputs"] = {k: v.tolist() for k, v in outputs.items()}
            entry["ok"] = True
            if expected is not None:
                diffs = {}
                tally("compare", len(expected))
                for key, t in expected.items():
                    want = np.array(t["values"], dtype=np.float64).reshape(t["shape"])
                    got = outputs[key].astype(np.float64)
                    diffs[key] = float(np.max(np.abs(got - want))) if want.size else 0.0
                    if got.shape != want.shape or diffs[key] > args.tolerance:
                        entry["ok"] = False
                entry["max_abs_diff"] = diffs
        except Exception as error:  # report every graph, then fail
            entry["error"] = "%s: %s" % (type(error).__name__, error)
        failed = failed or not entry["ok"]
        report[os.path.basename(path)] = entry
    json.dump(report, sys.stdout, indent=1)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
