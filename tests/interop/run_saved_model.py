"""Loads a SavedModel with TensorFlow's three loaders and runs a signature.

    python tests/interop/run_saved_model.py EXPORT_DIR --inputs INPUTS.json
        [--expected EXPECTED.json --tolerance 1e-5] [--signature serving_default]
        [--tags serve] [--loaders tf2,tf1,capi] [--cpus N]
        [--examples KEY [--omit-feature NAME ...]]

INPUTS.json / EXPECTED.json: {key: {"dtype", "shape", "values": [flat]}}
(a fixture.json's test_inputs / expected_outputs; a string tensor may say
"encoding": "base64" for bytes that are not text).

--examples KEY feeds the signature's input KEY instead: one serialized
tf.Example per row of INPUTS.json, built with TensorFlow's own
tf.train.Example — a dense input's row as a feature of that name, a sparse
input given as NAME_indices, NAME_values and NAME_dense_shape as feature
NAME holding the row's values. --omit-feature leaves a feature out of the
first example (to see its default used). Prints one JSON document:
{loader: {"ok", "error", "outputs", "max_abs_diff"}} and exits non-zero when a
loader fails or an output differs from the expected one.

A thin client of the judge (judge.py, op run_saved_model), which runs each
loader in a process of its own (loaders.py).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from judge_client import ask  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export_dir")
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--expected")
    parser.add_argument("--tolerance", type=float, default=1e-5)
    parser.add_argument("--signature", default="serving_default")
    parser.add_argument("--tags", default="serve")
    parser.add_argument("--loaders", default="tf2,tf1,capi")
    parser.add_argument("--cpus", type=int, default=0,
                        help="CPU devices for the tf1 and capi sessions (a graph placed on /cpu:1 needs 2)")
    parser.add_argument("--examples", metavar="KEY",
                        help="feed the inputs as serialized tf.Examples to signature input KEY")
    parser.add_argument("--omit-feature", action="append", default=[], metavar="NAME",
                        help="leave feature NAME out of the first example")
    args = parser.parse_args()
    with open(args.inputs) as f:
        request = {"op": "run_saved_model", "export_dir": os.path.abspath(args.export_dir), "inputs": json.load(f)}
    if args.expected:
        with open(args.expected) as f:
            request["expected"] = json.load(f)
    request.update(tolerance=args.tolerance, signature=args.signature, tags=args.tags, loaders=args.loaders,
                   cpus=args.cpus, examples=args.examples, omit_feature=args.omit_feature)
    answer = ask(request)
    if answer["result"] is None:
        sys.exit(answer["error"])
    json.dump(answer["result"], sys.stdout, indent=1)
    print()
    return 0 if answer["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
