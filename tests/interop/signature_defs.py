"""Prints a SavedModel's SignatureDefs as TensorFlow's own protos hold them.

    python tests/interop/signature_defs.py SAVED_MODEL [--tags serve]

One JSON document: {signature key: {"method": method_name, "inputs": {key:
{"dtype", "shape", "sparse"}}, "outputs": {...}}}, the `__saver__`-like
internal keys left out; dtype is TensorFlow's name for it, shape null when
the rank is unknown, sparse true for a COO SparseTensor input.
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402
from tensorflow.core.protobuf import saved_model_pb2  # noqa: E402


def tensor_info(info):
    shape = None if info.tensor_shape.unknown_rank else [d.size for d in info.tensor_shape.dim]
    return {"dtype": tf.dtypes.as_dtype(info.dtype).name, "shape": shape, "sparse": info.HasField("coo_sparse")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("saved_model")
    parser.add_argument("--tags", default="serve")
    args = parser.parse_args()
    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(args.saved_model, "saved_model.pb"), "rb") as f:
        saved.ParseFromString(f.read())
    tags = sorted(args.tags.split(","))
    (meta,) = [m for m in saved.meta_graphs if sorted(m.meta_info_def.tags) == tags]
    described = {
        key: {
            "method": sig.method_name,
            "inputs": {k: tensor_info(v) for k, v in sorted(sig.inputs.items())},
            "outputs": {k: tensor_info(v) for k, v in sorted(sig.outputs.items())},
        }
        for key, sig in sorted(meta.signature_def.items())
        if not key.startswith("__")
    }
    json.dump(described, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    sys.exit(main())
