"""Writes a TensorBundle with TensorFlow's own SaveV2 op, from a JSON spec.

    python tests/interop/write_bundle_with_tf.py SPEC.json PREFIX

SPEC.json: [{"name", "dtype", "shape", "values": [flat] | "values_b64": [...]}],
saved in the listed order (SaveV2 writes data records in that order).
"""
import base64
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def tensor(spec):
    if "values_b64" in spec:
        values = [base64.b64decode(v) for v in spec["values_b64"]]
        return tf.constant(np.array(values, dtype=object).reshape(spec["shape"]), dtype=tf.string)
    dtype = tf.as_dtype(spec["dtype"])
    if dtype.is_complex:
        values = [complex(re, im) for re, im in spec["values"]]
    else:
        values = spec["values"]
    return tf.constant(np.array(values, dtype=dtype.as_numpy_dtype).reshape(spec["shape"]), dtype=dtype)


def main():
    with open(sys.argv[1]) as f:
        specs = json.load(f)
    tf.raw_ops.SaveV2(
        prefix=sys.argv[2],
        tensor_names=[s["name"] for s in specs],
        shape_and_slices=[""] * len(specs),
        tensors=[tensor(s) for s in specs],
    )


if __name__ == "__main__":
    main()
