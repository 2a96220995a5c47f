"""Writes servegraph's TF-Slim fixtures: small image classifiers built from
`tf-slim` layers and nets and trained the way TF-Slim's
`train_image_classifier.py` trains them, each a directory under
`testdata/slim_fixtures/` in the format of `testdata/fixtures/` (see its
README), plus the outputs of the evaluation graph restoring the variables'
moving averages.

What the training program does, as the script does it:

- the images come through an input pipeline (a `tf.train.batch` queue, with
  or without slim's prefetch queue behind it, or a `tf.data` iterator);
- the net is built under its slim `arg_scope` with `is_training=True` as a
  Python bool, so batch norm is a `FusedBatchNormV3` in training mode whose
  moving statistics are updated by ops in `UPDATE_OPS`, and dropout is live;
- the loss is softmax cross entropy with label smoothing (plus the auxiliary
  head's, weighted 0.4, where the net has one) and the regularization losses;
- `ExponentialMovingAverage(decay, global_step).apply(model variables)`, the
  `UPDATE_OPS`, and the optimizer's (Momentum or RMSProp, on an exponentially
  decayed learning rate) update are grouped into the train op;
- a `tf.compat.v1.train.Saver` writes the checkpoint and its meta graph.

`fixture.json` holds, as for the other fixtures, the outputs of the net built
with `is_training=False` restoring the checkpoint's variables (what
`eval_image_classifier.py` computes without `--moving_average_decay`), under
`expected_outputs` and in each batch case's `expected`; and the outputs of
the same evaluation graph restoring `ema.variables_to_restore()` instead
(what it computes with `--moving_average_decay`), under
`moving_average_expected_outputs` and each batch case's
`moving_average_expected`.

Needs tensorflow-cpu==2.21.0, tf-keras==2.21.0 and tf-slim==1.1.0:
    python testdata/generate_slim_fixtures.py [--only NAME] [--out DIR]
It installs nothing and needs no network.
"""
import argparse
import importlib
import json
import os
import re
import shutil
import sys

import numpy as np

from generate_fixtures import SEED, flat, inside, save, seeded_graph, session, spec, tf, v1  # noqa: E402


def alias_moved_modules():
    """tf-slim 1.1.0 builds its layers through `tensorflow.python.layers`,
    whose lazy loaders import Keras's legacy layers as
    `tf_keras.legacy_tf_layers[.MODULE]`; tf-keras 2.21 keeps that package
    under `tf_keras.src.legacy_tf_layers`. Both names are made to resolve to
    the moved package and its modules before tf-slim is imported."""
    moved = importlib.import_module("tf_keras.src.legacy_tf_layers")
    sys.modules.setdefault("tf_keras.legacy_tf_layers", moved)
    for module in ["base", "convolutional", "core", "normalization", "pooling", "variable_scope_shim"]:
        sys.modules.setdefault(
            f"tf_keras.legacy_tf_layers.{module}",
            importlib.import_module(f"tf_keras.src.legacy_tf_layers.{module}"))


alias_moved_modules()
import tf_slim as slim  # noqa: E402
from tf_slim.nets import inception_v2, resnet_v1  # noqa: E402

SIZE = 24
CHANNELS = 3
CLASSES = 3
TRAINING_BATCH = 4
EXAMPLES = 48
FIXTURES = {}


def fixture(**config):
    def register(fn):
        FIXTURES[fn.__name__] = dict(config, net=fn, doc=fn.__doc__)
        return fn
    return register


# --- The nets, as TF-Slim's nets factory builds them ------------------------


@fixture(optimizer="momentum", pipeline="queue", steps=40, learning_rate=0.02, ema_decay=0.9999)
def slim_resnet_v1(images, is_training):
    """`tf_slim.nets.resnet_v1` (root block, two stages of bottleneck units with projection and identity shortcuts, global pooling) under `resnet_arg_scope`, images from a `tf.train.batch` queue, Momentum."""
    blocks = [
        resnet_v1.resnet_v1_block("block1", base_depth=4, num_units=2, stride=2),
        resnet_v1.resnet_v1_block("block2", base_depth=8, num_units=1, stride=1),
    ]
    with slim.arg_scope(resnet_v1.resnet_arg_scope(weight_decay=1e-4, batch_norm_decay=0.9)):
        net, end_points = resnet_v1.resnet_v1(
            images, blocks, num_classes=CLASSES, is_training=is_training, global_pool=True,
            scope="resnet_v1_small")
    # The model garden's resnet_v1 squeezes the pooled logits to [batch, classes].
    logits = tf.squeeze(net, [1, 2], name="SpatialSqueeze")
    return logits, {"probabilities": end_points["predictions"]}


def inception_arg_scope(weight_decay=4e-5, batch_norm_decay=0.9997, batch_norm_epsilon=0.001):
    """The model garden's `inception_utils.inception_arg_scope` (tf-slim's
    `inception_v2_arg_scope` fixes the batch norm decay)."""
    batch_norm_params = {
        "decay": batch_norm_decay,
        "epsilon": batch_norm_epsilon,
        "updates_collections": v1.GraphKeys.UPDATE_OPS,
        "fused": None,
    }
    with slim.arg_scope([slim.conv2d, slim.fully_connected], weights_regularizer=slim.l2_regularizer(weight_decay)):
        with slim.arg_scope(
                [slim.conv2d], weights_initializer=slim.variance_scaling_initializer(),
                activation_fn=tf.nn.relu, normalizer_fn=slim.batch_norm,
                normalizer_params=batch_norm_params) as scope:
            return scope


@fixture(optimizer="momentum", pipeline="dataset", steps=40, learning_rate=0.02, ema_decay=0.9999)
def slim_inception_v2(images, is_training):
    """`tf_slim.nets.inception_v2_base` up to Mixed_4b (separable 7x7 stem, four-branch Mixed modules joined by concat, a stride-2 reduction module, depth multiplier 0.1) with inception_v2's head (average pooling, dropout, 1x1 logits) under the inception arg scope; images from a `tf.data` iterator, Momentum."""
    with slim.arg_scope(inception_arg_scope(batch_norm_decay=0.9)):
        with v1.variable_scope("InceptionV2", "InceptionV2", [images]) as scope:
            with slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training):
                net, _ = inception_v2.inception_v2_base(
                    images, final_endpoint="Mixed_4b", min_depth=4, depth_multiplier=0.1, scope=scope)
                with v1.variable_scope("Logits"):
                    size = net.get_shape().as_list()[1:3]
                    net = slim.avg_pool2d(net, size, padding="VALID", scope="AvgPool_1a")
                    net = slim.dropout(net, keep_prob=0.8, scope="Dropout_1b")
                    logits = slim.conv2d(
                        net, CLASSES, [1, 1], activation_fn=None, normalizer_fn=None, scope="Conv2d_1c_1x1")
                    logits = tf.squeeze(logits, [1, 2], name="SpatialSqueeze")
                probabilities = slim.softmax(logits, scope="Predictions")
    return logits, {"probabilities": probabilities}


# The model garden's mobilenet_v1 layer list, shortened: a full 3x3 conv,
# then depthwise-separable blocks (kind, stride, depth).
MOBILENET_CONV_DEFS = [
    ("conv", 2, 32),
    ("sep", 1, 64),
    ("sep", 2, 128),
    ("sep", 1, 128),
    ("sep", 2, 256),
    ("sep", 1, 256),
]


def mobilenet_v1_arg_scope(is_training=True, weight_decay=4e-5, stddev=0.09, batch_norm_decay=0.9997,
                           batch_norm_epsilon=0.001, regularize_depthwise=False):
    """The model garden's `mobilenet_v1_arg_scope`."""
    batch_norm_params = {"center": True, "scale": True, "decay": batch_norm_decay, "epsilon": batch_norm_epsilon}
    if is_training is not None:
        batch_norm_params["is_training"] = is_training
    regularizer = slim.l2_regularizer(weight_decay)
    with slim.arg_scope(
            [slim.conv2d, slim.separable_conv2d], weights_initializer=v1.truncated_normal_initializer(stddev=stddev),
            activation_fn=tf.nn.relu6, normalizer_fn=slim.batch_norm):
        with slim.arg_scope([slim.batch_norm], **batch_norm_params):
            with slim.arg_scope([slim.conv2d], weights_regularizer=regularizer):
                with slim.arg_scope(
                        [slim.separable_conv2d],
                        weights_regularizer=regularizer if regularize_depthwise else None) as scope:
                    return scope


def mobilenet_v1_base(inputs, depth_multiplier, min_depth):
    """The model garden's `mobilenet_v1_base` over `MOBILENET_CONV_DEFS`:
    each depthwise-separable block a 3x3 depthwise `separable_conv2d`
    (`num_outputs=None`) and a 1x1 pointwise `conv2d`, each with batch norm
    and relu6."""
    def depth(d):
        return max(int(d * depth_multiplier), min_depth)

    net = inputs
    with slim.arg_scope([slim.conv2d, slim.separable_conv2d], padding="SAME"):
        for i, (kind, stride, channels) in enumerate(MOBILENET_CONV_DEFS):
            if kind == "conv":
                net = slim.conv2d(net, depth(channels), [3, 3], stride=stride, scope=f"Conv2d_{i}")
            else:
                net = slim.separable_conv2d(
                    net, None, [3, 3], depth_multiplier=1, stride=stride, scope=f"Conv2d_{i}_depthwise")
                net = slim.conv2d(net, depth(channels), [1, 1], stride=1, scope=f"Conv2d_{i}_pointwise")
    return net


@fixture(optimizer="rmsprop", pipeline="prefetch", steps=40, learning_rate=0.01, ema_decay=0.9999)
def slim_mobilenet_v1(images, is_training):
    """MobileNet v1 written with slim layers as the model garden's `mobilenet_v1.py` (a 3x3 conv and depthwise-separable blocks, depth multiplier 0.25), average pooling, dropout, 1x1 logits, under `mobilenet_v1_arg_scope`; images from a `tf.train.batch` queue behind slim's prefetch queue, RMSProp."""
    with slim.arg_scope(mobilenet_v1_arg_scope(is_training=is_training, batch_norm_decay=0.9)):
        with v1.variable_scope("MobilenetV1", "MobilenetV1", [images]):
            with slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training):
                net = mobilenet_v1_base(images, depth_multiplier=0.25, min_depth=8)
                with v1.variable_scope("Logits"):
                    size = net.get_shape().as_list()[1:3]
                    net = slim.avg_pool2d(net, size, padding="VALID", scope="AvgPool_1a")
                    net = slim.dropout(net, keep_prob=0.999, scope="Dropout_1b")
                    logits = slim.conv2d(
                        net, CLASSES, [1, 1], activation_fn=None, normalizer_fn=None, scope="Conv2d_1c_1x1")
                    logits = tf.squeeze(logits, [1, 2], name="SpatialSqueeze")
                probabilities = slim.softmax(logits, scope="Predictions")
    return logits, {"probabilities": probabilities}


# --- Data, input pipelines, training ----------------------------------------


def draw_pixels(rng, n):
    """Raw images: 17 levels a channel (short in JSON once scaled)."""
    return rng.randint(0, 17, size=(n, SIZE, SIZE, CHANNELS)).astype(np.uint8)


def preprocess(pixels):
    """What the slim preprocessing leaves: values in [-1, 1]."""
    return pixels / 8.0 - 1.0


def draw_images(rng, n):
    return preprocess(draw_pixels(rng, n)).astype(np.float32)


def training_data():
    pixels = draw_pixels(np.random.RandomState(SEED), EXAMPLES)
    labels = np.argmax(preprocess(pixels).mean(axis=(1, 2)), axis=1).astype(np.int64)
    return pixels, labels


def input_pipeline(kind, images, labels):
    """The training batch (images, labels) through `kind` of pipeline."""
    if kind == "dataset":
        dataset = tf.data.Dataset.from_tensor_slices((images, labels)).shuffle(EXAMPLES, seed=SEED).repeat()
        dataset = dataset.map(lambda image, label: (preprocess(tf.cast(image, tf.float32)), label))
        dataset = dataset.batch(TRAINING_BATCH)
        return v1.data.make_one_shot_iterator(dataset).get_next()
    image, label = v1.train.slice_input_producer([images, labels], shuffle=True, seed=SEED)
    image = tf.image.random_flip_left_right(preprocess(tf.cast(image, tf.float32)), seed=SEED)
    batch_images, batch_labels = v1.train.batch(
        [image, label], batch_size=TRAINING_BATCH, num_threads=1, capacity=5 * TRAINING_BATCH)
    if kind == "prefetch":
        queue = slim.prefetch_queue.prefetch_queue([batch_images, batch_labels], capacity=2)
        batch_images, batch_labels = queue.dequeue()
    return batch_images, batch_labels


def optimizer(name, learning_rate):
    if name == "momentum":
        return v1.train.MomentumOptimizer(learning_rate, momentum=0.9, name="Momentum")
    return v1.train.RMSPropOptimizer(learning_rate, decay=0.9, momentum=0.9, epsilon=1.0)


def train_op(config, logits, labels):
    """The train op `train_image_classifier.py` builds: losses, moving
    averages of the model variables, UPDATE_OPS and the gradient update
    grouped, the total loss returned through them."""
    global_step = v1.train.get_or_create_global_step()
    one_hot = tf.one_hot(labels, CLASSES)
    v1.losses.softmax_cross_entropy(one_hot, logits, label_smoothing=0.1, weights=1.0)
    total_loss = tf.add_n(v1.losses.get_losses() + v1.losses.get_regularization_losses(), name="total_loss")
    update_ops = v1.get_collection(v1.GraphKeys.UPDATE_OPS)
    averages = v1.train.ExponentialMovingAverage(config["ema_decay"], global_step)
    update_ops.append(averages.apply(slim.get_model_variables()))
    learning_rate = v1.train.exponential_decay(
        config["learning_rate"], global_step, 10, 0.94, staircase=True, name="exponential_decay_learning_rate")
    opt = optimizer(config["optimizer"], learning_rate)
    gradients = opt.compute_gradients(total_loss, var_list=v1.trainable_variables())
    update_ops.append(opt.apply_gradients(gradients, global_step=global_step))
    v1.summary.scalar("total_loss", total_loss)
    v1.summary.scalar("learning_rate", learning_rate)
    update = tf.group(*update_ops)
    with tf.control_dependencies([update]):
        return tf.identity(total_loss, name="train_op")


def train(name, config):
    images, labels = training_data()
    graph = seeded_graph()
    with graph.as_default():
        batch_images, batch_labels = input_pipeline(config["pipeline"], images, labels)
        logits, outputs = config["net"](batch_images, is_training=True)
        train_tensor = train_op(config, logits, batch_labels)
        summaries = v1.summary.merge_all()
        saver = v1.train.Saver(max_to_keep=2)
        with session(graph) as sess:
            sess.run(v1.global_variables_initializer())
            coordinator = v1.train.Coordinator()
            threads = v1.train.start_queue_runners(sess, coordinator)
            for _ in range(config["steps"]):
                loss, _ = sess.run([train_tensor, summaries])
            coordinator.request_stop()
            coordinator.join(threads, stop_grace_period_secs=5)
            save(sess, saver, config["steps"])
        served = dict(outputs, logits=logits)
        print(f"{name}: final loss {loss:.4f}", file=sys.stderr)
        return (
            {"images": spec(batch_images, [-1, SIZE, SIZE, CHANNELS])},
            {k: spec(t, [-1] + t.get_shape().as_list()[1:]) for k, t in served.items()},
        )


# --- The evaluation program, raw and with moving averages -------------------


def evaluate(config, prefix, feeds, moving_averages):
    """The net built with `is_training=False` on a placeholder, restoring
    the checkpoint's variables, or with `moving_averages` their averages
    (`ema.variables_to_restore()`, as `eval_image_classifier.py` does)."""
    graph = seeded_graph()
    with graph.as_default():
        images = v1.placeholder(tf.float32, [None, SIZE, SIZE, CHANNELS], name="images")
        logits, outputs = config["net"](images, is_training=False)
        outputs = dict(outputs, logits=logits)
        if moving_averages:
            global_step = v1.train.get_or_create_global_step()
            averages = v1.train.ExponentialMovingAverage(config["ema_decay"], global_step)
            restore = averages.variables_to_restore(slim.get_model_variables())
            restore[global_step.op.name] = global_step
        else:
            restore = slim.get_variables_to_restore()
        saver = v1.train.Saver(restore)
        with session(graph) as sess:
            saver.restore(sess, prefix)
            return sess.run(outputs, {images: feeds})


def cases(config, prefix):
    result = []
    for batch in [1, TRAINING_BATCH, 2 * TRAINING_BATCH + 1]:
        feeds = draw_images(np.random.RandomState([SEED, batch]), batch)
        raw = evaluate(config, prefix, feeds, moving_averages=False)
        averaged = evaluate(config, prefix, feeds, moving_averages=True)
        result.append({
            "batch": batch,
            "inputs": {"images": flat("images", feeds)},
            "expected": {k: flat(k, v) for k, v in raw.items()},
            "moving_average_expected": {k: flat(k, v) for k, v in averaged.items()},
        })
    return result


def compact_json(data):
    """Indented JSON with each list of numbers on one line."""
    text = json.dumps(data, indent=1, sort_keys=True)
    return re.sub(r"\[[-0-9.eE,\s]+\]", lambda m: "[" + ",".join(m.group(0)[1:-1].split()).replace(",,", ",") + "]", text)


def write(name, config):
    inputs, outputs = train(name, config)
    prefix = f"model.ckpt-{config['steps']}"
    test = draw_images(np.random.RandomState(SEED + 1), 3)
    raw = evaluate(config, prefix, test, moving_averages=False)
    averaged = evaluate(config, prefix, test, moving_averages=True)
    gap = max(float(np.max(np.abs(raw[k] - averaged[k]))) for k in raw)
    print(f"{name}: raw and moving-average outputs differ by up to {gap:.4f}", file=sys.stderr)
    data = {
        "name": name,
        "description": config["doc"],
        "checkpoint_prefix": prefix,
        "inputs": inputs,
        "outputs": outputs,
        "training_flags": [],
        "test_inputs": {"images": flat("images", test)},
        "expected_outputs": {k: flat(k, v) for k, v in raw.items()},
        "moving_average_expected_outputs": {k: flat(k, v) for k, v in averaged.items()},
        "moving_average_decay": config["ema_decay"],
        "tolerance": 1e-4,
        "training_batch": TRAINING_BATCH,
        "batch_cases": cases(config, prefix),
    }
    with open("fixture.json", "w") as f:
        f.write(compact_json(data) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=sorted(FIXTURES))
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "slim_fixtures"))
    args = parser.parse_args()
    for name in args.only or sorted(FIXTURES):
        directory = os.path.join(os.path.abspath(args.out), name)
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory)
        np.random.seed(SEED)
        v1.set_random_seed(SEED)
        with inside(directory):
            write(name, FIXTURES[name])
        print(f"wrote {name}", file=sys.stderr)


if __name__ == "__main__":
    main()
