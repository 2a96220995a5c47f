"""Lists the variables of a SavedModel as TensorFlow sees them after a TF1 load.

    python tests/interop/variable_dtypes.py SAVED_MODEL [--tags serve]

Prints one JSON document:
{"graph": {VarHandleOp name: {"dtype", "shape", "values": [flat]}},
 "object_graph": [{"name", "dtype"}]}
"graph" comes from tf.compat.v1.saved_model.loader.load in a graph-mode
session (so the saver_def restore op has run): each VarHandleOp's declared
dtype and the value read back through it (strings for a string variable). "object_graph" lists the
SavedVariable entries of the MetaGraphDef's SavedObjectGraph with their
declared dtypes, parsed by TensorFlow's own protobuf classes.
"""
import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tally import tally  # noqa: E402  (beside this script)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("saved_model")
    parser.add_argument("--tags", default="serve")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    tf.compat.v1.disable_eager_execution()
    tags = args.tags.split(",")
    graph = {}
    with tf.compat.v1.Session(graph=tf.Graph()) as sess:
        meta_graph = tf.compat.v1.saved_model.loader.load(sess, tags, args.saved_model)
        tally("load")
        handles = [op for op in sess.graph.get_operations() if op.type == "VarHandleOp"]
        reads = []
        for op in handles:
            dtype = op.get_attr("dtype")
            reads.append(tf.raw_ops.ReadVariableOp(resource=op.outputs[0], dtype=dtype))
        values = sess.run(reads)
        for op, value in zip(handles, values):
            value = np.asarray(value)
            flat = value.reshape(-1)
            if value.dtype.kind in "OSU":  # a string variable: an asset's path
                listed = [v.decode() if isinstance(v, bytes) else str(v) for v in flat]
            else:
                listed = [float(v) for v in flat]
            graph[op.name] = {"dtype": op.get_attr("dtype").name, "shape": list(value.shape), "values": listed}

    with open(os.path.join(args.saved_model, "saved_model.pb"), "rb") as f:
        saved_model = saved_model_pb2.SavedModel.FromString(f.read())
    chosen = [m for m in saved_model.meta_graphs if set(tags) <= set(m.meta_info_def.tags)]
    objects = []
    for node in chosen[0].object_graph_def.nodes if chosen else []:
        if node.WhichOneof("kind") == "variable":
            dtype = tf.dtypes.as_dtype(node.variable.dtype).name
            objects.append({"name": node.variable.name, "dtype": dtype})
    del meta_graph
    print(json.dumps({"graph": graph, "object_graph": objects}))


if __name__ == "__main__":
    main()
