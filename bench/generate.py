"""Generates the big-input benchmark's training runs with real TensorFlow.

    python bench/generate.py [OUT_DIR] [--only lstm_graph|big_ckpt]

OUT_DIR defaults to target/bench-data. It writes, each with a `checkpoint`
state file, a `model.ckpt-2` Saver checkpoint (.meta, .index, .data-*) and a
`bench.json` naming the serving inputs and outputs and counting the nodes:

- lstm_graph/: a 4-layer LSTM unrolled 300 steps, dropout, Adam with gradient
  clipping, summaries: a training graph of > 150,000 nodes (about 60 MB .meta);
- big_ckpt/: embeddings and a wide output layer (~620 MB of variables) trained
  with Adam, so the checkpoint with both slots is ~1.85 GB;
- wide_layer/: one 100 MB kernel trained with SGD, for `--freeze`'s memory.

Each model trains two steps on random data with a batch of 4. Needs
tensorflow-cpu==2.21.0 (no tf-keras); installs nothing and needs no network.
"""
import argparse
import json
import os
import shutil
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402

tf.compat.v1.disable_eager_execution()
v1 = tf.compat.v1

SEED = 7
STEPS = 2
BATCH = 4


def adam_train_op(loss, clip=None):
    """Adam on every trainable variable, optionally with global-norm clipping."""
    global_step = v1.train.get_or_create_global_step()
    optimizer = v1.train.AdamOptimizer(1e-3)
    grads, variables = zip(*optimizer.compute_gradients(loss))
    if clip is not None:
        grads, norm = tf.clip_by_global_norm(grads, clip)
        v1.summary.scalar("gradient_norm", norm)
    return optimizer.apply_gradients(zip(grads, variables), global_step=global_step), grads


def train_and_save(out, graph, train_op, feed, meta):
    """Runs STEPS training steps with summaries, saves, writes bench.json."""
    with graph.as_default():
        summaries = v1.summary.merge_all()
        saver = v1.train.Saver()
    writer = v1.summary.FileWriter(os.path.join(out, "train"))
    with v1.Session(graph=graph) as sess:
        sess.run(v1.global_variables_initializer())
        for step in range(STEPS):
            _, summary = sess.run([train_op, summaries], feed_dict=feed(step))
            writer.add_summary(summary, step)
        writer.close()
        prefix = saver.save(sess, os.path.join(out, "model.ckpt"), global_step=STEPS)
    meta["nodes"] = len(graph.as_graph_def().node)
    meta["checkpoint"] = os.path.basename(prefix)
    with open(os.path.join(out, "bench.json"), "w") as f:
        json.dump(meta, f, indent=2)
    return meta


def lstm_graph(out):
    graph = tf.Graph()
    graph.seed = SEED
    with graph.as_default():
        features, labels = models.lstm_inputs()
        logits = models.lstm(features, training=True)
        loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
        v1.summary.scalar("loss", loss)
        train_op, grads = adam_train_op(loss, clip=5.0)
        for var, grad in zip(v1.trainable_variables(), grads):
            v1.summary.histogram(var.op.name, var)
            v1.summary.histogram(var.op.name + "/gradient", grad)
    rng = np.random.default_rng(SEED)

    def feed(_step):
        return {
            features: rng.standard_normal((BATCH, models.LSTM_STEPS, models.LSTM_FEATURES), np.float32),
            labels: rng.integers(0, models.LSTM_CLASSES, (BATCH, models.LSTM_STEPS), np.int32),
        }

    meta = {"inputs": {"features": "features:0"}, "outputs": {"logits": "logits:0"}, "model": "lstm"}
    return train_and_save(out, graph, train_op, feed, meta)


def big_ckpt(out):
    graph = tf.Graph()
    graph.seed = SEED
    with graph.as_default():
        users, contexts, labels = models.recommender_inputs()
        logits = models.recommender(users, contexts, training=True)
        loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
        v1.summary.scalar("loss", loss)
        v1.summary.histogram("logits", logits)
        train_op, _ = adam_train_op(loss)
    rng = np.random.default_rng(SEED)

    def feed(_step):
        return {
            users: rng.integers(0, models.EMBED_ROWS, BATCH),
            contexts: rng.integers(0, models.EMBED_ROWS, BATCH),
            labels: rng.integers(0, models.OUTPUT_CLASSES, BATCH),
        }

    meta = {
        "inputs": {"user_ids": "user_ids:0", "context_ids": "context_ids:0"},
        "outputs": {"logits": "logits:0"},
        "model": "recommender",
    }
    return train_and_save(out, graph, train_op, feed, meta)


def wide_layer(out):
    """One 100 MB float32 kernel (25,000 x 1,000) behind a placeholder,
    trained with plain SGD: the input of the `--freeze` memory check."""
    graph = tf.Graph()
    graph.seed = SEED
    with graph.as_default():
        features = v1.placeholder(tf.float32, [None, models.WIDE_INPUTS], name="features")
        labels = v1.placeholder(tf.int64, [None], name="labels")
        logits = models.wide_layer(features)
        loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
        v1.summary.scalar("loss", loss)
        global_step = v1.train.get_or_create_global_step()
        train_op = v1.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=global_step)
    rng = np.random.default_rng(SEED)

    def feed(_step):
        return {
            features: rng.standard_normal((BATCH, models.WIDE_INPUTS), np.float32),
            labels: rng.integers(0, models.WIDE_UNITS, BATCH),
        }

    meta = {"inputs": {"features": "features:0"}, "outputs": {"logits": "logits:0"}, "model": "wide_layer"}
    return train_and_save(out, graph, train_op, feed, meta)


RUNS = {"lstm_graph": lstm_graph, "big_ckpt": big_ckpt, "wide_layer": wide_layer}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", default=os.path.join("target", "bench-data"))
    parser.add_argument("--only", choices=sorted(RUNS))
    args = parser.parse_args()
    for name, run in RUNS.items():
        if args.only and name != args.only:
            continue
        out = os.path.join(args.out, name)
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        started = time.monotonic()
        meta = run(out)
        size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out) if f.startswith("model.ckpt"))
        print(f"{name}: {meta['nodes']} nodes, checkpoint {size / 1e6:.0f} MB, {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
