"""What both Python contenders share: the run's bench.json, and writing a
SavedModel with `tf.compat.v1.saved_model.Builder` from a live session."""
import json
import os

import tensorflow as tf

v1 = tf.compat.v1


def load_run(train_dir):
    """The bench.json that generate.py wrote, with the checkpoint prefix resolved."""
    with open(os.path.join(train_dir, "bench.json")) as f:
        run = json.load(f)
    run["prefix"] = os.path.join(train_dir, run["checkpoint"])
    return run


def write_saved_model(sess, out_dir, inputs, outputs):
    """A TF1 SavedModel tagged serve with a serving_default predict signature."""
    signature = v1.saved_model.predict_signature_def(inputs=inputs, outputs=outputs)
    builder = v1.saved_model.Builder(out_dir)
    builder.add_meta_graph_and_variables(
        sess,
        [v1.saved_model.tag_constants.SERVING],
        signature_def_map={"serving_default": signature},
        strip_default_attrs=True,
    )
    builder.save()
