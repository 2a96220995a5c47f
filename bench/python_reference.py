"""The Python way with model code: rebuild the serving graph from bench/models.py,
restore the training checkpoint into it, write a SavedModel with
tf.compat.v1.saved_model.Builder.

    python bench/python_reference.py TRAIN_DIR OUT_DIR
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402
from export_common import load_run, write_saved_model  # noqa: E402

tf.compat.v1.disable_eager_execution()
v1 = tf.compat.v1


def serving_graph(model):
    """The model in inference mode: its input placeholders and its logits."""
    if model == "lstm":
        features, _ = models.lstm_inputs()
        return {"features": features}, models.lstm(features, training=False)
    users, contexts, _ = models.recommender_inputs()
    return {"user_ids": users, "context_ids": contexts}, models.recommender(users, contexts, training=False)


def main(train_dir, out_dir):
    run = load_run(train_dir)
    with tf.Graph().as_default(), v1.Session() as sess:
        inputs, logits = serving_graph(run["model"])
        v1.train.Saver().restore(sess, run["prefix"])
        write_saved_model(sess, out_dir, inputs, {"logits": logits})


if __name__ == "__main__":
    main(*sys.argv[1:3])
