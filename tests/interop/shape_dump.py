"""Every tensor's static shape as TensorFlow infers it on an exported graph.

    python shape_dump.py EXPORT_DIR TAGS

Imports the graph of the SavedModel's MetaGraphDef under the comma-separated
TAGS into a fresh TF1 graph (`tf.compat.v1.import_graph_def`, which runs
TensorFlow's shape functions node by node) and prints JSON
`{"tensors": {"node:port": {"shape": null | [size or null, ...], "dtype":
enum}}}`: null for an unknown rank or size, the dtype as its DataType number
(a reference dtype 100 more).
"""
import json
import os
import sys

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2


def meta_graph(export_dir, tags):
    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(export_dir, "saved_model.pb"), "rb") as f:
        saved.ParseFromString(f.read())
    for meta in saved.meta_graphs:
        if set(meta.meta_info_def.tags) == set(tags):
            return meta
    raise SystemExit(f"no MetaGraphDef tagged {tags}")


def main():
    export_dir, tags = sys.argv[1], sys.argv[2].split(",")
    meta = meta_graph(export_dir, tags)
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(meta.graph_def, name="")
    tensors = {}
    for op in graph.get_operations():
        for tensor in op.outputs:
            shape = tensor.shape
            tensors[tensor.name] = {
                "shape": None if shape.rank is None else shape.as_list(),
                "dtype": tensor.dtype.as_datatype_enum,
            }
    json.dump({"tensors": tensors}, sys.stdout)


if __name__ == "__main__":
    main()
