"""Model code shared by the benchmark's generator and its Python reference.

Two TF1 graph-mode models, each built by one function that takes the input
placeholders and a `training` flag; `training=False` builds the serving graph
(no dropout), the way a training program would rebuild it for export:

- `lstm`: a hand-written 4-layer LSTM unrolled over many time steps (matmuls,
  no rnn_cell, so graph construction is quick), dropout between layers,
  per-step logits. With Adam, gradient clipping and summaries the training
  graph has well over 150,000 nodes;
- `recommender`: two large embedding tables and a wide output layer, about
  620 MB of float32 variables, so that with Adam's two slots the checkpoint
  is about 1.85 GB.
"""
import tensorflow as tf

v1 = tf.compat.v1

# The LSTM graph's size: steps x layers cells, each ~130 nodes with its
# gradient and dropout.
LSTM_STEPS = 300
LSTM_LAYERS = 4
LSTM_FEATURES = 8
LSTM_HIDDEN = 16
LSTM_CLASSES = 5
LSTM_DROPOUT = 0.2

# The recommender's tables: 2 x 100,000 x 512 + 1,024 x 50,000 float32
# = 614 MB, plus a 1,024 x 1,024 hidden layer.
EMBED_ROWS = 100_000
EMBED_DIM = 512
HIDDEN = 1_024
OUTPUT_CLASSES = 50_000


def lstm_inputs():
    """The LSTM's feature and label placeholders (batch dimension unknown)."""
    features = v1.placeholder(tf.float32, [None, LSTM_STEPS, LSTM_FEATURES], name="features")
    labels = v1.placeholder(tf.int32, [None, LSTM_STEPS], name="labels")
    return features, labels


def lstm_layer(steps, layer, training):
    """One unrolled LSTM layer over a list of [batch, width] step tensors."""
    width = steps[0].shape[-1]
    with v1.variable_scope(f"encoder/lstm_{layer}"):
        kernel = v1.get_variable("kernel", [width + LSTM_HIDDEN, 4 * LSTM_HIDDEN])
        bias = v1.get_variable("bias", [4 * LSTM_HIDDEN], initializer=v1.zeros_initializer())
    batch = tf.shape(steps[0])[0]
    h = c = tf.zeros(tf.stack([batch, LSTM_HIDDEN]))
    outputs = []
    for t, x in enumerate(steps):
        with tf.name_scope(f"encoder/lstm_{layer}/step_{t}/"):
            gates = tf.nn.bias_add(tf.matmul(tf.concat([x, h], axis=1), kernel), bias)
            i, j, f, o = tf.split(gates, 4, axis=1)
            c = tf.sigmoid(f + 1.0) * c + tf.sigmoid(i) * tf.tanh(j)
            h = tf.sigmoid(o) * tf.tanh(c)
            out = tf.nn.dropout(h, rate=LSTM_DROPOUT) if training else h
        outputs.append(out)
    return outputs


def lstm(features, training):
    """Per-step logits [batch, steps, classes] of the unrolled LSTM."""
    steps = tf.unstack(features, axis=1)
    for layer in range(LSTM_LAYERS):
        steps = lstm_layer(steps, layer, training)
    with v1.variable_scope("output"):
        weights = v1.get_variable("weights", [LSTM_HIDDEN, LSTM_CLASSES])
        bias = v1.get_variable("bias", [LSTM_CLASSES], initializer=v1.zeros_initializer())
    stacked = tf.stack(steps, axis=1)
    flat = tf.reshape(stacked, [-1, LSTM_HIDDEN])
    logits = tf.nn.bias_add(tf.matmul(flat, weights), bias)
    shape = tf.stack([tf.shape(features)[0], LSTM_STEPS, LSTM_CLASSES])
    return tf.reshape(logits, shape, name="logits")


def recommender_inputs():
    """Two id placeholders (user and context) and the label placeholder."""
    users = v1.placeholder(tf.int64, [None], name="user_ids")
    contexts = v1.placeholder(tf.int64, [None], name="context_ids")
    labels = v1.placeholder(tf.int64, [None], name="labels")
    return users, contexts, labels


def recommender(users, contexts, training):
    """Logits over OUTPUT_CLASSES items from two embedded ids."""
    init = v1.random_normal_initializer(stddev=0.01)
    user_table = v1.get_variable("user_embedding", [EMBED_ROWS, EMBED_DIM], initializer=init)
    context_table = v1.get_variable("context_embedding", [EMBED_ROWS, EMBED_DIM], initializer=init)
    joined = tf.concat(
        [tf.nn.embedding_lookup(user_table, users), tf.nn.embedding_lookup(context_table, contexts)],
        axis=1,
    )
    hidden = dense(joined, HIDDEN, "hidden", tf.nn.relu)
    if training:
        hidden = tf.nn.dropout(hidden, rate=0.1)
    return tf.identity(dense(hidden, OUTPUT_CLASSES, "output", None), name="logits")


# The wide layer's kernel: 25,000 x 1,000 float32 = 100 MB.
WIDE_INPUTS = 25_000
WIDE_UNITS = 1_000


def wide_layer(features):
    """Logits from one 100 MB kernel."""
    return tf.identity(dense(features, WIDE_UNITS, "wide", None), name="logits")


def dense(x, units, name, activation):
    """A dense layer with its own variable scope (no tf-keras needed)."""
    with v1.variable_scope(name):
        init = v1.random_normal_initializer(stddev=0.01)
        kernel = v1.get_variable("kernel", [x.shape[-1], units], initializer=init)
        bias = v1.get_variable("bias", [units], initializer=v1.zeros_initializer())
    y = tf.nn.bias_add(tf.matmul(x, kernel), bias)
    return activation(y) if activation else y
