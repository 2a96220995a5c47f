"""Writes servegraph's batch fixtures: small TensorFlow 1-style training runs
whose graphs bake the training batch size in, written the way such programs
are written (the CIFAR-10 tutorial's `tf.reshape(pool2, [FLAGS.batch_size,
-1])`, TF-Slim's softmax that reshapes back to `tf.shape(logits)`, the PTB
tutorial's `cell.zero_state(batch_size, ...)`, `tf.fill` / `tf.tile` with the
batch, a `TensorArray` of the batch's size), and one whose batch is fixed by
design. Each goes to `testdata/batch_fixtures/<name>/` in the format of
`testdata/fixtures/*` (see generate_fixtures.py), with in fixture.json:

- `training_batch`: the batch size the training program was written for;
- `test_inputs` / `expected_outputs`: a batch of 3 (of the training batch for
  `fixed_batch_by_design`) and the program's inference model built for 3;
- `batch_cases`: batches of 1, the training batch and twice it plus one, each
  with the outputs of the program's inference model *built for that batch*
  (the batch-size flag set to it) restoring the same checkpoint; only the
  training batch for `fixed_batch_by_design`;
- `baked_batch_failure`: what TensorFlow does when the training graph's input
  tensors are replaced by placeholders of any batch (as a serving export does)
  and it is run at batch 3 and at twice the training batch plus one; at the
  training batch it must give the batch case's outputs, which is checked.

Run with tensorflow-cpu==2.21.0 and tf-keras==2.21.0 installed:
    python testdata/generate_batch_fixtures.py [--only NAME] [--out DIR]
It installs nothing and needs no network.
"""
import argparse
import os
import re
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from generate_fixtures import (  # noqa: E402  (sets up TensorFlow as the fixtures need it)
    SEED, batch_cases, case_inputs, check_close, flat, inference_outputs, inside, save, seeded_graph,
    session, spec, write_fixture,
)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

v1 = tf.compat.v1
TEST_BATCH = 3
FIXTURES = {}


def fixture(fn):
    FIXTURES[fn.__name__] = fn
    return fn


# ---------------------------------------------------------------- checks

def serve_training_graph(prefix, inputs, outputs, feeds):
    """Imports the training graph with each input tensor replaced by a
    placeholder whose batch is unknown, restores `prefix` and runs it."""
    graph = tf.Graph()
    with graph.as_default():
        placeholders = {
            key: v1.placeholder(s["dtype"], [None] + s["shape"][1:], name=f"serving_{key}")
            for key, s in inputs.items()
        }
        saver = v1.train.import_meta_graph(
            prefix + ".meta", input_map={s["tensor"]: placeholders[k] for k, s in inputs.items()},
            clear_devices=True)
        fetches = {k: graph.get_tensor_by_name(o["tensor"]) for k, o in outputs.items()}
        with session(graph) as sess:
            saver.restore(sess, prefix)
            return sess.run(fetches, {placeholders[k]: v for k, v in feeds.items()})


def unflat(values):
    """The inverse of generate_fixtures.flat for numeric tensors."""
    return {k: np.array(v["values"], dtype=v["dtype"]).reshape(v["shape"]) for k, v in values.items()}


def first_line(error):
    """The error's own sentence and the node that raised it, without the
    session's "Graph execution error" framing and stack trace."""
    lines = [line for line in error.message.splitlines() if line.strip()]
    nodes = [line.split("'")[1] for line in lines if line.startswith("Node: '")]
    framing = ("Graph execution error", "Detected at node", "Node:", "\t", " ", "[[")
    said = [line.strip() for line in lines if not line.startswith(framing)]
    where = f" (node {nodes[-1]})" if nodes else ""
    sentence = said[-1] if said else lines[0].strip()
    # A TensorArray's runtime name ends in a per-process counter.
    sentence = re.sub(r"(TensorArray [\w/]+?)_\d+:", r"\1:", sentence)
    return f"{type(error).__name__}: {sentence}{where}"


def baked_batch_failure(name, prefix, inputs, outputs, training_batch, cases, tolerance):
    """Serves the training graph at the training batch (it must reproduce the
    batch case) and at the other sizes in `cases` ({batch: (feeds,
    expected or None)}); returns one line saying what each other size does."""
    feeds, expected = cases[training_batch]
    check_close(f"{name} (training graph)", expected, serve_training_graph(prefix, inputs, outputs, feeds), tolerance)
    said = []
    for batch, (feeds, expected) in sorted(cases.items()):
        if batch == training_batch:
            continue
        try:
            got = serve_training_graph(prefix, inputs, outputs, feeds)
        except tf.errors.OpError as error:
            said.append(f"batch {batch} -> {first_line(error)}")
            continue
        if expected is None:
            said.append(f"batch {batch} -> runs, shapes {[list(np.shape(v)) for v in got.values()]} (no model exists at this batch)")
            continue
        wrong = [k for k in expected if np.shape(got[k]) != np.shape(expected[k])]
        if wrong:
            said.append("batch {} -> serves silently: {}".format(batch, ", ".join(
                f"{k} has shape {list(np.shape(got[k]))} where the model built for {batch} gives {list(np.shape(expected[k]))}"
                for k in wrong)))
            continue
        far = {k: float(np.max(np.abs(got[k] - expected[k]))) for k in expected}
        if max(far.values()) > tolerance:
            said.append(f"batch {batch} -> serves silently with other values (max abs difference {max(far.values()):.3g})")
        else:
            said.append(f"batch {batch} -> serves correctly")
    line = f"{name}: " + "; ".join(said)
    print(line)
    return line


def finish(name, doc, steps, inputs, outputs, training_batch, build, draw, tolerance=1e-5, fixed=False, extra=None):
    """Test batch, batch cases and the training graph's behaviour at other
    batches, then fixture.json and variables.json (by generate_fixtures)."""
    prefix = f"model.ckpt-{steps}"
    keys = sorted(outputs)
    test_batch = training_batch if fixed else TEST_BATCH
    test = case_inputs(draw, test_batch)
    expected = inference_outputs(lambda: build(test_batch), test, prefix, keys)
    sizes = [training_batch] if fixed else [1, training_batch, 2 * training_batch + 1]
    cases = batch_cases(build, draw, prefix, keys, sizes)
    # What the training graph is run on: the batch cases (and their outputs),
    # the test batch, and twice the training batch plus one even when no
    # model exists at that size.
    checked = {case["batch"]: (unflat(case["inputs"]), unflat(case["expected"])) for case in cases}
    checked[TEST_BATCH] = (case_inputs(draw, TEST_BATCH), None) if fixed else (test, expected)
    checked.setdefault(2 * training_batch + 1, (case_inputs(draw, 2 * training_batch + 1), None))
    line = baked_batch_failure(name, prefix, inputs, outputs, training_batch, checked, tolerance)
    data = {"training_batch": training_batch, "batch_cases": cases, "baked_batch_failure": line}
    data.update(extra or {})
    write_fixture(name, doc, steps, inputs, outputs, [], test, expected, tolerance=tolerance, extra=data)


# ---------------------------------------------------------------- 1. CIFAR-10 tutorial style

class Flags:
    """The tutorial's tf.app.flags.FLAGS: the batch size is a process-wide flag."""
    batch_size = 12


FLAGS = Flags()
IMAGE_SIZE = 8
NUM_CLASSES = 10
NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN = 64
INITIAL_LEARNING_RATE = 0.1
NUM_EPOCHS_PER_DECAY = 2.0
LEARNING_RATE_DECAY_FACTOR = 0.5


def read_cifar10(filename_queue):
    """cifar10_input.read_cifar10: one label byte, then depth-major pixels."""
    label_bytes, depth = 1, 3
    image_bytes = IMAGE_SIZE * IMAGE_SIZE * depth
    reader = v1.FixedLengthRecordReader(record_bytes=label_bytes + image_bytes)
    key, value = reader.read(filename_queue)
    record_bytes = tf.io.decode_raw(value, tf.uint8)
    label = tf.cast(tf.strided_slice(record_bytes, [0], [label_bytes]), tf.int32)
    depth_major = tf.reshape(
        tf.strided_slice(record_bytes, [label_bytes], [label_bytes + image_bytes]), [depth, IMAGE_SIZE, IMAGE_SIZE])
    return label, tf.transpose(depth_major, [1, 2, 0])


def distorted_inputs(data_dir, batch_size):
    """cifar10_input.inputs + _generate_image_and_label_batch (shuffle=True)."""
    filename_queue = v1.train.string_input_producer([os.path.join(data_dir, "data_batch_1.bin")])
    label, uint8image = read_cifar10(filename_queue)
    float_image = tf.image.per_image_standardization(tf.cast(uint8image, tf.float32))
    float_image.set_shape([IMAGE_SIZE, IMAGE_SIZE, 3])
    label.set_shape([1])
    min_queue_examples = 16
    images, label_batch = v1.train.shuffle_batch(
        [float_image, label], batch_size=batch_size, num_threads=1,
        capacity=min_queue_examples + 3 * batch_size, min_after_dequeue=min_queue_examples, seed=21)
    v1.summary.image("images", images)
    return images, tf.reshape(label_batch, [batch_size])


def _activation_summary(x):
    v1.summary.histogram(x.op.name + "/activations", x)
    v1.summary.scalar(x.op.name + "/sparsity", tf.nn.zero_fraction(x))


def _variable_on_cpu(name, shape, initializer):
    with tf.device("/cpu:0"):
        return v1.get_variable(name, shape, initializer=initializer, dtype=tf.float32)


def _variable_with_weight_decay(name, shape, stddev, wd):
    var = _variable_on_cpu(name, shape, v1.truncated_normal_initializer(stddev=stddev, dtype=tf.float32))
    if wd is not None:
        weight_decay = tf.multiply(tf.nn.l2_loss(var), wd, name="weight_loss")
        v1.add_to_collection("losses", weight_decay)
    return var


def cifar_inference(images):
    """cifar10.inference, scaled down (8x8 images, narrower layers)."""
    with v1.variable_scope("conv1") as scope:
        kernel = _variable_with_weight_decay("weights", shape=[5, 5, 3, 8], stddev=5e-2, wd=None)
        conv = tf.nn.conv2d(images, kernel, [1, 1, 1, 1], padding="SAME")
        biases = _variable_on_cpu("biases", [8], v1.constant_initializer(0.0))
        conv1 = tf.nn.relu(tf.nn.bias_add(conv, biases), name=scope.name)
        _activation_summary(conv1)
    pool1 = tf.nn.max_pool2d(conv1, ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1], padding="SAME", name="pool1")
    norm1 = tf.nn.lrn(pool1, 4, bias=1.0, alpha=0.001 / 9.0, beta=0.75, name="norm1")
    with v1.variable_scope("conv2") as scope:
        kernel = _variable_with_weight_decay("weights", shape=[5, 5, 8, 8], stddev=5e-2, wd=None)
        conv = tf.nn.conv2d(norm1, kernel, [1, 1, 1, 1], padding="SAME")
        biases = _variable_on_cpu("biases", [8], v1.constant_initializer(0.1))
        conv2 = tf.nn.relu(tf.nn.bias_add(conv, biases), name=scope.name)
        _activation_summary(conv2)
    norm2 = tf.nn.lrn(conv2, 4, bias=1.0, alpha=0.001 / 9.0, beta=0.75, name="norm2")
    pool2 = tf.nn.max_pool2d(norm2, ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1], padding="SAME", name="pool2")
    with v1.variable_scope("local3") as scope:
        # Move everything into depth so we can perform a single matrix multiply.
        reshape = tf.reshape(pool2, [FLAGS.batch_size, -1])
        dim = reshape.get_shape()[1]
        weights = _variable_with_weight_decay("weights", shape=[dim, 24], stddev=0.04, wd=0.004)
        biases = _variable_on_cpu("biases", [24], v1.constant_initializer(0.1))
        local3 = tf.nn.relu(tf.matmul(reshape, weights) + biases, name=scope.name)
        _activation_summary(local3)
    with v1.variable_scope("local4") as scope:
        weights = _variable_with_weight_decay("weights", shape=[24, 16], stddev=0.04, wd=0.004)
        biases = _variable_on_cpu("biases", [16], v1.constant_initializer(0.1))
        local4 = tf.nn.relu(tf.matmul(local3, weights) + biases, name=scope.name)
        _activation_summary(local4)
    with v1.variable_scope("softmax_linear") as scope:
        weights = _variable_with_weight_decay("weights", [16, NUM_CLASSES], stddev=1 / 16.0, wd=None)
        biases = _variable_on_cpu("biases", [NUM_CLASSES], v1.constant_initializer(0.0))
        softmax_linear = tf.add(tf.matmul(local4, weights), biases, name=scope.name)
        _activation_summary(softmax_linear)
    return softmax_linear


def cifar_loss(logits, labels):
    labels = tf.cast(labels, tf.int64)
    cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=logits, name="cross_entropy_per_example")
    v1.add_to_collection("losses", tf.reduce_mean(cross_entropy, name="cross_entropy"))
    return tf.add_n(v1.get_collection("losses"), name="total_loss")


def _add_loss_summaries(total_loss):
    """Moving averages of the losses, for the summaries only."""
    loss_averages = v1.train.ExponentialMovingAverage(0.9, name="avg")
    losses = v1.get_collection("losses")
    loss_averages_op = loss_averages.apply(losses + [total_loss])
    for l in losses + [total_loss]:
        v1.summary.scalar(l.op.name + "_raw", l)
        v1.summary.scalar(l.op.name, loss_averages.average(l))
    return loss_averages_op


def cifar_train(total_loss, global_step):
    num_batches_per_epoch = NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN / FLAGS.batch_size
    decay_steps = int(num_batches_per_epoch * NUM_EPOCHS_PER_DECAY)
    lr = v1.train.exponential_decay(
        INITIAL_LEARNING_RATE, global_step, decay_steps, LEARNING_RATE_DECAY_FACTOR, staircase=True)
    v1.summary.scalar("learning_rate", lr)
    loss_averages_op = _add_loss_summaries(total_loss)
    with tf.control_dependencies([loss_averages_op]):
        opt = v1.train.GradientDescentOptimizer(lr)
        grads = opt.compute_gradients(total_loss)
    apply_gradient_op = opt.apply_gradients(grads, global_step=global_step)
    for var in v1.trainable_variables():
        v1.summary.histogram(var.op.name, var)
    with tf.control_dependencies([apply_gradient_op]):
        return tf.no_op(name="train")


def standardized_images(rng, n):
    """Images as the input pipeline hands them to the model: per-image standardized."""
    images = rng.randint(0, 256, size=(n, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32)
    mean = images.mean(axis=(1, 2, 3), keepdims=True)
    std = np.maximum(images.std(axis=(1, 2, 3), keepdims=True), 1.0 / np.sqrt(images[0].size))
    return ((images - mean) / std).astype(np.float32)


def wait_until_full(sess, queue, capacity):
    """One enqueue thread and a full queue at every dequeue: the shuffle then
    draws from the same elements on every run."""
    size = queue.size()
    while sess.run(size) < capacity:
        time.sleep(0.001)


def cifar_eval_build(batch_size):
    """cifar10_eval's model, with FLAGS.batch_size set to the batch it evaluates."""
    FLAGS.batch_size = batch_size
    images = v1.placeholder(tf.float32, [batch_size, IMAGE_SIZE, IMAGE_SIZE, 3])
    return {"images": images}, {"logits": cifar_inference(images)}


@fixture
def cifar_reshape_queue(out):
    """The CIFAR-10 tutorial's program, scaled down: a binary record file read by FixedLengthRecordReader, per-image standardization, tf.train.shuffle_batch (batch 12), conv/pool/lrn layers flattened by tf.reshape(pool2, [FLAGS.batch_size, -1]), weight-decay losses in a 'losses' collection, an ExponentialMovingAverage of the losses for summaries, exponential learning-rate decay, GradientDescent. (The tutorial's moving average of the variables is left out, so the served weights are the trained ones.)"""
    rng = np.random.RandomState(31)
    pixels = rng.randint(0, 256, size=(NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN, 3, IMAGE_SIZE, IMAGE_SIZE)).astype(np.uint8)
    labels = (pixels[:, 0].mean(axis=(1, 2)) / 25.6).astype(np.uint8) % NUM_CLASSES
    with open("data_batch_1.bin", "wb") as f:
        for label, image in zip(labels, pixels):
            f.write(bytes([label]) + image.tobytes())
    FLAGS.batch_size = 12
    steps = 24
    graph = seeded_graph()
    with graph.as_default():
        global_step = v1.train.get_or_create_global_step()
        with tf.device("/cpu:0"):
            images, labels_batch = distorted_inputs(".", FLAGS.batch_size)
        logits = cifar_inference(images)
        loss = cifar_loss(logits, labels_batch)
        train_op = cifar_train(loss, global_step)
        summaries = v1.summary.merge_all()
        (runner,) = [r for r in v1.get_collection(v1.GraphKeys.QUEUE_RUNNERS) if "shuffle_batch" in r.name]
        saver = v1.train.Saver(v1.global_variables())
        with session(graph) as sess:
            sess.run(v1.global_variables_initializer())
            coord = v1.train.Coordinator()
            threads = v1.train.start_queue_runners(sess, coord)
            for _ in range(steps):
                wait_until_full(sess, runner.queue, 16 + 3 * FLAGS.batch_size)
                sess.run([train_op, summaries])
            coord.request_stop()
            coord.join(threads, stop_grace_period_secs=5)
            save(sess, saver, steps)
    finish(
        "cifar_reshape_queue", cifar_reshape_queue.__doc__, steps,
        {"images": spec(images, [-1, IMAGE_SIZE, IMAGE_SIZE, 3])}, {"logits": spec(logits, [-1, NUM_CLASSES])},
        12, cifar_eval_build, lambda rng, n: {"images": standardized_images(rng, n)}, tolerance=1e-4,
        extra={"data_files": ["data_batch_1.bin"]},
    )
    FLAGS.batch_size = 12


# ---------------------------------------------------------------- 1b. CIFAR-10 tutorial with its variable averages

MOVING_AVERAGE_DECAY = 0.9999


def cifar_train_with_averages(total_loss, global_step):
    """cifar10.train as the tutorial writes it: cifar_train's gradient step,
    then an ExponentialMovingAverage of every trainable variable (its decay
    capped by the step count) that the train op also waits for."""
    apply_gradient_op = cifar_train(total_loss, global_step)
    variable_averages = v1.train.ExponentialMovingAverage(MOVING_AVERAGE_DECAY, global_step)
    variables_averages_op = variable_averages.apply(v1.trainable_variables())
    with tf.control_dependencies([apply_gradient_op, variables_averages_op]):
        return tf.no_op(name="train_with_averages")


def averaged_outputs(build, feeds, prefix, outputs):
    """cifar10_eval: the inference model restoring each variable from its
    moving average (`variables_to_restore()`), run on `feeds`."""
    graph = seeded_graph()
    with graph.as_default():
        placeholders, tensors = build()
        restore = v1.train.ExponentialMovingAverage(MOVING_AVERAGE_DECAY).variables_to_restore()
        with session(graph) as sess:
            v1.train.Saver(restore).restore(sess, prefix)
            return sess.run({k: tensors[k] for k in outputs}, {placeholders[k]: v for k, v in feeds.items()})


def averaged_variables():
    """The checkpoint key `variables_to_restore()` reads each variable from."""
    graph = seeded_graph()
    with graph.as_default():
        cifar_eval_build(FLAGS.batch_size)
        restore = v1.train.ExponentialMovingAverage(MOVING_AVERAGE_DECAY).variables_to_restore()
        return {var.op.name: key for key, var in restore.items() if key != var.op.name}


def monitored_training(train_op, runner, steps):
    """Runs `steps` train steps under MonitoredTrainingSession, whose scaffold
    saver (sharded) writes the checkpoint at the last step; keeps that
    checkpoint only, without the graph.pbtxt and events it also writes."""
    capacity = 16 + 3 * FLAGS.batch_size
    size = runner.queue.size()  # made before the session finalizes the graph

    def fill(step_context):
        while step_context.session.run(size) < capacity:
            time.sleep(0.001)

    config = v1.ConfigProto(device_count={"CPU": 1}, intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
    with v1.train.MonitoredTrainingSession(
            checkpoint_dir=".", save_checkpoint_steps=steps, save_checkpoint_secs=None,
            save_summaries_steps=None, save_summaries_secs=None, log_step_count_steps=None,
            config=config) as mon_sess:
        for _ in range(steps):
            mon_sess.run_step_fn(fill)
            mon_sess.run(train_op)
    last = f"model.ckpt-{steps}"
    for name in os.listdir("."):
        if name.startswith("model.ckpt-") and not name.startswith(last + "."):
            os.remove(name)
        elif name.startswith("events.") or name == "graph.pbtxt":
            os.remove(name)
    v1.train.update_checkpoint_state(".", last, all_model_checkpoint_paths=[last])


@fixture
def cifar_moving_averages(out):
    """The CIFAR-10 tutorial's program with its variable averages, scaled down: FixedLengthRecordReader + shuffle_batch (batch 12), conv/pool/lrn layers flattened by tf.reshape(pool2, [FLAGS.batch_size, -1]), weight-decay losses in a 'losses' collection, an ExponentialMovingAverage of the losses for summaries (zero-debiased), an ExponentialMovingAverage(0.9999, global_step) of every trainable variable the train op depends on, GradientDescent, trained by MonitoredTrainingSession with its default (sharded) saver. Expected outputs: the inference model with the trained weights, and (averaged_*) cifar10_eval's model restoring variables_to_restore()."""
    rng = np.random.RandomState(33)
    pixels = rng.randint(0, 256, size=(NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN, 3, IMAGE_SIZE, IMAGE_SIZE)).astype(np.uint8)
    labels = (pixels[:, 0].mean(axis=(1, 2)) / 25.6).astype(np.uint8) % NUM_CLASSES
    with open("data_batch_1.bin", "wb") as f:
        for label, image in zip(labels, pixels):
            f.write(bytes([label]) + image.tobytes())
    training_batch = FLAGS.batch_size = 12
    steps = 20
    graph = seeded_graph()
    with graph.as_default():
        global_step = v1.train.get_or_create_global_step()
        with tf.device("/cpu:0"):
            images, labels_batch = distorted_inputs(".", FLAGS.batch_size)
        logits = cifar_inference(images)
        loss = cifar_loss(logits, labels_batch)
        train_op = cifar_train_with_averages(loss, global_step)
        (runner,) = [r for r in v1.get_collection(v1.GraphKeys.QUEUE_RUNNERS) if "shuffle_batch" in r.name]
        monitored_training(train_op, runner, steps)
    prefix = f"model.ckpt-{steps}"
    draw = lambda rng, n: {"images": standardized_images(rng, n)}  # noqa: E731
    test = case_inputs(draw, TEST_BATCH)
    averaged = averaged_outputs(lambda: cifar_eval_build(TEST_BATCH), test, prefix, ["logits"])
    raw = inference_outputs(lambda: cifar_eval_build(TEST_BATCH), test, prefix, ["logits"])
    difference = float(np.max(np.abs(averaged["logits"] - raw["logits"])))
    assert difference > 1e-2, f"the averages are too close to the weights to tell apart ({difference})"
    averaged_cases = []
    for batch in [1, training_batch, 2 * training_batch + 1]:
        values = averaged_outputs(lambda: cifar_eval_build(batch), case_inputs(draw, batch), prefix, ["logits"])
        averaged_cases.append({"batch": batch, "expected": {"logits": flat("logits", values["logits"])}})
    FLAGS.batch_size = 12
    finish(
        "cifar_moving_averages", cifar_moving_averages.__doc__, steps,
        {"images": spec(images, [-1, IMAGE_SIZE, IMAGE_SIZE, 3])}, {"logits": spec(logits, [-1, NUM_CLASSES])},
        training_batch, cifar_eval_build, draw, tolerance=1e-4,
        extra={
            "data_files": ["data_batch_1.bin"],
            "moving_averages": {
                "decay": MOVING_AVERAGE_DECAY,
                "variables": averaged_variables(),
                "max_abs_difference": difference,
            },
            "averaged_outputs": {"logits": flat("logits", averaged["logits"])},
            "averaged_batch_cases": averaged_cases,
        },
    )
    FLAGS.batch_size = 12


# ---------------------------------------------------------------- 2. TF-Slim style softmax

def slim_softmax(logits, scope=None):
    """slim.softmax: softmax over the last dimension of a tensor of any rank,
    reshaped back to the input's shape (a Const when that shape is static)."""
    with v1.variable_scope(scope, "softmax", [logits]):
        num_logits = logits.get_shape()[-1]
        logits_2d = tf.reshape(logits, [-1, num_logits])
        predictions = tf.nn.softmax(logits_2d)
        return tf.reshape(predictions, tf.shape(logits))


def tiny_net(images, num_classes=10, is_training=True, spatial_squeeze=False, scope="TinyNet"):
    """A slim-style net with a 1x1 conv classifier and its end_points; with
    spatial_squeeze=False the logits stay [batch, 1, 1, classes]."""
    end_points = {}
    regularizer = tf.keras.regularizers.l2(4e-5) if is_training else None
    with v1.variable_scope(scope, "TinyNet", [images]):
        net = v1.layers.conv2d(images, 4, [3, 3], padding="same", activation=tf.nn.relu,
                               kernel_regularizer=regularizer, name="Conv2d_1a_3x3")
        end_points["Conv2d_1a_3x3"] = net
        net = v1.layers.max_pooling2d(net, [2, 2], 2, name="MaxPool_2a_2x2")
        net = v1.layers.conv2d(net, 16, [3, 3], padding="valid", activation=tf.nn.relu,
                               kernel_regularizer=regularizer, name="Conv2d_3a_3x3")
        end_points["Conv2d_3a_3x3"] = net
        logits = v1.layers.conv2d(net, num_classes, [1, 1], activation=None, name="Conv2d_1c_1x1")
        if spatial_squeeze:
            logits = tf.squeeze(logits, [1, 2], name="SpatialSqueeze")
        end_points["Logits"] = logits
        end_points["Predictions"] = slim_softmax(logits, scope="Predictions")
    return logits, end_points


def slim_eval_build(batch_size):
    """eval_image_classifier's model: a static batch from its batching, so the
    softmax's reshape-back shape is folded to [batch_size, 1, 1, 10]."""
    images = v1.placeholder(tf.float32, [batch_size, 6, 6, 3])
    logits, end_points = tiny_net(images, is_training=False)
    return {"images": images}, {"logits": logits, "probabilities": end_points["Predictions"]}


@fixture
def slim_softmax_folded(out):
    """A TF-Slim-style net (v1.layers convs, a 1x1 conv classifier left unsqueezed, [batch, 1, 1, 10]) whose Predictions end point is slim.softmax: softmax on the logits reshaped to 2-D, reshaped back by tf.shape(logits), which TensorFlow folds to the Const [8, 1, 1, 10] because the tf.data batch is static (drop_remainder=True); L2 regularization losses, RMSProp with slim's defaults."""
    rng = np.random.RandomState(32)
    images = rng.rand(48, 6, 6, 3).astype(np.float32)
    labels = (images[:, :3, :3, 0].mean(axis=(1, 2)) * 10).astype(np.int64) % 10
    batch_size = 8
    steps = 12
    graph = seeded_graph()
    with graph.as_default():
        dataset = (tf.data.Dataset.from_tensor_slices((images, labels)).shuffle(48, seed=5).repeat()
                   .batch(batch_size, drop_remainder=True))
        batch_images, batch_labels = v1.data.make_one_shot_iterator(dataset).get_next()
        logits, end_points = tiny_net(batch_images, is_training=True)
        probabilities = end_points["Predictions"]
        folded = [op for op in graph.get_operations()
                  if op.type == "Const" and op.name.startswith("TinyNet/Predictions/")
                  and tf.make_ndarray(op.get_attr("value")).tolist() == [batch_size, 1, 1, 10]]
        assert folded, "tf.shape(logits) was not folded to a Const"
        v1.losses.softmax_cross_entropy(tf.one_hot(batch_labels, 10), tf.squeeze(logits, [1, 2]), label_smoothing=0.1)
        total_loss = v1.losses.get_total_loss()
        v1.summary.scalar("total_loss", total_loss)
        step = v1.train.get_or_create_global_step()
        optimizer = v1.train.RMSPropOptimizer(0.01, decay=0.9, momentum=0.9, epsilon=1.0)
        train_op = optimizer.minimize(total_loss, global_step=step)
        saver = v1.train.Saver()
        with session(graph) as sess:
            sess.run(v1.global_variables_initializer())
            for _ in range(steps):
                sess.run(train_op)
            save(sess, saver, steps)
    finish(
        "slim_softmax_folded", slim_softmax_folded.__doc__, steps,
        {"images": spec(batch_images, [-1, 6, 6, 3])},
        {"logits": spec(logits, [-1, 1, 1, 10]), "probabilities": spec(probabilities, [-1, 1, 1, 10])},
        batch_size, slim_eval_build, lambda rng, n: {"images": rng.rand(n, 6, 6, 3).astype(np.float32)},
        extra={"folded_shape_const": folded[0].name},
    )


# ---------------------------------------------------------------- 3. PTB-style LSTM

class SmallConfig:
    init_scale = 0.1
    learning_rate = 1.0
    max_grad_norm = 5
    num_steps = 5
    hidden_size = 10
    vocab_size = 12
    batch_size = 8


class PTBModel:
    """The PTB tutorial's model: placeholders of the configured batch, an LSTM
    whose initial state is cell.zero_state(batch_size), logits reshaped to
    [batch_size, num_steps, vocab_size]."""

    def __init__(self, is_training, config):
        self.batch_size = batch_size = config.batch_size
        self.num_steps = num_steps = config.num_steps
        size, vocab_size = config.hidden_size, config.vocab_size
        self._input_data = v1.placeholder(tf.int32, [batch_size, num_steps], name="input_data")
        self._targets = v1.placeholder(tf.int32, [batch_size, num_steps], name="targets")
        cell = v1.nn.rnn_cell.BasicLSTMCell(size, forget_bias=0.0, state_is_tuple=True)
        self._initial_state = cell.zero_state(batch_size, tf.float32)
        with tf.device("/cpu:0"):
            embedding = v1.get_variable("embedding", [vocab_size, size], dtype=tf.float32)
            inputs = tf.nn.embedding_lookup(embedding, self._input_data)
        outputs, state = v1.nn.dynamic_rnn(cell, inputs, initial_state=self._initial_state)
        output = tf.reshape(outputs, [-1, size])
        softmax_w = v1.get_variable("softmax_w", [size, vocab_size], dtype=tf.float32)
        softmax_b = v1.get_variable("softmax_b", [vocab_size], dtype=tf.float32)
        logits = v1.nn.xw_plus_b(output, softmax_w, softmax_b)
        self._logits = tf.reshape(logits, [batch_size, num_steps, vocab_size])
        self._probabilities = tf.nn.softmax(self._logits, name="probabilities")
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=self._targets, logits=self._logits)
        self._cost = cost = tf.reduce_sum(loss) / batch_size
        self._final_state = state
        if not is_training:
            return
        self._lr = tf.Variable(0.0, trainable=False, name="learning_rate")
        tvars = v1.trainable_variables()
        grads, _ = tf.clip_by_global_norm(tf.gradients(cost, tvars), config.max_grad_norm)
        optimizer = v1.train.GradientDescentOptimizer(self._lr)
        self._train_op = optimizer.apply_gradients(zip(grads, tvars), global_step=v1.train.get_or_create_global_step())
        self._new_lr = v1.placeholder(tf.float32, shape=[], name="new_learning_rate")
        self._lr_update = v1.assign(self._lr, self._new_lr)

    def assign_lr(self, session, lr_value):
        session.run(self._lr_update, feed_dict={self._new_lr: lr_value})


def ptb_iterator(raw_data, batch_size, num_steps):
    """The tutorial's first reader: the corpus cut into batch_size rows, walked num_steps at a time."""
    raw_data = np.array(raw_data, dtype=np.int32)
    batch_len = len(raw_data) // batch_size
    data = raw_data[:batch_size * batch_len].reshape(batch_size, batch_len)
    for i in range((batch_len - 1) // num_steps):
        x = data[:, i * num_steps:(i + 1) * num_steps]
        y = data[:, i * num_steps + 1:(i + 1) * num_steps + 1]
        yield x, y


def ptb_build(batch_size):
    """The tutorial's evaluation model (its test model runs batch_size=1)."""
    config = SmallConfig()
    config.batch_size = batch_size
    initializer = v1.random_uniform_initializer(-config.init_scale, config.init_scale)
    with v1.variable_scope("Model", reuse=None, initializer=initializer):
        model = PTBModel(is_training=False, config=config)
    return {"input_data": model._input_data}, {"probabilities": model._probabilities}


def corpus(rng, n):
    """Token ids with structure to learn: a few repeated phrases and noise."""
    phrases = [[1, 2, 3, 4], [5, 6, 7], [8, 9, 2, 10], [11, 3, 6]]
    words = []
    while len(words) < n:
        words += phrases[rng.randint(len(phrases))] + ([0] if rng.rand() < 0.3 else [])
    return words[:n]


@fixture
def rnn_zero_state(out):
    """The PTB language-model tutorial's program, scaled down: int32 placeholders of [batch_size, num_steps] fed by feed_dict from a numpy reader, an embedding on the CPU, BasicLSTMCell whose initial state is cell.zero_state(batch_size, tf.float32) (and is fed the previous window's final state while training, as the tutorial does), dynamic_rnn, logits reshaped to [batch_size, num_steps, vocab_size], gradients clipped by global norm, GradientDescent with a learning-rate variable. The placeholders' static batch also gives dynamic_rnn's TensorArrays the element shape [8, 10] (an attribute, not a Const); serving another batch fails there first."""
    config = SmallConfig()
    rng = np.random.RandomState(33)
    raw = corpus(rng, 8 * 5 * 6 + 8)
    epochs = 3
    graph = seeded_graph()
    with graph.as_default():
        initializer = v1.random_uniform_initializer(-config.init_scale, config.init_scale)
        with v1.variable_scope("Model", reuse=None, initializer=initializer):
            m = PTBModel(is_training=True, config=config)
        saver = v1.train.Saver()
        steps = 0
        with session(graph) as sess:
            sess.run(v1.global_variables_initializer())
            for epoch in range(epochs):
                m.assign_lr(sess, config.learning_rate * 0.5 ** max(epoch - 1, 0))
                state = sess.run(m._initial_state)
                for x, y in ptb_iterator(raw, m.batch_size, m.num_steps):
                    feed = {m._input_data: x, m._targets: y}
                    feed[m._initial_state.c] = state.c
                    feed[m._initial_state.h] = state.h
                    _, state = sess.run([m._train_op, m._final_state], feed)
                    steps += 1
            save(sess, saver, steps)
    finish(
        "rnn_zero_state", rnn_zero_state.__doc__, steps,
        {"input_data": spec(m._input_data, [-1, config.num_steps])},
        {"probabilities": spec(m._probabilities, [-1, config.num_steps, config.vocab_size])},
        config.batch_size, ptb_build,
        lambda rng, n: {"input_data": rng.randint(0, config.vocab_size, size=(n, config.num_steps)).astype(np.int32)},
    )


# ---------------------------------------------------------------- 4. batch fixed by design

SLATE_SIZE = 8
CANDIDATE_FEATURES = 4


def slate_ranker(candidates, slate_size):
    """A listwise ranker that reads a whole slate at once: each candidate is
    encoded, the slate's encodings are concatenated into one row, and a dense
    layer over that row scores every position of the slate."""
    with v1.variable_scope("candidate"):
        w = v1.get_variable("weights", [CANDIDATE_FEATURES, 6], initializer=v1.glorot_uniform_initializer(seed=41))
        b = v1.get_variable("biases", [6], initializer=v1.zeros_initializer())
        encoded = tf.nn.relu(tf.matmul(candidates, w) + b)
    slate = tf.reshape(encoded, [1, slate_size * 6], name="slate")
    with v1.variable_scope("context"):
        w = v1.get_variable("weights", [slate_size * 6, 16], initializer=v1.glorot_uniform_initializer(seed=42))
        b = v1.get_variable("biases", [16], initializer=v1.zeros_initializer())
        context = tf.nn.tanh(tf.matmul(slate, w) + b)
    with v1.variable_scope("scores"):
        w = v1.get_variable("weights", [16, slate_size], initializer=v1.glorot_uniform_initializer(seed=43))
        b = v1.get_variable("biases", [slate_size], initializer=v1.zeros_initializer())
        logits = tf.matmul(context, w) + b
    scores = tf.reshape(logits, [slate_size], name="slate_scores")
    return scores, tf.nn.softmax(scores, name="slate_probabilities")


def slate_build(batch_size):
    assert batch_size == SLATE_SIZE, "the ranker reads slates of exactly SLATE_SIZE candidates"
    candidates = v1.placeholder(tf.float32, [batch_size, CANDIDATE_FEATURES])
    scores, probabilities = slate_ranker(candidates, batch_size)
    return {"candidates": candidates}, {"scores": scores, "probabilities": probabilities}


@fixture
def fixed_batch_by_design(out):
    """A listwise slate ranker whose batch is a slate of exactly 8 candidates by design: slice_input_producer + tf.train.batch (one thread, in order) deliver a slate, each candidate is encoded, tf.reshape(encoded, [1, 8 * 6]) puts the whole slate in one row for a dense layer that scores all 8 positions, ListNet softmax cross-entropy against the slate's relevance, Adagrad. Only the training batch can be served."""
    rng = np.random.RandomState(34)
    slates = 10
    features = rng.rand(slates * SLATE_SIZE, CANDIDATE_FEATURES).astype(np.float32)
    relevance = (features @ np.array([1.0, -0.5, 0.8, 0.2], dtype=np.float32)).astype(np.float32)
    steps = 20
    graph = seeded_graph()
    with graph.as_default():
        x, y = v1.train.slice_input_producer([features, relevance], shuffle=False)
        candidates, candidate_relevance = v1.train.batch([x, y], batch_size=SLATE_SIZE, num_threads=1, capacity=32)
        scores, probabilities = slate_ranker(candidates, SLATE_SIZE)
        target = tf.nn.softmax(candidate_relevance * 3.0)
        loss = tf.nn.softmax_cross_entropy_with_logits(labels=target, logits=scores)
        step = v1.train.get_or_create_global_step()
        train = v1.train.AdagradOptimizer(0.2).minimize(loss, global_step=step)
        saver = v1.train.Saver()
        with session(graph) as sess:
            sess.run(v1.global_variables_initializer())
            coord = v1.train.Coordinator()
            threads = v1.train.start_queue_runners(sess, coord)
            for _ in range(steps):
                sess.run(train)
            coord.request_stop()
            coord.join(threads, stop_grace_period_secs=5)
            save(sess, saver, steps)
    finish(
        "fixed_batch_by_design", fixed_batch_by_design.__doc__, steps,
        {"candidates": spec(candidates, [-1, CANDIDATE_FEATURES])},
        {"scores": spec(scores, [-1]), "probabilities": spec(probabilities, [-1])},
        SLATE_SIZE, slate_build, lambda rng, n: {"candidates": rng.rand(n, CANDIDATE_FEATURES).astype(np.float32)},
        fixed=True, extra={"batch_fixed_by_design": True},
    )


# ---------------------------------------------------------------- 5. tf.fill and tf.tile with the batch

CLS_ID = 1
SEQ_VOCAB = 16
SEQ_LEN = 7


def attention_classifier(tokens, batch_size, embedding_size=8, classes=3):
    """Prepends a [CLS] id built by tf.fill([batch_size, 1]), embeds, pools
    with attention against a learned query tiled to [batch_size, d]."""
    cls = tf.fill([batch_size, 1], CLS_ID, name="cls_ids")
    ids = tf.concat([cls, tokens], axis=1)
    embedding = v1.get_variable("embedding", [SEQ_VOCAB, embedding_size], initializer=v1.random_normal_initializer(seed=51))
    x = tf.nn.embedding_lookup(embedding, ids)
    with v1.variable_scope("attention"):
        query = v1.get_variable("query", [embedding_size], initializer=v1.random_normal_initializer(seed=52))
        queries = tf.tile(tf.expand_dims(query, 0), [batch_size, 1], name="queries")
        weights = tf.nn.softmax(tf.reduce_sum(x * tf.expand_dims(queries, 1), axis=2))
        pooled = tf.reduce_sum(x * tf.expand_dims(weights, 2), axis=1)
    logits = v1.layers.dense(pooled, classes, name="logits")
    return logits, tf.nn.softmax(logits, name="probabilities")


def attention_build(batch_size):
    tokens = v1.placeholder(tf.int32, [None, SEQ_LEN])
    logits, probabilities = attention_classifier(tokens, batch_size)
    return {"tokens": tokens}, {"logits": logits, "probabilities": probabilities}


def token_batch(rng, n):
    return rng.randint(2, SEQ_VOCAB, size=(n, SEQ_LEN)).astype(np.int32)


@fixture
def fill_tile_attention(out):
    """A sequence classifier whose program takes batch_size as a Python int: a [CLS] column made by tf.fill([batch_size, 1], CLS_ID) concatenated before the token ids, attention pooling against a learned query tiled by tf.tile(query, [batch_size, 1]); tf.data batches (repeat, then batch(6), no drop_remainder, so the input's batch dimension is unknown), Nesterov momentum."""
    rng = np.random.RandomState(35)
    tokens = token_batch(rng, 36)
    labels = (tokens[:, 0] % 3).astype(np.int32)
    batch_size = 6
    steps = 18
    graph = seeded_graph()
    with graph.as_default():
        batch_tokens, batch_labels = v1.data.make_one_shot_iterator(
            tf.data.Dataset.from_tensor_slices((tokens, labels)).repeat().batch(batch_size)).get_next()
        logits, probabilities = attention_classifier(batch_tokens, batch_size)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=batch_labels, logits=logits))
        step = v1.train.get_or_create_global_step()
        train = v1.train.MomentumOptimizer(0.2, 0.9, use_nesterov=True).minimize(loss, global_step=step)
        saver = v1.train.Saver()
        with session(graph) as sess:
            sess.run(v1.global_variables_initializer())
            for _ in range(steps):
                sess.run(train)
            save(sess, saver, steps)
    finish(
        "fill_tile_attention", fill_tile_attention.__doc__, steps,
        {"tokens": spec(batch_tokens, [-1, SEQ_LEN])},
        {"logits": spec(logits, [-1, 3]), "probabilities": spec(probabilities, [-1, 3])},
        batch_size, attention_build, lambda rng, n: {"tokens": token_batch(rng, n)},
    )


# ---------------------------------------------------------------- 6. a TensorArray of the batch's size

def standardize_each(images, batch_size):
    """Per-image standardization one example at a time, the way programs
    wrote it for per-example ops: a while loop over range(batch_size) writing
    a TensorArray of size batch_size."""
    with tf.name_scope("standardize_each"):
        standardized = tf.TensorArray(tf.float32, size=batch_size)

        def body(i, ta):
            return i + 1, ta.write(i, tf.image.per_image_standardization(images[i]))

        _, standardized = v1.while_loop(lambda i, _: i < batch_size, body, [tf.constant(0), standardized])
        return standardized.stack()


def tensorarray_model(images, batch_size):
    x = standardize_each(images, batch_size)
    x = v1.layers.flatten(x)
    x = v1.layers.dense(x, 12, activation=tf.nn.relu, name="hidden")
    return v1.layers.dense(x, 3, name="logits")


def tensorarray_build(batch_size):
    images = v1.placeholder(tf.float32, [None, 4, 4, 1])
    return {"images": images}, {"logits": tensorarray_model(images, batch_size)}


@fixture
def tensorarray_batch_loop(out):
    """Images standardized one at a time in a control-flow-v1 while loop over range(batch_size) that writes a TensorArray(size=batch_size) and stacks it, then a small MLP; tf.data batches of 8 (input batch dimension unknown), Adam."""
    rng = np.random.RandomState(36)
    images = (rng.rand(40, 4, 4, 1) * rng.rand(40, 1, 1, 1) * 5).astype(np.float32)
    labels = (images[:, :2, :2, 0].mean(axis=(1, 2)) > images.mean(axis=(1, 2, 3))).astype(np.int32)
    batch_size = 8
    steps = 10
    graph = seeded_graph()
    with graph.as_default():
        batch_images, batch_labels = v1.data.make_one_shot_iterator(
            tf.data.Dataset.from_tensor_slices((images, labels)).repeat().batch(batch_size)).get_next()
        logits = tensorarray_model(batch_images, batch_size)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=batch_labels, logits=logits))
        step = v1.train.get_or_create_global_step()
        train = v1.train.AdamOptimizer(0.02).minimize(loss, global_step=step)
        saver = v1.train.Saver()
        with session(graph) as sess:
            sess.run(v1.global_variables_initializer())
            for _ in range(steps):
                sess.run(train)
            save(sess, saver, steps)
    finish(
        "tensorarray_batch_loop", tensorarray_batch_loop.__doc__, steps,
        {"images": spec(batch_images, [-1, 4, 4, 1])}, {"logits": spec(logits, [-1, 3])},
        batch_size, tensorarray_build,
        lambda rng, n: {"images": (rng.rand(n, 4, 4, 1) * rng.rand(n, 1, 1, 1) * 5).astype(np.float32)},
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=sorted(FIXTURES))
    parser.add_argument("--out", default=os.path.join(HERE, "batch_fixtures"))
    args = parser.parse_args()
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
