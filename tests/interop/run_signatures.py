"""Runs every signature of a SavedModel (or one) with one of TensorFlow's loaders.

    python tests/interop/run_signatures.py SAVED_MODEL --inputs INPUTS.json
        [--loaders tf2,tf1,capi] [--signature NAME] [--tags serve]
    python tests/interop/run_signatures.py SAVED_MODEL --list-variables

INPUTS.json: {signature: {input key: {"dtype", "shape", "values": [flat]}}}
(a tf2 fixture.json's signatures with their test_inputs). Prints one JSON
document, {loader: {"ok", "error", "signatures": {signature: {output key:
{"dtype", "shape", "values"}}}}}; comparing them is the caller's job. Exits
non-zero only when the arguments are wrong: a loader that fails is reported
with the last lines of its error, so a caller can assert how it fails.

Each loader loads the SavedModel once (the C API once per signature) in a
process of its own (loaders.py): tf2 tf.saved_model.load, tf1 a graph-mode
session, capi TF_LoadSessionFromSavedModel from the wheel's
libtensorflow_cc.so.2, what TensorFlow Serving runs.

--list-variables loads with tf.saved_model.load and prints every variable the
restored object graph holds: [{"path", "name", "dtype", "shape"}], path being
the object path of its first (breadth-first) reference from the root, which is
the checkpoint key without "/.ATTRIBUTES/VARIABLE_VALUE".

A thin client of the judge (judge.py, ops run_signatures and list_variables).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from judge_client import ask  # noqa: E402
from judge import LOADER_KIND  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("saved_model")
    parser.add_argument("--inputs", help="JSON: {signature: {input key: tensor}}")
    parser.add_argument("--signature", help="run only this signature")
    parser.add_argument("--tags", default="serve")
    parser.add_argument("--loaders", default="tf2,tf1,capi")
    parser.add_argument("--list-variables", action="store_true",
                        help="print the variables tf.saved_model.load restores instead")
    args = parser.parse_args()
    saved_model = os.path.abspath(args.saved_model)
    if args.list_variables:
        request = {"op": "list_variables", "saved_model": saved_model, "tags": args.tags}
    else:
        if not args.inputs:
            parser.error("--inputs is required unless --list-variables")
        for loader in args.loaders.split(","):
            if loader not in LOADER_KIND:
                parser.error(f"unknown loader {loader!r}; known: {', '.join(LOADER_KIND)}")
        with open(args.inputs) as f:
            request = {"op": "run_signatures", "saved_model": saved_model, "inputs": json.load(f),
                       "signature": args.signature, "tags": args.tags, "loaders": args.loaders}
    answer = ask(request)
    if not answer["ok"]:
        sys.exit(answer["error"])
    json.dump(answer["result"], sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
