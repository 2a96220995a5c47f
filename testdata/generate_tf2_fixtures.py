"""Writes servegraph's TF2 fixtures: SavedModels written the way TF2 users
write them, by tf_keras `model.save()` after `fit` and by
`tf.saved_model.save` on a `tf.Module`, each in `testdata/tf2/<name>/`:

- saved_model/: the SavedModel exactly as TensorFlow wrote it;
- fixture.json: every signature's inputs and outputs (names, dtypes, shapes
  and tensors, read from saved_model.pb), a test batch for it (of a size the
  training never used) and the source model's own outputs on that batch,
  and its `batch_cases` (batches of 1, the training batch and twice it plus
  one, each with the source model's outputs; `training_batch` says the
  training batch);
  every variable TensorFlow lists in variables/ with the role of the object
  that owns it (model weight, optimizer, optimizer iterations, metric, ...),
  found by walking the saved object graph over the live Python objects, not
  from the keys' names; and the SavedModel's size in bytes.

`module_function` also holds a `tf.train.Checkpoint(model=module).save()`
of the same module (`checkpoint`, `ckpt-1.index`, `ckpt-1.data-*`) beside
saved_model/, described the same way under fixture.json's "checkpoint".

Run with tensorflow-cpu==2.21.0 and tf-keras==2.21.0 installed:
    python testdata/generate_tf2_fixtures.py [--out DIR] [NAME...]
    python testdata/generate_tf2_fixtures.py --batch-cases-only [NAME...]
(the second adds only `training_batch` and each signature's `batch_cases` to
fixture.json, computed from the saved_model/ already there: the tf_keras
model revived by `load_model`, or the module's restored functions).
It installs nothing and needs no network; every fixture (or each NAME) is
written in one process, in a fixed order, each from fixed seeds. Values are
deterministic, bytes are not quite: saved_model.pb and fingerprint.pb differ
a little from run to run, so regenerate only the fixtures that change.
"""
import argparse
import json
import os
import shutil
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402
import keras as keras3  # noqa: E402  (Keras 3, what `import keras` gives since TF 2.16)
from tensorflow.core.protobuf import saved_model_pb2  # noqa: E402
from tensorflow.core.protobuf import trackable_object_graph_pb2  # noqa: E402
from tensorflow.python.util import object_identity  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
tf.config.experimental.enable_op_determinism()

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 1234
TRAIN_BATCH = 8
TEST_BATCH = 5
TOLERANCE = 1e-5
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
VOCABULARY = ["apple", "banana", "cherry", "date"]
TEST_TOKENS = VOCABULARY + ["elderberry", "fig"]
FIXTURES = {}


def fixture(fn):
    FIXTURES[fn.__name__] = fn
    return fn


# --- what a SavedModel holds ---

def directory_bytes(directory):
    """{relative path: size} of every file under `directory`, and their total."""
    sizes = {}
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            sizes[os.path.relpath(path, directory).replace(os.sep, "/")] = os.path.getsize(path)
    return dict(sorted(sizes.items())), sum(sizes.values())


def tensor_info(info):
    shape = [-1 if d.size < 0 else d.size for d in info.tensor_shape.dim]
    if info.tensor_shape.unknown_rank:
        shape = None
    return {"tensor": info.name, "dtype": tf.dtypes.as_dtype(info.dtype).name, "shape": shape}


def signature_defs(saved_model_dir):
    """{key: {"method", "inputs", "outputs"}} of the serving MetaGraphDef."""
    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
        saved.ParseFromString(f.read())
    (meta,) = saved.meta_graphs
    assert list(meta.meta_info_def.tags) == ["serve"], meta.meta_info_def.tags
    return {
        key: {
            "method": sig.method_name,
            "inputs": {k: tensor_info(v) for k, v in sorted(sig.inputs.items())},
            "outputs": {k: tensor_info(v) for k, v in sorted(sig.outputs.items())},
        }
        for key, sig in sorted(meta.signature_def.items())
        if not key.startswith("__")
    }


def flat(array):
    array = np.asarray(array)
    if array.dtype == object:
        values = [v.decode() for v in array.reshape(-1)]
        return {"dtype": "string", "shape": list(array.shape), "values": values}
    return {"dtype": array.dtype.name, "shape": list(array.shape), "values": array.reshape(-1).tolist()}


def test_batch(inputs, rng, size=TEST_BATCH):
    """A batch of `size` rows (or the scalar) for each signature input;
    string inputs draw from TEST_TOKENS, which holds tokens out of every
    fixture's vocabulary too."""
    batch = {}
    for key, spec in inputs.items():
        shape = [size if d == -1 else d for d in spec["shape"]]
        if spec["dtype"] == "string":
            tokens = rng.choice(TEST_TOKENS, size=shape)
            batch[key] = np.asarray([t.encode() for t in tokens.reshape(-1)], dtype=object).reshape(shape)
            continue
        values = rng.standard_normal(shape) if shape else rng.uniform(0.5, 2.0)
        batch[key] = np.asarray(values, dtype=spec["dtype"])
    return batch


# --- which object owns each variable ---

def object_graph(prefix):
    reader = tf.train.load_checkpoint(prefix)
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor(OBJECT_GRAPH_KEY))
    return graph


def live_objects(root, graph):
    """{node id: the live Python object} for every node of the saved object
    graph, found by following each child edge through the objects' own
    SavedModel children (the ones tf.saved_model.save serialized). Nodes the
    save itself added (the `signatures` map and what hangs below it) have no
    live object and stay out; a variable among them is an error later."""
    cache = object_identity.ObjectIdentityDictionary()
    found, queue = {0: root}, [0]
    while queue:
        node_id = queue.pop(0)
        children = trackable_children(found[node_id], cache)
        for edge in graph.nodes[node_id].children:
            if edge.node_id in found:
                continue
            if edge.local_name not in children:
                continue
            found[edge.node_id] = children[edge.local_name]
            queue.append(edge.node_id)
    return found


def trackable_children(obj, cache):
    """The SavedModel children of a live object; none for a captured tensor (a
    table's handle) or a bare trackable the save made without initialising."""
    try:
        return obj._trackable_children(save_type="savedmodel", cache=cache)
    except AttributeError:
        return {}


class Roles:
    """Variable → role, by object identity; a variable claimed twice is an error."""

    def __init__(self):
        self.roles = object_identity.ObjectIdentityDictionary()

    def claim(self, variables, role):
        for variable in variables:
            previous = self.roles.get(variable)
            if previous is not None and previous != role:
                raise ValueError(f"{variable.name} is both {previous} and {role}")
            self.roles[variable] = role

    def of(self, variable):
        if variable not in self.roles:
            raise KeyError(f"no role for variable {variable.name}")
        return self.roles[variable]


def reachable_variables(root):
    """Every tf.Variable in the object graph below `root` (its checkpoint children)."""
    view = tf.train.TrackableView(root)
    return [o for o in view.descendants() if isinstance(o, tf.Variable)]


def keras_roles(model):
    roles = Roles()
    roles.claim(model.trainable_weights + model.non_trainable_weights, "weight")
    roles.claim([model.optimizer.iterations], "iterations")
    optimizer = [v for v in reachable_variables(model.optimizer) if v is not model.optimizer.iterations]
    roles.claim(optimizer, "optimizer")
    roles.claim([v for metric in model.metrics for v in metric.variables], "metric")
    return roles


def variables_listed(prefix, root, roles):
    """TensorFlow's list of the checkpoint's keys, each with the role, name and
    trainability of the variable the object graph says it holds."""
    graph = object_graph(prefix)
    objects = live_objects(root, graph)
    by_key = {}
    for node_id, node in enumerate(graph.nodes):
        for attribute in node.attributes:
            if node_id not in objects:
                raise KeyError(f"{attribute.checkpoint_key}: node {node_id} has no live object")
            variable = objects[node_id]
            if not isinstance(variable, (tf.Variable, keras3.Variable)):
                raise TypeError(f"{attribute.checkpoint_key} belongs to {variable!r}")
            # A Keras 3 variable wraps a tf.Variable: its name is what loaders restore.
            named = variable.value if isinstance(variable, keras3.Variable) else variable
            by_key[attribute.checkpoint_key] = {
                "role": roles.of(variable),
                "name": named.name.split(":")[0],
                "trainable": bool(variable.trainable),
            }
        if node.slot_variables:
            raise NotImplementedError("optimizer slot variables (.OPTIMIZER_SLOT) are not expected here")
    listed = []
    dtypes = tf.train.load_checkpoint(prefix).get_variable_to_dtype_map()
    for key, shape in tf.train.list_variables(prefix):
        dtype = dtypes[key].name
        if key == OBJECT_GRAPH_KEY:
            entry = {"role": "object_graph"}
        elif key in by_key:
            entry = by_key[key]
        else:
            raise KeyError(f"{prefix}: key {key} is in no object's attributes")
        listed.append({"key": key, "dtype": dtype, "shape": list(shape), **entry})
    return listed


# --- the fixture file ---

def checked_outputs(reloaded, key, sig, compute, batch):
    """`compute(key, batch)`, checked against the reloaded SavedModel's signature."""
    expected = {k: np.asarray(v) for k, v in compute(key, batch).items()}
    through_signature = reloaded.signatures[key](**{k: tf.constant(v) for k, v in batch.items()})
    assert sorted(expected) == sorted(sig["outputs"]), (key, sorted(expected), sorted(sig["outputs"]))
    for name, value in through_signature.items():
        np.testing.assert_allclose(value.numpy(), expected[name], rtol=0, atol=1e-6, err_msg=f"{key}/{name}")
    return expected


def batch_cases(reloaded, key, sig, compute):
    """Batches of 1, TRAIN_BATCH and twice it plus one (each from a generator
    of its own, seeded by the size, so no other draw moves) with the source
    model's outputs on them."""
    cases = []
    for size in [1, TRAIN_BATCH, 2 * TRAIN_BATCH + 1]:
        batch = test_batch(sig["inputs"], np.random.default_rng([SEED, size]), size)
        expected = checked_outputs(reloaded, key, sig, compute, batch)
        cases.append({
            "batch": size,
            "inputs": {k: flat(v) for k, v in batch.items()},
            "expected": {k: flat(v) for k, v in expected.items()},
        })
    return cases


def describe_signatures(saved_model_dir, compute, rng):
    """Each signature with a test batch and the outputs `compute(key, batch)`
    gives, and its batch cases."""
    reloaded = tf.saved_model.load(saved_model_dir)
    described = {}
    for key, sig in signature_defs(saved_model_dir).items():
        batch = test_batch(sig["inputs"], rng)
        expected = checked_outputs(reloaded, key, sig, compute, batch)
        described[key] = {
            **sig,
            "test_inputs": {k: flat(v) for k, v in batch.items()},
            "expected_outputs": {k: flat(v) for k, v in expected.items()},
            "batch_cases": batch_cases(reloaded, key, sig, compute),
        }
    return described


def write_fixture(out, name, description, saved_model_dir, signatures, variables, extra=None):
    files, total = directory_bytes(saved_model_dir)
    document = {
        "format": "tf2-saved-model",
        "description": description,
        "written_by": {"tensorflow": tf.__version__, "tf_keras": keras.__version__, "seed": SEED},
        "saved_model": "saved_model",
        "saved_model_bytes": total,
        "saved_model_files": files,
        "train_batch_size": TRAIN_BATCH,
        "training_batch": TRAIN_BATCH,
        "tolerance": TOLERANCE,
        "signatures": signatures,
        "variables": variables,
        **(extra or {}),
    }
    with open(os.path.join(out, "fixture.json"), "w") as f:
        json.dump(document, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{name}: {total} bytes, signatures {sorted(signatures)}, {len(variables)} keys")


# --- tf_keras models ---

def training_data(rng, features, classes=None, rows=32):
    x = rng.standard_normal((rows, features)).astype("float32")
    if classes is None:
        y = (x.sum(axis=1, keepdims=True) * 0.5).astype("float32")
    else:
        y = rng.integers(0, classes, rows).astype("int64")
    return x, y


def keras_single_output(model, output_key):
    """compute(key, batch) for a Keras model with one input and one output:
    the model itself in inference mode, keyed as serving_default names it."""

    def compute(key, batch):
        assert key == "serving_default", key
        (value,) = batch.values()
        if value.dtype == object:
            value = tf.constant(value)
        return {output_key: model(value, training=False).numpy()}

    return compute


def save_keras(model, out, name, description, rng):
    saved_model_dir = os.path.join(out, "saved_model")
    model.save(saved_model_dir)
    (signature,) = signature_defs(saved_model_dir).values()
    (output_key,) = signature["outputs"]
    signatures = describe_signatures(saved_model_dir, keras_single_output(model, output_key), rng)
    prefix = os.path.join(saved_model_dir, "variables", "variables")
    variables = variables_listed(prefix, model, keras_roles(model))
    write_fixture(out, name, description, saved_model_dir, signatures, variables)


@fixture
def keras_adam_metric(out, rng):
    """A functional tf_keras model compiled with Adam and an accuracy metric, fitted, saved with model.save()."""
    inputs = keras.Input(shape=(4,), name="features")
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    probs = keras.layers.Dense(3, activation="softmax", name="probs")(hidden)
    model = keras.Model(inputs, probs, name="adam_metric")
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = training_data(rng, 4, classes=3)
    model.fit(x, y, batch_size=TRAIN_BATCH, epochs=2, shuffle=False, verbose=0)
    save_keras(model, out, "keras_adam_metric", keras_adam_metric.__doc__, rng)


@fixture
def keras_bn_dropout(out, rng):
    """A functional tf_keras model: Dense + BatchNormalization + Dropout, Adam, accuracy, fitted, saved with model.save()."""
    inputs = keras.Input(shape=(6,), name="features")
    x = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Dropout(0.3, seed=5, name="dropout")(x)
    probs = keras.layers.Dense(3, activation="softmax", name="probabilities")(x)
    model = keras.Model(inputs, probs, name="bn_dropout")
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = training_data(rng, 6, classes=3)
    model.fit(x, y, batch_size=TRAIN_BATCH, epochs=2, shuffle=False, verbose=0)
    save_keras(model, out, "keras_bn_dropout", keras_bn_dropout.__doc__, rng)


class Regressor(keras.Model):
    """Dense → Dropout (only while training) → Dense."""

    def __init__(self):
        super().__init__(name="regressor")
        self.hidden = keras.layers.Dense(8, activation="tanh")
        self.dropout = keras.layers.Dropout(0.2, seed=7)
        self.out = keras.layers.Dense(1)

    def call(self, inputs, training=None):
        return self.out(self.dropout(self.hidden(inputs), training=training))


@fixture
def keras_subclassed(out, rng):
    """A subclassed tf_keras.Model whose call takes `training` (Dropout), SGD with momentum and an MAE metric, fitted, saved with model.save()."""
    model = Regressor()
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9), "mse", metrics=["mae"])
    x, y = training_data(rng, 5)
    model.fit(x, y, batch_size=TRAIN_BATCH, epochs=2, shuffle=False, verbose=0)
    save_keras(model, out, "keras_subclassed", keras_subclassed.__doc__, rng)


# --- a tf.Module ---

class Scorer(tf.Module):
    """A linear scorer with two serving functions."""

    def __init__(self, rng):
        super().__init__(name="scorer")
        self.kernel = tf.Variable(rng.standard_normal((4, 3)).astype("float32"), name="kernel")
        self.bias = tf.Variable(rng.standard_normal(3).astype("float32"), name="bias")
        self.scale = tf.Variable(1.5, trainable=False, name="scale")

    def logits(self, x):
        return (tf.matmul(x, self.kernel) + self.bias) * self.scale

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
    def score(self, x):
        return {"scores": self.logits(x)}

    @tf.function(input_signature=[
        tf.TensorSpec([None, 4], tf.float32, name="x"),
        tf.TensorSpec([], tf.float32, name="temperature"),
    ])
    def classify(self, x, temperature):
        logits = self.logits(x) / temperature
        return {"class_ids": tf.argmax(logits, axis=1), "probabilities": tf.nn.softmax(logits)}


def fit_module(module, rng):
    """A few plain gradient steps, so the weights are trained ones."""
    x, y = training_data(rng, 4, classes=3)
    for step in range(4):
        rows = slice(step * TRAIN_BATCH, (step + 1) * TRAIN_BATCH)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y[rows], module.logits(x[rows])))
        for variable, gradient in zip(module.trainable_variables, tape.gradient(loss, module.trainable_variables)):
            variable.assign_sub(0.1 * gradient)


@fixture
def module_function(out, rng):
    """A tf.Module with variables and two tf.function signatures (serving_default and classify) saved with tf.saved_model.save, plus a tf.train.Checkpoint of the same module."""
    module = Scorer(rng)
    fit_module(module, rng)
    saved_model_dir = os.path.join(out, "saved_model")
    tf.saved_model.save(module, saved_model_dir, signatures={
        "serving_default": module.score.get_concrete_function(),
        "classify": module.classify.get_concrete_function(),
    })
    functions = {"serving_default": module.score, "classify": module.classify}

    def compute(key, batch):
        return {k: v.numpy() for k, v in functions[key](**{k: tf.constant(v) for k, v in batch.items()}).items()}

    signatures = describe_signatures(saved_model_dir, compute, rng)
    roles = Roles()
    roles.claim(module.variables, "weight")
    variables = variables_listed(os.path.join(saved_model_dir, "variables", "variables"), module, roles)

    checkpoint = tf.train.Checkpoint(model=module)
    previous = os.getcwd()
    os.chdir(out)  # the `checkpoint` state file then names ckpt-1 by a relative path
    try:
        prefix = checkpoint.save("ckpt")
    finally:
        os.chdir(previous)
    checkpoint_roles = Roles()
    checkpoint_roles.claim(module.variables, "weight")
    checkpoint_roles.claim([checkpoint.save_counter], "save_counter")
    checkpoint_variables = variables_listed(os.path.join(out, prefix), checkpoint, checkpoint_roles)
    files, total = checkpoint_bytes(out, prefix)
    extra = {"checkpoint": {"prefix": prefix, "files": files, "bytes": total, "variables": checkpoint_variables}}
    write_fixture(out, "module_function", module_function.__doc__, saved_model_dir, signatures, variables, extra)


# --- a tf.Module with a vocabulary table read from an asset file ---

class TableScorer(tf.Module):
    """Looks tokens up in a vocabulary table initialised from an asset file and
    gathers their rows of scores (the last row for an unknown token), plus a
    bias; `steps` is state the signature never reads."""

    def __init__(self, vocabulary_file, rng):
        super().__init__(name="table_scorer")
        initializer = tf.lookup.TextFileInitializer(
            vocabulary_file, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
            tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER)
        self.table = tf.lookup.StaticHashTable(initializer, default_value=-1)
        self.scores = tf.Variable(rng.standard_normal((len(VOCABULARY) + 1, 4)).astype("float32"), name="scores")
        self.bias = tf.Variable(rng.standard_normal(4).astype("float32"), name="bias")
        self.steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="steps")

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="tokens")])
    def lookup(self, tokens):
        ids = self.table.lookup(tokens)
        unknown = len(VOCABULARY)
        rows = tf.gather(self.scores, tf.where(ids < 0, tf.constant(unknown, tf.int64), ids))
        return {"ids": ids, "scores": rows + self.bias}


@fixture
def module_table(out, rng):
    """A tf.Module whose signature looks strings up in a StaticHashTable initialised from a vocabulary asset file (TextFileInitializer) and gathers from float variables; an int64 variable it never reads is saved too."""
    previous = os.getcwd()
    os.chdir(out)  # the asset is then named by a relative path
    try:
        with open("vocabulary.txt", "w") as f:
            f.write("".join(token + "\n" for token in VOCABULARY))
        module = TableScorer("vocabulary.txt", rng)
        module.steps.assign_add(3)
        tf.saved_model.save(module, "saved_model", signatures={"serving_default": module.lookup})
    finally:
        os.chdir(previous)
    os.remove(os.path.join(out, "vocabulary.txt"))
    saved_model_dir = os.path.join(out, "saved_model")

    def compute(key, batch):
        assert key == "serving_default", key
        return {k: v.numpy() for k, v in module.lookup(**{k: tf.constant(v) for k, v in batch.items()}).items()}

    signatures = describe_signatures(saved_model_dir, compute, rng)
    roles = Roles()
    roles.claim([module.scores, module.bias], "weight")
    roles.claim([module.steps], "unused")
    variables = variables_listed(os.path.join(saved_model_dir, "variables", "variables"), module, roles)
    write_fixture(out, "module_table", module_table.__doc__, saved_model_dir, signatures, variables)


@fixture
def keras_lookup_embedding(out, rng):
    """A functional tf_keras model: string input → StringLookup → Embedding → Flatten → Dense(softmax), Adam, accuracy, fitted, saved with model.save()."""
    inputs = keras.Input(shape=(1,), dtype=tf.string, name="token")
    x = keras.layers.StringLookup(vocabulary=VOCABULARY, name="lookup")(inputs)
    x = keras.layers.Embedding(len(VOCABULARY) + 1, 3, name="embedding")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    probs = keras.layers.Dense(2, activation="softmax", name="probs")(x)
    model = keras.Model(inputs, probs, name="lookup_embedding")
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    tokens = rng.choice(TEST_TOKENS, size=(32, 1))
    x = tf.constant(tokens.astype(object))
    y = rng.integers(0, 2, 32).astype("int64")
    model.fit(x, y, batch_size=TRAIN_BATCH, epochs=2, shuffle=False, verbose=0)
    save_keras(model, out, "keras_lookup_embedding", keras_lookup_embedding.__doc__, rng)


# --- Keras 3 models ---

def keras3_model(rng):
    """A functional Keras 3 model on two inputs: numeric features through a
    Normalization adapted to the training data, a token through a StringLookup
    (one-hot), then Dense + BatchNormalization + Dropout + Dense(softmax);
    compiled with Adam and trained a few steps. Returns the model and its
    layers by role."""
    features = keras3.Input(shape=(4,), name="features")
    token = keras3.Input(shape=(1,), dtype="string", name="token")
    normalization = keras3.layers.Normalization(name="normalization")
    lookup = keras3.layers.StringLookup(vocabulary=VOCABULARY, output_mode="one_hot", name="lookup")
    x = keras3.layers.Concatenate(name="concat")([normalization(features), lookup(token)])
    x = keras3.layers.Dense(8, activation="relu", name="hidden")(x)
    batch_norm = keras3.layers.BatchNormalization(momentum=0.5, name="bn")
    x = keras3.layers.Dropout(0.3, seed=5, name="dropout")(batch_norm(x))
    probs = keras3.layers.Dense(3, activation="softmax", name="probabilities")(x)
    model = keras3.Model({"features": features, "token": token}, probs, name="keras3_functional")
    x_train = (rng.standard_normal((32, 4)) * 3 + 1).astype("float32")
    normalization.adapt(x_train)
    tokens = tf.constant(rng.choice(TEST_TOKENS, size=(32, 1)).astype(object))
    y = rng.integers(0, 3, 32).astype("int64")
    model.compile(keras3.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit({"features": x_train, "token": tokens}, y, batch_size=TRAIN_BATCH, epochs=2, shuffle=False, verbose=0)
    return model, batch_norm


def keras3_roles(model, batch_norm):
    """Weights: what inference reads (the trainable weights and the batch
    norm's moving statistics); the optimizer's state; the rest of the model's
    variables (Normalization's adapt state, which `finalize_state` folds into
    constants, and Dropout's seed) unused by any signature."""
    roles = Roles()
    weights = model.trainable_weights + [batch_norm.moving_mean, batch_norm.moving_variance]
    roles.claim(weights, "weight")
    roles.claim([v for v in model.variables if not any(v is w for w in weights)], "unused")
    roles.claim([model.optimizer.iterations], "iterations")
    roles.claim([v for v in model.optimizer.variables if v is not model.optimizer.iterations], "optimizer")
    return roles


def keras3_compute(model):
    """compute(key, batch): Keras's own inference, the signature's inputs
    matched to the model's by dtype (the numeric features, the string token),
    as `tf.saved_model.save` names them `inputs`, `inputs_1`."""

    def compute(key, batch):
        by_dtype = {("string" if v.dtype == object else "float"): v for v in batch.values()}
        inputs = {"features": tf.constant(by_dtype["float"]), "token": tf.constant(by_dtype["string"])}
        return {"output_0": model(inputs, training=False).numpy()}

    return compute


def keras3_extra(model):
    return {"written_by_keras": keras3.__version__}


@fixture
def keras3_export(out, rng):
    """A functional Keras 3 model (Normalization, StringLookup, BatchNormalization, Dropout, Adam, accuracy), fitted, exported with model.export() (signatures serve and serving_default)."""
    model, batch_norm = keras3_model(rng)
    archives = []
    # ExportArchive() builds the backend's archive class, the one model.export uses.
    archive_class = type(keras3.export.ExportArchive())
    write_out = archive_class.write_out

    def recording(archive, *args, **kwargs):  # keeps the archive: its object graph's root
        archives.append(archive)
        return write_out(archive, *args, **kwargs)

    archive_class.write_out = recording
    saved_model_dir = os.path.join(out, "saved_model")
    try:
        model.export(saved_model_dir, verbose=False)
    finally:
        archive_class.write_out = write_out
    (archive,) = archives
    signatures = describe_signatures(saved_model_dir, keras3_compute(model), rng)
    roles = keras3_roles(model, batch_norm)
    # The archive lists the variables its endpoints read a second time, as
    # plain tf.Variables (`_all_variables`): the same values under other keys.
    roles.claim(archive._tf_trackable._all_variables, "duplicate")
    variables = variables_listed(os.path.join(saved_model_dir, "variables", "variables"), archive._tf_trackable, roles)
    write_fixture(out, "keras3_export", keras3_export.__doc__, saved_model_dir, signatures, variables, keras3_extra(model))


@fixture
def keras3_saved_model(out, rng):
    """The keras3_export model saved with tf.saved_model.save(model) (signature serving_default, the optimizer's state kept); beside it Keras 3's own files, model.keras (a zip), model.weights.h5 and a legacy model.h5 (HDF5), which hold no TensorFlow graph."""
    model, batch_norm = keras3_model(rng)
    saved_model_dir = os.path.join(out, "saved_model")
    tf.saved_model.save(model, saved_model_dir)
    model.save(os.path.join(out, "model.keras"))
    model.save_weights(os.path.join(out, "model.weights.h5"))
    model.save(os.path.join(out, "model.h5"))
    signatures = describe_signatures(saved_model_dir, keras3_compute(model), rng)
    variables = variables_listed(
        os.path.join(saved_model_dir, "variables", "variables"), model, keras3_roles(model, batch_norm))
    write_fixture(out, "keras3_saved_model", keras3_saved_model.__doc__, saved_model_dir, signatures, variables,
                  keras3_extra(model))


def checkpoint_bytes(directory, prefix):
    """{file: size} of the checkpoint `prefix` (and the state file) in `directory`, and their total."""
    names = sorted(n for n in os.listdir(directory) if n == "checkpoint" or n.startswith(prefix + "."))
    sizes = {n: os.path.getsize(os.path.join(directory, n)) for n in names}
    return sizes, sum(sizes.values())


# The tf.function each signature of a tf.Module fixture serves.
MODULE_FUNCTIONS = {
    "module_function": {"serving_default": "score", "classify": "classify"},
    "module_table": {"serving_default": "lookup"},
}


def saved_source(name, saved_model_dir):
    """compute(key, batch) from the saved fixture itself: the tf_keras model
    revived by load_model (called in inference mode), or the module's restored
    tf.functions."""
    if name not in MODULE_FUNCTIONS:
        model = keras.models.load_model(saved_model_dir, compile=False)
        (signature,) = signature_defs(saved_model_dir).values()
        (output_key,) = signature["outputs"]
        return keras_single_output(model, output_key)
    module = tf.saved_model.load(saved_model_dir)

    def compute(key, batch):
        function = getattr(module, MODULE_FUNCTIONS[name][key])
        return {k: v.numpy() for k, v in function(**{k: tf.constant(v) for k, v in batch.items()}).items()}

    return compute


def add_batch_cases(directory, name):
    """Adds `training_batch` and each signature's `batch_cases` to an existing
    fixture.json, computed from its saved_model/; nothing else changes."""
    path = os.path.join(directory, "fixture.json")
    with open(path) as f:
        document = json.load(f)
    saved_model_dir = os.path.join(directory, document["saved_model"])
    compute = saved_source(name, saved_model_dir)
    reloaded = tf.saved_model.load(saved_model_dir)
    for key, sig in document["signatures"].items():
        sig["batch_cases"] = batch_cases(reloaded, key, sig, compute)
    document["training_batch"] = TRAIN_BATCH
    with open(path, "w") as f:
        json.dump(document, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{name}: added batch cases to {sorted(document['signatures'])}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(HERE, "tf2"))
    parser.add_argument(
        "--batch-cases-only", action="store_true",
        help="add training_batch and batch_cases to the existing fixtures' fixture.json, from their saved_model/; write nothing else")
    parser.add_argument("names", nargs="*", help="write only these fixtures (default: all)")
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(FIXTURES))
    if unknown:
        parser.error(f"unknown fixtures {unknown}; known: {', '.join(FIXTURES)}")
    if args.batch_cases_only:
        for name in FIXTURES:
            if not args.names or name in args.names:
                keras.backend.clear_session()
                add_batch_cases(os.path.join(args.out, name), name)
        return
    os.makedirs(args.out, exist_ok=True)
    for name, build in FIXTURES.items():
        if args.names and name not in args.names:
            continue
        keras.backend.clear_session()
        keras.utils.set_random_seed(SEED)
        keras3.utils.clear_session()
        keras3.utils.set_random_seed(SEED)
        rng = np.random.default_rng(SEED)
        with tempfile.TemporaryDirectory() as scratch:
            work = os.path.join(scratch, name)
            os.makedirs(work)
            build(work, rng)
            target = os.path.join(args.out, name)
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(work, target)


if __name__ == "__main__":
    main()
