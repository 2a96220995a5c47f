"""Dumps every tensor of a TensorFlow checkpoint as JSON, as TensorFlow reads it.

Usage: python tests/interop/dump_checkpoint.py PREFIX

Output: {key: {"dtype": name, "shape": [...], "values": [flat, row-major]}};
strings come as "values_b64" (base64 of each element's bytes); complex
numbers as [re, im] pairs; bfloat16/float16 as floats.
"""
import base64
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def dump(prefix):
    import numpy as np
    import tensorflow as tf

    reader = tf.train.load_checkpoint(prefix)
    dtypes = reader.get_variable_to_dtype_map()
    out = {}
    for key in sorted(dtypes):
        value = reader.get_tensor(key)
        array = np.asarray(value)
        entry = {"dtype": dtypes[key].name, "shape": list(array.shape)}
        flat = array.reshape(-1)
        if dtypes[key] == tf.string:
            entry["values_b64"] = [base64.b64encode(bytes(v)).decode() for v in flat]
        elif np.iscomplexobj(flat):
            entry["values"] = [[float(v.real), float(v.imag)] for v in flat]
        elif flat.dtype == np.bool_:
            entry["values"] = [bool(v) for v in flat]
        elif np.issubdtype(flat.dtype, np.integer):
            entry["values"] = [int(v) for v in flat]
        else:
            entry["values"] = [float(v) for v in flat.astype(np.float64)]
        out[key] = entry
    return out


if __name__ == "__main__":
    json.dump(dump(sys.argv[1]), sys.stdout, sort_keys=True)
