"""Saves and restores a SavedModel's variables with its own saver, in TensorFlow.

    python tests/interop/storage_round_trip.py EXPORT_DIR --inputs INPUTS.json --workdir DIR

Loads EXPORT_DIR (tag serve) with the TF1 loader, runs serving_default on
INPUTS.json, runs the SaverDef's save op into DIR/resaved, restores from it
with the restore op and runs again. Prints one JSON document:
{"keys": {key: {"dtype": dtype, "max_abs_diff": float, "max_abs_value": float}},
 "outputs_max_abs_diff": float} comparing the re-saved bundle with the
export's variables/ and the predictions before and after the round trip.
"""
import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tally import tally  # noqa: E402  (beside this script)


def read(prefix, name, spec, dtype):
    """One record as the restore op reads it (TensorFlow assembles no float16
    tensor from slices, so partitioned ones are read slice by slice)."""
    import numpy as np
    import tensorflow as tf

    (value,) = tf.raw_ops.RestoreV2(prefix=prefix, tensor_names=[name], shape_and_slices=[spec], dtypes=[dtype])
    return value.numpy().astype(np.float64)


def restored_records(meta):
    """(name, slice spec, dtype) of every tensor the SaverDef's RestoreV2 reads."""
    import tensorflow as tf

    scope = meta.saver_def.restore_op_name.rsplit("/", 1)[0]
    nodes = {n.name: n for n in meta.graph_def.node}
    names = tf.make_ndarray(nodes[f"{scope}/RestoreV2/tensor_names"].attr["value"].tensor)
    specs = tf.make_ndarray(nodes[f"{scope}/RestoreV2/shape_and_slices"].attr["value"].tensor)
    dtypes = nodes[f"{scope}/RestoreV2"].attr["dtypes"].list.type
    return [(n.decode(), s.decode(), d) for n, s, d in zip(names, specs, dtypes)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export_dir")
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    with open(args.inputs) as f:
        spec = json.load(f)
    prefix = os.path.join(args.workdir, "resaved")
    graph = tf.Graph()
    with tf.compat.v1.Session(graph=graph) as sess:
        meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], args.export_dir)
        tally("load")
        signature = meta.signature_def["serving_default"]
        feed = {
            signature.inputs[k].name: np.array(t["values"], dtype=t["dtype"]).reshape(t["shape"])
            for k, t in spec.items()
            if t["dtype"] != "string"
        }
        feed.update({
            signature.inputs[k].name: np.array([v.encode() for v in t["values"]], dtype=object).reshape(t["shape"])
            for k, t in spec.items()
            if t["dtype"] == "string"
        })
        fetch = {k: v.name for k, v in signature.outputs.items()}
        before = sess.run(fetch, feed)
        saver = meta.saver_def
        sess.run(saver.save_tensor_name, {saver.filename_tensor_name: prefix})
        sess.run(saver.restore_op_name, {saver.filename_tensor_name: prefix})
        after = sess.run(fetch, feed)

    records = restored_records(meta)
    exported_prefix = os.path.join(args.export_dir, "variables", "variables")
    keys = {}
    for name, spec, dtype in records:
        a = read(exported_prefix, name, spec, dtype)
        b = read(prefix, name, spec, dtype)
        label = name if not spec else f"{name} [{spec}]"
        keys[label] = {
            "dtype": tf.as_dtype(dtype).name,
            "max_abs_diff": float(np.max(np.abs(a - b), initial=0.0)),
            "max_abs_value": float(np.max(np.abs(a), initial=0.0)),
        }
    diff = max(
        (float(np.max(np.abs(np.asarray(before[k], dtype=np.float64) - np.asarray(after[k], dtype=np.float64)), initial=0.0))
         for k in before if np.asarray(before[k]).dtype.kind in "fiu"),
        default=0.0,
    )
    tally("compare", len(keys) + 1)
    print(json.dumps({"keys": keys, "outputs_max_abs_diff": diff}))


if __name__ == "__main__":
    main()
