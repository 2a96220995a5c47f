"""Trains a small TF1-style graph and saves its variables object-based.

    python tests/interop/write_object_checkpoint.py OUT_DIR

Writes into OUT_DIR:
- graph.meta: the training graph (tf.compat.v1.train.export_meta_graph), no
  checkpoint beside it;
- ckpts/: `checkpoint` state file and ckpt-1.{index,data-*} written by
  tf.compat.v1.train.Checkpoint over a tf.Module tree holding the model's
  variables (layer 1 ref variables, layer 2 resource variables) and the
  legacy Adam optimizer (slot variables) -- keys are object paths, not names;
- inputs.json / expected.json: a batch for input `x` and the `probs` the
  trained graph computes on it (tests/interop/run_saved_model.py's format);
- names.json: {"input", "output", "untracked_output", "variables"}: the
  tensors to serve, an output that reads a variable the checkpoint does not
  hold, and each saved variable's graph name.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(out_dir):
    import numpy as np
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.set_random_seed(7)
    rng = np.random.RandomState(7)
    x = tf.compat.v1.placeholder(tf.float32, [None, 4], name="x")
    labels = tf.compat.v1.placeholder(tf.int32, [None], name="labels")
    with tf.compat.v1.variable_scope("hidden"):
        w1 = tf.compat.v1.get_variable("kernel", [4, 8], use_resource=False)
        b1 = tf.compat.v1.get_variable("bias", [8], use_resource=False,
                                       initializer=tf.compat.v1.constant_initializer(0.1))
    with tf.compat.v1.variable_scope("logits"):
        w2 = tf.compat.v1.get_variable("kernel", [8, 3], use_resource=True)
        b2 = tf.compat.v1.get_variable("bias", [3], use_resource=True,
                                       initializer=tf.compat.v1.constant_initializer(-0.2))
    untracked = tf.compat.v1.get_variable("untracked/scale", [3], use_resource=True,
                                          initializer=tf.compat.v1.ones_initializer())
    hidden = tf.nn.relu(tf.matmul(x, w1) + b1)
    logits = tf.matmul(hidden, w2) + b2
    probs = tf.nn.softmax(logits, name="probs")
    tf.multiply(probs, untracked, name="scaled")
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
    step = tf.compat.v1.train.get_or_create_global_step()
    optimizer = tf.compat.v1.train.AdamOptimizer(0.05)
    train = optimizer.minimize(loss, global_step=step, var_list=[w1, b1, w2, b2])

    model = tf.Module()
    model.hidden = tf.Module()
    model.hidden.kernel, model.hidden.bias = w1, b1
    model.logits = tf.Module()
    model.logits.kernel, model.logits.bias = w2, b2
    checkpoint = tf.compat.v1.train.Checkpoint(model=model, optimizer=optimizer, step=step)

    batch = rng.normal(size=(5, 4)).astype(np.float32)
    with tf.compat.v1.Session() as session:
        session.run(tf.compat.v1.global_variables_initializer())
        for _ in range(20):
            feed = {x: rng.normal(size=(16, 4)), labels: rng.randint(0, 3, size=16)}
            session.run(train, feed)
        prefix = checkpoint.save(os.path.join(out_dir, "ckpts", "ckpt"), session=session)
        expected = session.run(probs, {x: batch})
    tf.compat.v1.train.export_meta_graph(filename=os.path.join(out_dir, "graph.meta"))

    def tensor(array):
        return {"dtype": "float32", "shape": list(array.shape), "values": array.reshape(-1).tolist()}

    write(out_dir, "inputs.json", {"x": tensor(batch)})
    write(out_dir, "expected.json", {"probs": tensor(expected)})
    write(out_dir, "names.json", {
        "input": "x:0",
        "output": "probs:0",
        "untracked_output": "scaled:0",
        "checkpoint": prefix,
        "variables": [w1.op.name, b1.op.name, w2.op.name, b2.op.name],
    })


def write(out_dir, name, value):
    with open(os.path.join(out_dir, name), "w") as f:
        json.dump(value, f)


if __name__ == "__main__":
    main(sys.argv[1])
