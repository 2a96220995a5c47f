"""Writes servegraph's test fixtures: small but real TensorFlow 1-style
training runs, each a directory with a `checkpoint` state file and a
`model.ckpt-N.{meta,index,data-*}` checkpoint, plus:

- variables.json: TensorFlow's own dump of every checkpoint tensor;
- fixture.json: the training-graph tensors a serving export replaces and
  serves, a test batch (of a size the training never used), and the
  training program's own inference-mode outputs on it (computed by building
  the model again in inference mode and restoring the checkpoint into it).

- fixture.json also holds `training_batch` (the batch the training ran
  with) and `batch_cases`: batches of 1, the training batch and twice it
  plus one, each with the inference model's outputs on it.

Run with tensorflow-cpu==2.21.0 and tf-keras==2.21.0 installed:
    python testdata/generate_fixtures.py [--only NAME] [--out DIR]
    python testdata/generate_fixtures.py --batch-cases-only [--only NAME]
(the second adds only `training_batch` and `batch_cases` to fixture.json,
computed from the checkpoints already there).
It installs nothing and needs no network.
"""
import argparse
import contextlib
import json
import os
import shutil
import sys

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.compat.v1.disable_v2_behavior()
v1 = tf.compat.v1

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "interop"))
from dump_checkpoint import dump  # noqa: E402

SEED = 1234
FIXTURES = {}


def fixture(fn):
    FIXTURES[fn.__name__] = fn
    return fn


@contextlib.contextmanager
def inside(directory):
    """Runs in the fixture directory so every path the graph holds is relative."""
    previous = os.getcwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(previous)


def seeded_graph():
    graph = tf.Graph()
    graph.seed = SEED
    return graph


def session(graph, cpus=1):
    config = v1.ConfigProto(
        device_count={"CPU": cpus}, intra_op_parallelism_threads=1, inter_op_parallelism_threads=1
    )
    return v1.Session(graph=graph, config=config)


def flat(name, array):
    array = np.asarray(array)
    if array.dtype.kind in "SUO":
        values = [v.decode() if isinstance(v, bytes) else str(v) for v in array.reshape(-1)]
        dtype = "string"
    else:
        values = array.reshape(-1).tolist()
        dtype = array.dtype.name
    return {"dtype": dtype, "shape": list(array.shape), "values": values}


def spec(tensor, shape):
    return {"tensor": tensor.name, "dtype": tensor.dtype.base_dtype.name, "shape": shape}


def save(sess, saver, steps):
    saver.save(sess, "model.ckpt", global_step=steps, write_meta_graph=True)
    for name in os.listdir("."):
        if name.startswith("events.") or name.endswith(".tempstate"):
            os.remove(name)


def inference_outputs(build, feeds, prefix, outputs, cpus=1):
    """Rebuilds the model in inference mode, restores `prefix`, runs `feeds`."""
    graph = seeded_graph()
    with graph.as_default():
        placeholders, tensors = build()
        saver = v1.train.Saver()
        with session(graph, cpus) as sess:
            saver.restore(sess, prefix)
            v1.tables_initializer().run()
            values = sess.run({k: tensors[k] for k in outputs}, {placeholders[k]: v for k, v in feeds.items()})
    return values


def write_fixture(name, description, steps, inputs, outputs, flags, test_inputs, expected, tolerance=1e-5, extra=None):
    data = {
        "name": name,
        "description": description,
        "checkpoint_prefix": f"model.ckpt-{steps}",
        "inputs": inputs,
        "outputs": outputs,
        "training_flags": flags,
        "test_inputs": {k: flat(k, v) for k, v in test_inputs.items()},
        "expected_outputs": {k: flat(k, v) for k, v in expected.items()},
        "tolerance": tolerance,
    }
    data.update(extra or {})
    if name in SERVED:
        data.update(served_batch_cases(name, data["checkpoint_prefix"]))
    with open("fixture.json", "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    with open("variables.json", "w") as f:
        json.dump(dump(f"model.ckpt-{steps}"), f, sort_keys=True)


# Each fixture's inference program, by fixture name: what `batch_cases` runs.
SERVED = {}


def serves(name, training_batch, outputs, inputs, cpus=1, mode=contextlib.nullcontext):
    """Registers `build` (no arguments, as `inference_outputs` takes it) as
    fixture `name`'s inference model; `inputs(rng, n)` draws a batch of n."""
    def register(build):
        SERVED[name] = dict(build=build, training_batch=training_batch, outputs=outputs, inputs=inputs, cpus=cpus, mode=mode)
        return build
    return register


def batch_sizes(training_batch):
    return [1, training_batch, 2 * training_batch + 1]


def case_inputs(draw, batch):
    """A batch of `batch` examples from `draw(rng, n)`, from a generator of its
    own (seeded by the batch size), so no other draw moves."""
    return draw(np.random.RandomState([SEED, batch]), batch)


def batch_cases(build, draw, prefix, outputs, sizes, cpus=1):
    """The inference model built (once per size, `build(batch)`) and restored
    from `prefix`, run on a batch of each size."""
    cases = []
    for batch in sizes:
        feeds = case_inputs(draw, batch)
        expected = inference_outputs(lambda: build(batch), feeds, prefix, outputs, cpus)
        cases.append({
            "batch": batch,
            "inputs": {k: flat(k, v) for k, v in feeds.items()},
            "expected": {k: flat(k, expected[k]) for k in outputs},
        })
    return cases


def served_batch_cases(name, prefix):
    """`training_batch` and `batch_cases` for a registered fixture; its
    inference model takes any batch, so one program serves every size."""
    entry = SERVED[name]
    with entry["mode"]():
        cases = batch_cases(
            lambda batch: entry["build"](), entry["inputs"], prefix, entry["outputs"],
            batch_sizes(entry["training_batch"]), entry["cpus"])
    return {"training_batch": entry["training_batch"], "batch_cases": cases}


def words_batch(rng, words, shape):
    return np.array(words, dtype=object)[rng.randint(0, len(words), size=shape)].astype(bytes)


def add_batch_cases(directory, name):
    """Adds `training_batch` and `batch_cases` to an existing fixture.json,
    computed from its checkpoint; nothing else in the directory changes."""
    with inside(directory):
        with open("fixture.json") as f:
            data = json.load(f)
        data.update(served_batch_cases(name, data["checkpoint_prefix"]))
        with open("fixture.json", "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)


def check_close(name, a, b, tolerance=1e-5):
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=tolerance, atol=tolerance, err_msg=f"{name}:{key}")


def mlp(x, training, hidden=16, classes=3, rate=0.25):
    h = tf.nn.relu(v1.layers.dense(x, hidden, name="hidden"))
    if training:
        h = tf.nn.dropout(h, rate=rate, seed=7)
    logits = v1.layers.dense(h, classes, name="logits")
    return logits


@serves(
    "mlp_queue", training_batch=8, outputs=["logits", "probabilities"],
    inputs=lambda rng, n: {"features": rng.rand(n, 6).astype(np.float32)})
def mlp_queue_inference():
    x = v1.placeholder(tf.float32, [None, 6])
    logits = mlp(x, training=False)
    return {"features": x}, {"logits": logits, "probabilities": tf.nn.softmax(logits)}


@fixture
def mlp_queue(out):
    """MLP fed by a CSV reader + queue pipeline, tf.nn.dropout (rate), Adam, summaries."""
    rng = np.random.RandomState(0)
    features = rng.rand(40, 6).astype(np.float32)
    labels = (features.sum(axis=1) * 1.7).astype(np.int64) % 3
    with open("train.csv", "w") as f:
        for row, label in zip(features, labels):
            f.write(",".join(f"{v:.6f}" for v in row) + f",{label}\n")
    graph = seeded_graph()
    with graph.as_default():
        files = v1.train.string_input_producer(["train.csv"], shuffle=False)
        _, line = v1.TextLineReader().read(files)
        columns = v1.decode_csv(line, record_defaults=[[0.0]] * 6 + [[0]])
        example = tf.stack(columns[:6])
        batch_x, batch_y = v1.train.batch([example, columns[6]], batch_size=8, num_threads=1)
        logits = mlp(batch_x, training=True)
        probabilities = tf.nn.softmax(logits, name="probabilities")
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=batch_y, logits=logits))
        v1.summary.scalar("loss", loss)
        v1.summary.histogram("logits", logits)
        summaries = v1.summary.merge_all()
        step = v1.train.get_or_create_global_step()
        train = v1.train.AdamOptimizer(0.01).minimize(loss, global_step=step)
        saver = v1.train.Saver()
        with session(graph) as sess:
            sess.run(v1.global_variables_initializer())
            sess.run(v1.local_variables_initializer())
            coord = v1.train.Coordinator()
            threads = v1.train.start_queue_runners(sess, coord)
            for _ in range(12):
                sess.run([train, summaries])
            coord.request_stop()
            coord.join(threads)
            save(sess, saver, 12)
    test = {"features": rng.rand(5, 6).astype(np.float32)}

    expected = inference_outputs(mlp_queue_inference, test, "model.ckpt-12", ["logits", "probabilities"])
    write_fixture(
        "mlp_queue", mlp_queue.__doc__, 12,
        {"features": spec(batch_x, [-1, 6])},
        {"logits": spec(logits, [-1, 3]), "probabilities": spec(probabilities, [-1, 3])},
        [], test, expected,
    )


def cnn(images, is_training):
    x = v1.layers.conv2d(images, 8, 3, padding="same", name="conv")
    x = v1.layers.batch_normalization(x, training=is_training, name="bn")
    x = tf.nn.relu(x)
    x = tf.reduce_mean(x, axis=[1, 2])
    x = v1.layers.dropout(x, rate=0.3, training=is_training, seed=3)
    return v1.layers.dense(x, 4, name="logits")


@serves(
    "cnn_dataset_bn", training_batch=8, outputs=["logits"],
    inputs=lambda rng, n: {"images": rng.rand(n, 8, 8, 1).astype(np.float32)})
def cnn_dataset_bn_inference():
    x = v1.placeholder(tf.float32, [None, 8, 8, 1])
    return {"images": x}, {"logits": cnn(x, False)}


@fixture
def cnn_dataset_bn(out):
    """CNN on a tf.data iterator, batch norm and layers.dropout under an is_training PlaceholderWithDefault, Momentum."""
    rng = np.random.RandomState(1)
    images = rng.rand(32, 8, 8, 1).astype(np.float32)
    labels = rng.randint(0, 4, size=32).astype(np.int32)
    graph = seeded_graph()
    with graph.as_default():
        dataset = tf.data.Dataset.from_tensor_slices((images, labels)).repeat().batch(8)
        batch_images, batch_labels = v1.data.make_one_shot_iterator(dataset).get_next()
        is_training = v1.placeholder_with_default(True, shape=[], name="is_training")
        logits = cnn(batch_images, is_training)
        loss = v1.losses.sparse_softmax_cross_entropy(batch_labels, logits)
        step = v1.train.get_or_create_global_step()
        with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS)):
            train = v1.train.MomentumOptimizer(0.05, 0.9).minimize(loss, global_step=step)
        saver = v1.train.Saver()
        test = {"images": rng.rand(3, 8, 8, 1).astype(np.float32)}
        with session(graph) as sess:
            sess.run(v1.global_variables_initializer())
            for _ in range(10):
                sess.run(train)
            save(sess, saver, 10)
            in_training_graph = sess.run({"logits": logits}, {batch_images: test["images"], is_training: False})

    expected = inference_outputs(cnn_dataset_bn_inference, test, "model.ckpt-10", ["logits"])
    check_close("cnn_dataset_bn", expected, in_training_graph)
    write_fixture(
        "cnn_dataset_bn", cnn_dataset_bn.__doc__, 10,
        {"images": spec(batch_images, [-1, 8, 8, 1])}, {"logits": spec(logits, [-1, 4])},
        ["is_training"], test, expected, tolerance=1e-4,
    )


def ids_model(ids):
    embedding = v1.get_variable("embedding", [20, 6], initializer=v1.random_normal_initializer(seed=5), use_resource=True)
    pooled = tf.reduce_mean(tf.nn.embedding_lookup(embedding, ids), axis=1)
    kernel = v1.get_variable("dense/kernel", [6, 3], initializer=v1.glorot_uniform_initializer(seed=6), use_resource=True)
    bias = v1.get_variable("dense/bias", [3], initializer=v1.zeros_initializer(), use_resource=True)
    logits = tf.nn.bias_add(tf.matmul(pooled, kernel), bias, name="scores")
    return logits, tf.argmax(logits, axis=1, name="class_id")


@serves(
    "resource_int64", training_batch=6, outputs=["scores", "class_id"],
    inputs=lambda rng, n: {"ids": rng.randint(0, 20, size=(n, 4)).astype(np.int64)})
def resource_int64_inference():
    x = v1.placeholder(tf.int64, [None, 4])
    s, c = ids_model(x)
    return {"ids": x}, {"scores": s, "class_id": c}


@fixture
def resource_int64(out):
    """Resource variables, int64 ids into an embedding, two outputs (float scores and int64 argmax), Adagrad."""
    rng = np.random.RandomState(2)
    ids = rng.randint(0, 20, size=(24, 4)).astype(np.int64)
    labels = (ids.sum(axis=1) % 3).astype(np.int64)
    graph = seeded_graph()
    with graph.as_default():
        batch_ids, batch_labels = v1.data.make_one_shot_iterator(
            tf.data.Dataset.from_tensor_slices((ids, labels)).repeat().batch(6)).get_next()
        scores, class_id = ids_model(batch_ids)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=batch_labels, logits=scores))
        step = v1.train.get_or_create_global_step()
        train = v1.train.AdagradOptimizer(0.1).minimize(loss, global_step=step)
        saver = v1.train.Saver()
        with session(graph) as sess:
            sess.run(v1.global_variables_initializer())
            for _ in range(8):
                sess.run(train)
            save(sess, saver, 8)
    test = {"ids": rng.randint(0, 20, size=(5, 4)).astype(np.int64)}

    expected = inference_outputs(resource_int64_inference, test, "model.ckpt-8", ["scores", "class_id"])
    write_fixture(
        "resource_int64", resource_int64.__doc__, 8,
        {"ids": spec(batch_ids, [-1, 4])},
        {"scores": spec(scores, [-1, 3]), "class_id": spec(class_id, [-1])},
        [], test, expected,
    )


def partitioned_model(ids):
    with tf.device("/cpu:0"):
        embedding = v1.get_variable(
            "embedding", [50, 8], partitioner=v1.fixed_size_partitioner(3),
            initializer=v1.random_normal_initializer(seed=8))
    with tf.device("/cpu:1"):
        kernel = v1.get_variable("out/kernel", [8, 2], initializer=v1.glorot_uniform_initializer(seed=9))
        bias = v1.get_variable("out/bias", [2], initializer=v1.zeros_initializer())
    pooled = tf.reduce_sum(v1.nn.embedding_lookup(embedding, ids), axis=1)
    return v1.nn.xw_plus_b(pooled, kernel, bias, name="logits")


@serves(
    "sharded_partitioned", training_batch=10, outputs=["logits"], cpus=2,
    inputs=lambda rng, n: {"ids": rng.randint(0, 50, size=(n, 3)).astype(np.int32)})
def sharded_partitioned_inference():
    x = v1.placeholder(tf.int32, [None, 3])
    return {"ids": x}, {"logits": partitioned_model(x)}


@fixture
def sharded_partitioned(out):
    """Sharded Saver (variables on two CPU devices, two data shards) with an embedding partitioned in 3, GradientDescent."""
    rng = np.random.RandomState(3)
    ids = rng.randint(0, 50, size=(30, 3)).astype(np.int32)
    labels = (ids[:, 0] % 2).astype(np.int32)
    graph = seeded_graph()
    with graph.as_default():
        batch_ids, batch_labels = v1.data.make_one_shot_iterator(
            tf.data.Dataset.from_tensor_slices((ids, labels)).repeat().batch(10)).get_next()
        logits = partitioned_model(batch_ids)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=batch_labels, logits=logits))
        step = v1.train.get_or_create_global_step()
        train = v1.train.GradientDescentOptimizer(0.5).minimize(loss, global_step=step)
        saver = v1.train.Saver(sharded=True)
        with session(graph, cpus=2) as sess:
            sess.run(v1.global_variables_initializer())
            for _ in range(6):
                sess.run(train)
            save(sess, saver, 6)
    shards = [n for n in os.listdir(".") if ".data-" in n]
    assert len(shards) > 1, f"expected several data shards, got {shards}"
    test = {"ids": rng.randint(0, 50, size=(4, 3)).astype(np.int32)}

    expected = inference_outputs(sharded_partitioned_inference, test, "model.ckpt-6", ["logits"], cpus=2)
    write_fixture(
        "sharded_partitioned", sharded_partitioned.__doc__, 6,
        {"ids": spec(batch_ids, [-1, 3])}, {"logits": spec(logits, [-1, 2])},
        [], test, expected, extra={"data_shards": len(shards)},
    )


VOCAB = ["<pad>", "the", "cat", "sat", "on", "mat", "dog", "ran", "far", "away", "big", "small"]


def vocab_model(tokens):
    table = tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer("vocab.txt", tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
                                      tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER),
        default_value=len(VOCAB))
    ids = table.lookup(tokens)
    embedding = v1.get_variable("words", [len(VOCAB) + 1, 5], initializer=v1.random_normal_initializer(seed=10))
    pooled = tf.reduce_mean(tf.nn.embedding_lookup(embedding, ids), axis=1)
    return v1.layers.dense(pooled, 2, name="logits")


@serves(
    "vocab_lookup", training_batch=5, outputs=["logits"],
    inputs=lambda rng, n: {"tokens": words_batch(rng, VOCAB[1:] + ["unknown"], (n, 3))})
def vocab_lookup_inference():
    x = v1.placeholder(tf.string, [None, 3])
    return {"tokens": x}, {"logits": vocab_model(x)}


@fixture
def vocab_lookup(out):
    """String tokens through a vocabulary table initialized from vocab.txt (an asset), Adam."""
    with open("vocab.txt", "w") as f:
        f.write("\n".join(VOCAB) + "\n")
    rng = np.random.RandomState(4)
    words = np.array(VOCAB[1:] + ["unknown"], dtype=object)
    tokens = words[rng.randint(0, len(words), size=(20, 3))].astype(bytes)
    labels = rng.randint(0, 2, size=20).astype(np.int32)
    graph = seeded_graph()
    with graph.as_default():
        batch_tokens, batch_labels = v1.data.make_initializable_iterator(
            tf.data.Dataset.from_tensor_slices((tokens, labels)).repeat().batch(5)).get_next()
        logits = vocab_model(batch_tokens)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=batch_labels, logits=logits))
        step = v1.train.get_or_create_global_step()
        train = v1.train.AdamOptimizer(0.05).minimize(loss, global_step=step)
        saver = v1.train.Saver()
        with session(graph) as sess:
            sess.run([v1.global_variables_initializer(), v1.tables_initializer()])
            sess.run(v1.get_collection(v1.GraphKeys.TABLE_INITIALIZERS))
            for op in graph.get_operations():
                if op.type == "MakeIterator":
                    sess.run(op)
            for _ in range(8):
                sess.run(train)
            save(sess, saver, 8)
    test = {"tokens": np.array([[b"the", b"cat", b"sat"], [b"dog", b"zebra", b"far"], [b"big", b"mat", b"on"], [b"away", b"away", b"small"]])}

    expected = inference_outputs(vocab_lookup_inference, test, "model.ckpt-8", ["logits"])
    write_fixture(
        "vocab_lookup", vocab_lookup.__doc__, 8,
        {"tokens": spec(batch_tokens, [-1, 3])}, {"logits": spec(logits, [-1, 2])},
        [], test, expected, extra={"assets": ["vocab.txt"]},
    )


OOV_VOCAB = ["the", "a", "of", "cat", "dog", "sat", "ran", "on", "mat", "far", "away", "big", "small", "red", "blue", "green"]
OOV_BUCKETS = 3


def oov_model(tokens):
    table = tf.lookup.StaticVocabularyTable(
        tf.lookup.TextFileInitializer("words.txt", tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
                                      tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER),
        num_oov_buckets=OOV_BUCKETS)
    ids = table.lookup(tokens)
    embedding = v1.get_variable("words", [len(OOV_VOCAB) + OOV_BUCKETS, 4],
                                initializer=v1.random_normal_initializer(seed=12))
    pooled = tf.reduce_mean(tf.nn.embedding_lookup(embedding, ids), axis=1)
    return v1.layers.dense(pooled, 2, name="logits")


@serves(
    "vocab_oov", training_batch=8, outputs=["logits"],
    inputs=lambda rng, n: {"tokens": words_batch(rng, OOV_VOCAB + ["zebra", "moon"], (n, 4))})
def vocab_oov_inference():
    x = v1.placeholder(tf.string, [None, 4])
    return {"tokens": x}, {"logits": oov_model(x)}


@fixture
def vocab_oov(out):
    """String tokens through a StaticVocabularyTable (words.txt, most frequent first, 3 OOV buckets), Adam."""
    with open("words.txt", "w") as f:
        f.write("\n".join(OOV_VOCAB) + "\n")
    rng = np.random.RandomState(5)
    # Frequent words first: word i is drawn with weight 1 / (i + 1), plus some unseen words.
    words = np.array(OOV_VOCAB + ["zebra", "moon"], dtype=object)
    weights = 1.0 / np.arange(1, len(words) + 1)
    tokens = words[rng.choice(len(words), size=(40, 4), p=weights / weights.sum())].astype(bytes)
    labels = rng.randint(0, 2, size=40).astype(np.int32)
    graph = seeded_graph()
    with graph.as_default():
        batch_tokens, batch_labels = v1.data.make_one_shot_iterator(
            tf.data.Dataset.from_tensor_slices((tokens, labels)).repeat().batch(8)).get_next()
        logits = oov_model(batch_tokens)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=batch_labels, logits=logits))
        step = v1.train.get_or_create_global_step()
        train = v1.train.AdamOptimizer(0.05).minimize(loss, global_step=step)
        saver = v1.train.Saver()
        with session(graph) as sess:
            sess.run([v1.global_variables_initializer(), v1.tables_initializer()])
            for _ in range(10):
                sess.run(train)
            save(sess, saver, 10)
    # Rows mix frequent words, rare ones (the vocabulary's tail) and words never seen.
    test = {"tokens": np.array([
        [b"the", b"cat", b"sat", b"on"],
        [b"green", b"blue", b"the", b"dog"],
        [b"a", b"zebra", b"red", b"mat"],
        [b"small", b"big", b"away", b"far"],
        [b"of", b"a", b"the", b"ran"],
    ])}

    expected = inference_outputs(vocab_oov_inference, test, "model.ckpt-10", ["logits"])
    write_fixture(
        "vocab_oov", vocab_oov.__doc__, 10,
        {"tokens": spec(batch_tokens, [-1, 4])}, {"logits": spec(logits, [-1, 2])},
        [], test, expected, extra={"assets": ["words.txt"], "oov_buckets": OOV_BUCKETS},
    )


def rnn_model(sequences):
    cell = v1.nn.rnn_cell.BasicRNNCell(12, name="cell")
    _, state = v1.nn.dynamic_rnn(cell, sequences, dtype=tf.float32)
    return v1.layers.dense(state, 3, name="logits")


@serves(
    "rnn_while", training_batch=6, outputs=["logits"],
    inputs=lambda rng, n: {"sequences": rng.rand(n, 5, 4).astype(np.float32)})
def rnn_while_inference():
    x = v1.placeholder(tf.float32, [None, 5, 4])
    return {"sequences": x}, {"logits": rnn_model(x)}


@fixture
def rnn_while(out):
    """dynamic_rnn (a control-flow-v1 while loop) over float sequences from a tf.data iterator, RMSProp."""
    rng = np.random.RandomState(5)
    sequences = rng.rand(24, 5, 4).astype(np.float32)
    labels = (sequences[:, :, 0].sum(axis=1) > 2.5).astype(np.int32)
    graph = seeded_graph()
    with graph.as_default():
        batch_x, batch_y = v1.data.make_one_shot_iterator(
            tf.data.Dataset.from_tensor_slices((sequences, labels)).repeat().batch(6)).get_next()
        logits = rnn_model(batch_x)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=batch_y, logits=logits))
        step = v1.train.get_or_create_global_step()
        train = v1.train.RMSPropOptimizer(0.01).minimize(loss, global_step=step)
        saver = v1.train.Saver()
        with session(graph) as sess:
            sess.run(v1.global_variables_initializer())
            for _ in range(6):
                sess.run(train)
            save(sess, saver, 6)
    test = {"sequences": rng.rand(4, 5, 4).astype(np.float32)}

    expected = inference_outputs(rnn_while_inference, test, "model.ckpt-6", ["logits"])
    write_fixture(
        "rnn_while", rnn_while.__doc__, 6,
        {"sequences": spec(batch_x, [-1, 5, 4])}, {"logits": spec(logits, [-1, 3])},
        [], test, expected,
    )


def bn_model(x, training):
    from tensorflow.python.training import moving_averages

    def stats_vars(name, size):
        mean = v1.get_variable(f"{name}/moving_mean", [size], initializer=v1.zeros_initializer(), trainable=False)
        var = v1.get_variable(f"{name}/moving_variance", [size], initializer=v1.ones_initializer(), trainable=False)
        return mean, var

    h = v1.layers.dense(x, 8, name="dense1", use_bias=False)
    scale = v1.get_variable("bn1/gamma", [8], initializer=v1.ones_initializer())
    offset = v1.get_variable("bn1/beta", [8], initializer=v1.zeros_initializer())
    mean1, var1 = stats_vars("bn1", 8)
    h4 = tf.reshape(h, [-1, 1, 1, 8])
    if training:
        y, batch_mean, batch_var = v1.nn.fused_batch_norm(h4, scale, offset, is_training=True, epsilon=1e-3)
        updates = [moving_averages.assign_moving_average(mean1, batch_mean, 0.9, zero_debias=False),
                   moving_averages.assign_moving_average(var1, batch_var, 0.9, zero_debias=False)]
    else:
        y, _, _ = v1.nn.fused_batch_norm(h4, scale, offset, mean=mean1, variance=var1, is_training=False, epsilon=1e-3)
        updates = []
    h = tf.nn.relu(tf.reshape(y, [-1, 8]))
    h2 = v1.layers.dense(h, 6, name="dense2")
    mean2, var2 = stats_vars("bn2", 6)
    if training:
        batch_mean2, batch_var2 = tf.nn.moments(h2, axes=[0])
        updates += [moving_averages.assign_moving_average(mean2, batch_mean2, 0.9, zero_debias=False),
                    moving_averages.assign_moving_average(var2, batch_var2, 0.9, zero_debias=False)]
        h2 = tf.nn.batch_normalization(h2, batch_mean2, batch_var2, None, None, 1e-3)
    else:
        h2 = tf.nn.batch_normalization(h2, mean2, var2, None, None, 1e-3)
    return v1.layers.dense(tf.nn.relu(h2), 2, name="logits"), updates


@serves(
    "bn_train_only", training_batch=10, outputs=["logits"],
    inputs=lambda rng, n: {"features": rng.rand(n, 5).astype(np.float32)})
def bn_train_only_inference():
    x = v1.placeholder(tf.float32, [None, 5])
    return {"features": x}, {"logits": bn_model(x, training=False)[0]}


@fixture
def bn_train_only(out):
    """A graph built only in training mode: fused batch norm with is_training=True and an unfused moments batch norm, moving averages by assign_moving_average."""
    rng = np.random.RandomState(6)
    features = rng.rand(40, 5).astype(np.float32)
    labels = (features[:, 0] > 0.5).astype(np.int32)
    graph = seeded_graph()
    with graph.as_default():
        batch_x, batch_y = v1.data.make_one_shot_iterator(
            tf.data.Dataset.from_tensor_slices((features, labels)).repeat().batch(10)).get_next()
        logits, updates = bn_model(batch_x, training=True)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=batch_y, logits=logits))
        step = v1.train.get_or_create_global_step()
        with tf.control_dependencies(updates):
            train = v1.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=step)
        saver = v1.train.Saver()
        with session(graph) as sess:
            sess.run(v1.global_variables_initializer())
            for _ in range(10):
                sess.run(train)
            save(sess, saver, 10)
    test = {"features": rng.rand(3, 5).astype(np.float32)}

    expected = inference_outputs(bn_train_only_inference, test, "model.ckpt-10", ["logits"])
    write_fixture(
        "bn_train_only", bn_train_only.__doc__, 10,
        {"features": spec(batch_x, [-1, 5])}, {"logits": spec(logits, [-1, 2])},
        [], test, expected, tolerance=1e-4,
    )


def offsets_model(ids):
    """Ids shifted by per-position int64 offsets (in int32 range) and hashed
    with an int64 salt (beyond it) into 20 buckets, then embedded."""
    offsets = v1.get_variable(
        "id_offsets", initializer=tf.constant([0, 5, 10, 15], tf.int64), trainable=False, use_resource=False)
    salt = v1.get_variable(
        "salt", initializer=tf.constant([2**40 + 3, 2**41 + 1, 7, 2**33], tf.int64), trainable=False,
        use_resource=True)
    buckets = tf.math.floormod(ids + offsets + salt, tf.constant(20, tf.int64), name="buckets")
    embedding = v1.get_variable("embedding", [20, 4], initializer=v1.random_normal_initializer(seed=8))
    pooled = tf.reduce_mean(tf.nn.embedding_lookup(embedding, buckets), axis=1)
    return v1.layers.dense(pooled, 2, name="logits"), buckets


@serves(
    "int64_offsets", training_batch=4, outputs=["logits", "buckets"],
    inputs=lambda rng, n: {"ids": rng.randint(0, 1000, size=(n, 4)).astype(np.int64)})
def int64_offsets_inference():
    x = v1.placeholder(tf.int64, [None, 4])
    scores, hashed = offsets_model(x)
    return {"ids": x}, {"logits": scores, "buckets": hashed}


@fixture
def int64_offsets(out):
    """Kept int64 variables (ref and resource): per-position id offsets that fit int32 and a hashing salt that does not; an int64 output, GradientDescent."""
    rng = np.random.RandomState(9)
    ids = rng.randint(0, 1000, size=(16, 4)).astype(np.int64)
    labels = (ids[:, 0] % 2).astype(np.int64)
    graph = seeded_graph()
    with graph.as_default():
        batch_ids, batch_labels = v1.data.make_one_shot_iterator(
            tf.data.Dataset.from_tensor_slices((ids, labels)).repeat().batch(4)).get_next()
        logits, buckets = offsets_model(batch_ids)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=batch_labels, logits=logits))
        step = v1.train.get_or_create_global_step()
        train = v1.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=step)
        saver = v1.train.Saver()
        with session(graph) as sess:
            sess.run(v1.global_variables_initializer())
            for _ in range(6):
                sess.run(train)
            save(sess, saver, 6)
    test = {"ids": rng.randint(0, 1000, size=(3, 4)).astype(np.int64)}

    expected = inference_outputs(int64_offsets_inference, test, "model.ckpt-6", ["logits", "buckets"])
    write_fixture(
        "int64_offsets", int64_offsets.__doc__, 6,
        {"ids": spec(batch_ids, [-1, 4])},
        {"logits": spec(logits, [-1, 2]), "buckets": spec(buckets, [-1, 4])},
        [], test, expected,
    )


def tiny(x, training):
    h = tf.nn.relu(v1.layers.dense(x, 3, name="hidden"))
    if training:
        h = v1.nn.dropout(h, keep_prob=0.8, seed=11)
    return v1.layers.dense(h, 2, name="logits")


@serves(
    "tiny_mlp", training_batch=4, outputs=["logits"],
    inputs=lambda rng, n: {"features": rng.rand(n, 4).astype(np.float32)})
def tiny_mlp_inference():
    x = v1.placeholder(tf.float32, [None, 4])
    return {"features": x}, {"logits": tiny(x, False)}


@fixture
def tiny_mlp(out):
    """The bundled default: a 4-3-2 MLP on a tf.data iterator with keep_prob dropout and GradientDescent."""
    rng = np.random.RandomState(7)
    features = rng.rand(16, 4).astype(np.float32)
    labels = (features[:, 1] > 0.5).astype(np.int32)
    graph = seeded_graph()
    with graph.as_default():
        batch_x, batch_y = v1.data.make_one_shot_iterator(
            tf.data.Dataset.from_tensor_slices((features, labels)).repeat().batch(4)).get_next()
        logits = tiny(batch_x, training=True)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=batch_y, logits=logits))
        step = v1.train.get_or_create_global_step()
        train = v1.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=step)
        saver = v1.train.Saver()
        with session(graph) as sess:
            sess.run(v1.global_variables_initializer())
            for _ in range(5):
                sess.run(train)
            save(sess, saver, 5)
    test = {"features": rng.rand(3, 4).astype(np.float32)}

    expected = inference_outputs(tiny_mlp_inference, test, "model.ckpt-5", ["logits"])
    write_fixture(
        "tiny_mlp", tiny_mlp.__doc__, 5,
        {"features": spec(batch_x, [-1, 4])}, {"logits": spec(logits, [-1, 2])},
        [], test, expected,
    )


@contextlib.contextmanager
def keras_graph_mode():
    """What a tf_keras user running TF1 graph mode has: resource variables and
    control flow v2 (functional `If` conds), which this script otherwise turns off."""
    v1.enable_resource_variables()
    v1.enable_control_flow_v2()
    tf.keras.backend.clear_session()
    try:
        yield
    finally:
        tf.keras.backend.clear_session()
        v1.disable_control_flow_v2()
        v1.disable_resource_variables()


def keras_bn_dropout_model():
    inputs = tf.keras.Input(shape=(6,), name="features")
    x = tf.keras.layers.Dense(16, activation="relu", name="hidden")(inputs)
    x = tf.keras.layers.BatchNormalization(name="bn")(x)
    x = tf.keras.layers.Dropout(0.3, seed=5, name="dropout")(x)
    outputs = tf.keras.layers.Dense(3, activation="softmax", name="probabilities")(x)
    return tf.keras.Model(inputs, outputs)


def keras_inference(model_fn, input_key, output_key):
    """The Keras model rebuilt in a fresh graph, as inference_outputs builds
    it (its learning phase defaults to inference)."""
    model = model_fn()
    return {input_key: model.inputs[0]}, {output_key: model.outputs[0]}


@serves(
    "keras_graph_bn_dropout", training_batch=8, outputs=["probabilities"], mode=keras_graph_mode,
    inputs=lambda rng, n: {"features": rng.rand(n, 6).astype(np.float32)})
def keras_graph_bn_dropout_inference():
    return keras_inference(keras_bn_dropout_model, "features", "probabilities")


@fixture
def keras_graph_bn_dropout(out):
    """tf_keras in TF1 graph mode: Dense + BatchNormalization + Dropout (functional If learning-phase conds), legacy Adam, an accuracy metric, fitted from numpy, saved by a tf.compat.v1 Saver on the Keras session."""
    rng = np.random.RandomState(11)
    features = rng.rand(48, 6).astype(np.float32)
    labels = (features.sum(axis=1) * 1.3).astype(np.int64) % 3
    test = {"features": rng.rand(5, 6).astype(np.float32)}
    with keras_graph_mode():
        graph = seeded_graph()
        with graph.as_default():
            sess = session(graph)
            v1.keras.backend.set_session(sess)
            model = keras_bn_dropout_model()
            model.compile(
                optimizer=tf.keras.optimizers.legacy.Adam(0.01),
                loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            model.fit(features, labels, epochs=2, batch_size=8, shuffle=False, verbose=0)
            save(v1.keras.backend.get_session(), v1.train.Saver(), 12)
            expected = {"probabilities": model.predict(test["features"], verbose=0)}
            inputs = {"features": spec(model.inputs[0], [-1, 6])}
            outputs = {"probabilities": spec(model.outputs[0], [-1, 3])}
            sess.close()
    with keras_graph_mode():
        rebuilt = inference_outputs(keras_graph_bn_dropout_inference, test, "model.ckpt-12", ["probabilities"])
    check_close("keras_graph_bn_dropout", expected, rebuilt)
    write_fixture(
        "keras_graph_bn_dropout", keras_graph_bn_dropout.__doc__, 12,
        inputs, outputs, [], test, expected,
    )


def keras_conv_model():
    inputs = tf.keras.Input(shape=(8, 8, 1), name="images")
    x = tf.keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = tf.keras.layers.BatchNormalization(name="bn")(x)
    x = tf.keras.layers.ReLU(name="relu")(x)
    x = tf.keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = tf.keras.layers.Dropout(0.25, seed=9, name="dropout")(x)
    outputs = tf.keras.layers.Dense(2, name="logits")(x)
    return tf.keras.Model(inputs, outputs)


@serves(
    "keras_graph_conv_dataset", training_batch=8, outputs=["logits"], mode=keras_graph_mode,
    inputs=lambda rng, n: {"images": rng.rand(n, 8, 8, 1).astype(np.float32)})
def keras_graph_conv_dataset_inference():
    return keras_inference(keras_conv_model, "images", "logits")


@fixture
def keras_graph_conv_dataset(out):
    """tf_keras in TF1 graph mode: Conv2D + fused BatchNormalization (FusedBatchNormV3 inside If branches) + Dropout, fitted from a tf.data dataset, logits from_logits loss, legacy Adam, an accuracy metric, saved by a tf.compat.v1 Saver on the Keras session."""
    rng = np.random.RandomState(5)
    images = rng.rand(32, 8, 8, 1).astype(np.float32)
    labels = (images.mean(axis=(1, 2, 3)) > 0.5).astype(np.int64)
    test = {"images": rng.rand(3, 8, 8, 1).astype(np.float32)}
    with keras_graph_mode():
        graph = seeded_graph()
        with graph.as_default():
            sess = session(graph)
            v1.keras.backend.set_session(sess)
            dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8).repeat()
            model = keras_conv_model()
            model.compile(
                optimizer=tf.keras.optimizers.legacy.Adam(0.01),
                loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])
            model.fit(dataset, epochs=2, steps_per_epoch=4, verbose=0)
            save(v1.keras.backend.get_session(), v1.train.Saver(), 8)
            expected = {"logits": model.predict(test["images"], verbose=0)}
            inputs = {"images": spec(model.inputs[0], [-1, 8, 8, 1])}
            outputs = {"logits": spec(model.outputs[0], [-1, 2])}
            sess.close()
    with keras_graph_mode():
        rebuilt = inference_outputs(keras_graph_conv_dataset_inference, test, "model.ckpt-8", ["logits"])
    check_close("keras_graph_conv_dataset", expected, rebuilt)
    write_fixture(
        "keras_graph_conv_dataset", keras_graph_conv_dataset.__doc__, 8,
        inputs, outputs, [], test, expected,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=sorted(FIXTURES))
    parser.add_argument("--out", default=os.path.join(HERE, "fixtures"))
    parser.add_argument(
        "--batch-cases-only", action="store_true",
        help="add training_batch and batch_cases to the existing fixtures' fixture.json, from their checkpoints; write nothing else")
    args = parser.parse_args()
    if args.batch_cases_only:
        for name in args.only or sorted(FIXTURES):
            add_batch_cases(os.path.join(os.path.abspath(args.out), name), name)
            print(f"added batch cases to {name}", file=sys.stderr)
        return
    for name in args.only or sorted(FIXTURES):
        directory = os.path.join(os.path.abspath(args.out), name)
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory)
        np.random.seed(SEED)
        v1.set_random_seed(SEED)
        with inside(directory):
            FIXTURES[name](directory)
        print(f"wrote {name}", file=sys.stderr)


if __name__ == "__main__":
    main()
