"""The Python way without model code: import the training .meta graph, restore
the checkpoint, write a SavedModel with tf.compat.v1.saved_model.Builder whose
signature names the tensors in bench.json. The whole training graph and every
variable (optimizer slots included) go into the SavedModel: without the model
code nothing tells Python what serving needs.

    python bench/python_no_model.py TRAIN_DIR OUT_DIR
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_common import load_run, write_saved_model  # noqa: E402

tf.compat.v1.disable_eager_execution()
v1 = tf.compat.v1


def tensors(graph, names):
    return {key: graph.get_tensor_by_name(name) for key, name in names.items()}


def main(train_dir, out_dir):
    run = load_run(train_dir)
    with tf.Graph().as_default() as graph, v1.Session() as sess:
        saver = v1.train.import_meta_graph(run["prefix"] + ".meta", clear_devices=True)
        saver.restore(sess, run["prefix"])
        write_saved_model(sess, out_dir, tensors(graph, run["inputs"]), tensors(graph, run["outputs"]))


if __name__ == "__main__":
    main(*sys.argv[1:3])
