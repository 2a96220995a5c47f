"""Writes servegraph's Estimator fixtures: real `tf.estimator` model
directories from the canned estimators, trained briefly on small synthetic
data this script writes itself.

Each directory is what `Estimator.train` + `evaluate` leave behind
(`checkpoint`, `model.ckpt-N.{meta,index,data-*}`, `graph.pbtxt`,
`events.out.tfevents.*`, `eval/`), plus:

- variables.json: TensorFlow's own dump of every checkpoint tensor;
- fixture.json (the format testdata/generate_fixtures.py writes): the
  `IteratorGetNext` tensors keyed by feature name (a SparseTensor feature as
  its three components, `"sparse": true`), the head's prediction tensors keyed
  by prediction name, a test batch of a size training never used, and the
  Estimator's own `predict()` on it, run on the same model directory; and
  `training_batch` and `batch_cases` (batches of 1, the training batch and
  twice it plus one, each with the Estimator's `predict()` on it).

`tf.estimator` exists only up to TensorFlow 2.15; run with
tensorflow-cpu==2.15.1 (which brings tensorflow-estimator 2.15):
    python testdata/generate_estimator_fixtures.py [--only NAME] [--out DIR]
    python testdata/generate_estimator_fixtures.py --batch-cases-only [--only NAME]
    python testdata/generate_estimator_fixtures.py --exports-only [--only NAME]
(the second adds only `training_batch` and `batch_cases` to fixture.json,
predicted from the model directories already there; the third writes only
the Estimator's own exports, below). Beside the model directories, each
fixture gets Estimator's own `export_saved_model` of it, in
`estimator_exports/NAME/raw` (`build_raw_serving_input_receiver_fn`, a
placeholder per feature) and `estimator_exports/NAME/parsing`
(`build_parsing_serving_input_receiver_fn` on the columns' parse spec): the
signatures servegraph's exports are compared with.
It installs nothing and needs no network.
"""
import argparse
import contextlib
import json
import os
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.get_logger().setLevel("ERROR")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "interop"))
from dump_checkpoint import dump  # noqa: E402

SEED = 1234
FIXTURES = {}
fc = tf.feature_column


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


def run_config():
    session = tf.compat.v1.ConfigProto(
        device_count={"CPU": 1}, intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
    return tf.estimator.RunConfig(
        tf_random_seed=SEED, save_checkpoints_steps=100, save_summary_steps=100,
        keep_checkpoint_max=2, log_step_count_steps=1000, session_config=session)


def flat(array):
    array = np.asarray(array)
    if array.dtype.kind in "SUO":
        values = [v.decode() if isinstance(v, bytes) else str(v) for v in array.reshape(-1)]
        dtype = "string"
    else:
        values = array.reshape(-1).tolist()
        dtype = array.dtype.name
    return {"dtype": dtype, "shape": list(array.shape), "values": values}


# ---------------------------------------------------------------- data

EDUCATION = ["Bachelors", "HS-grad", "Masters", "Doctorate", "Some-college"]
OCCUPATIONS = ["Tech-support", "Craft-repair", "Sales", "Exec-managerial", "Prof-specialty", "Adm-clerical"]
COUNTRIES = ["United-States", "Mexico", "India", "Germany", "Canada", "Philippines", "Japan"]
TAGS = ["remote", "union", "veteran", "parttime", "student"]


def census_rows(rng, n):
    """A census-like table: numeric, categorical and one multi-valued column."""
    age = rng.randint(18, 80, size=n).astype(np.float32)
    hours = rng.randint(10, 70, size=n).astype(np.float32)
    education = np.array(EDUCATION, dtype=object)[rng.randint(0, len(EDUCATION), size=n)]
    # One occupation outside the vocabulary file, so the default id is exercised.
    occupation = np.array(OCCUPATIONS + ["Farming-fishing"], dtype=object)[rng.randint(0, len(OCCUPATIONS) + 1, size=n)]
    country = np.array(COUNTRIES, dtype=object)[rng.randint(0, len(COUNTRIES), size=n)]
    # Tags: 0 to 3 per row, as a SparseTensor of dense shape [n, 3].
    indices, values = [], []
    for row in range(n):
        for slot, tag in enumerate(rng.choice(TAGS, size=rng.randint(0, 4), replace=False)):
            indices.append([row, slot])
            values.append(tag)
    tags = tf.compat.v1.SparseTensorValue(
        np.array(indices, dtype=np.int64).reshape(-1, 2), np.array(values, dtype=object).astype(bytes),
        np.array([n, 3], dtype=np.int64))
    features = {
        "age": age, "hours_per_week": hours, "education": education.astype(bytes),
        "occupation": occupation.astype(bytes), "native_country": country.astype(bytes), "tags": tags,
    }
    score = (age - 40) / 15 + (hours - 40) / 20 + np.isin(education, ["Masters", "Doctorate"]) * 1.0
    score += np.bincount(np.array(indices, dtype=np.int64).reshape(-1, 2)[:, 0], minlength=n) * 0.3
    labels = (score + rng.normal(0, 0.5, size=n) > 0.5).astype(np.int64)
    return features, labels


def to_tensors(features):
    return {k: tf.SparseTensor(*v) if isinstance(v, tf.compat.v1.SparseTensorValue) else v for k, v in features.items()}


def dataset_input_fn(features, labels, batch, repeat):
    def input_fn():
        ds = tf.data.Dataset.from_tensor_slices((to_tensors(features), labels) if labels is not None else to_tensors(features))
        if repeat:
            ds = ds.repeat()
        return ds.batch(batch)
    return input_fn


def standardized(key, mean, scale):
    """A numeric column scaled in the graph, as census examples do, so the
    model's activations stay within a few units."""
    return fc.numeric_column(key, normalizer_fn=lambda x: (x - mean) / scale)


def age_column():
    return standardized("age", 45.0, 15.0)


def age_boundaries(ages):
    """Bucket boundaries at these ages, on the standardized age."""
    return [(a - 45.0) / 15.0 for a in ages]


def hours_column():
    return standardized("hours_per_week", 40.0, 15.0)


def wide_deep_columns():
    age = age_column()
    hours = hours_column()
    age_buckets = fc.bucketized_column(age, boundaries=age_boundaries([25, 35, 45, 55, 65]))
    education = fc.categorical_column_with_vocabulary_list("education", EDUCATION)
    occupation = fc.categorical_column_with_vocabulary_file("occupation", "occupations.txt", default_value=0)
    country = fc.categorical_column_with_hash_bucket("native_country", hash_bucket_size=20)
    tags = fc.categorical_column_with_vocabulary_list("tags", TAGS, num_oov_buckets=1)
    education_x_occupation = fc.crossed_column(["education", "occupation"], hash_bucket_size=30)
    wide = [age_buckets, education, occupation, country, tags, education_x_occupation]
    deep = [
        age, hours,
        fc.indicator_column(education),
        fc.embedding_column(occupation, dimension=3),
        fc.embedding_column(country, dimension=2),
        fc.embedding_column(tags, dimension=2, combiner="mean"),
    ]
    return wide, deep


# ---------------------------------------------------------------- graph facts

def latest_graph(model_dir):
    prefix = tf.train.latest_checkpoint(model_dir)
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.train.import_meta_graph(prefix + ".meta", clear_devices=True)
    return prefix, graph


def iterator_inputs(graph, features):
    """Each feature's training-graph tensor(s), found through the dataset's
    element structure: the `IteratorGetNext` outputs in the order
    `tf.nest.flatten` gives the (features, labels) structure."""
    (get_next,) = [op for op in graph.get_operations() if op.type == "IteratorGetNext"]
    names = sorted(features)  # tf.nest flattens dicts by sorted key; labels come last.
    inputs = {}
    for index, name in enumerate(names):
        out = get_next.outputs[index]
        if isinstance(features[name], tf.compat.v1.SparseTensorValue):
            (deserialize,) = [c for c in out.consumers() if c.type == "DeserializeSparse"]
            parts = deserialize.outputs
            inputs[name] = {
                "tensor": ",".join(t.name for t in parts), "sparse": True,
                # The dense shape: every dimension varies from batch to batch.
                "dtype": parts[1].dtype.name, "shape": [-1] * parts[0].shape.as_list()[1],
            }
        else:
            shape = [-1] + out.shape.as_list()[1:]
            inputs[name] = {"tensor": out.name, "dtype": out.dtype.name, "shape": shape}
    return inputs


def head_outputs(graph, keys):
    """The head's prediction tensors in the training graph, by prediction key:
    the ops under a `predictions` scope (`classes` is the head's
    string form of `class_ids`), and `logits`, the head's input, found as the input of its
    `logistic` (binary) or `probabilities` (multi-class) op."""
    by_key = {}
    for op in graph.get_operations():
        parts = op.name.split("/")
        if len(parts) >= 2 and parts[-2] == "predictions":
            by_key.setdefault(parts[-1], op.outputs[0])
    if "class_ids" in by_key:
        # `classes`: the class ids as strings, by `AsString` or, with a
        # label vocabulary, by a lookup in the head's id-to-string table.
        expanded = prediction_tensor(by_key["class_ids"])
        for op in graph.get_operations():
            if op.outputs and op.outputs[0].dtype == tf.string and expanded in list(op.inputs):
                by_key["classes"] = op.outputs[0]
                break
    if "logits" not in by_key:
        source = by_key.get("logistic", by_key.get("probabilities"))
        if source is not None:
            by_key["logits"] = source.op.inputs[0]
    if "logits" not in by_key:
        # A regression head adds no op for its predictions: they are its
        # logits, whose shape the head checks under `head/logits/`.
        for op in graph.get_operations():
            if op.type == "Shape" and op.name.split("/")[-2:-1] == ["logits"] and op.name.startswith("head/"):
                by_key["logits"] = op.inputs[0]
                by_key.setdefault("predictions", op.inputs[0])
                break
    found = {}
    for key in keys:
        assert key in by_key, f"head prediction {key} not found"
        t = prediction_tensor(by_key[key])
        shape = [-1] + (t.shape.as_list()[1:] if t.shape.rank is not None else [])
        found[key] = {"tensor": t.name, "dtype": t.dtype.name, "shape": shape}
    return found


def test_inputs(features, inputs):
    out = {}
    for name, value in features.items():
        if isinstance(value, tf.compat.v1.SparseTensorValue):
            out[f"{name}_indices"] = flat(value.indices)
            out[f"{name}_values"] = flat(value.values)
            out[f"{name}_dense_shape"] = flat(value.dense_shape)
        else:
            array = np.asarray(value).astype(inputs[name]["dtype"] if inputs[name]["dtype"] != "string" else bytes)
            out[name] = flat(array)
    return out


def predict(estimator, features, keys):
    batch = len(next(v for v in features.values() if not isinstance(v, tf.compat.v1.SparseTensorValue)))
    (result,) = list(estimator.predict(
        dataset_input_fn(features, None, batch, repeat=False), predict_keys=keys, yield_single_examples=False))
    return {k: result[k] for k in keys}


def trim_events(model_dir, limit=20_000):
    """Rewrites each events file without its records over `limit` bytes (the
    graph and meta-graph summaries, megabytes for wide & deep) so the fixture
    stays small; the file keeps its name, version record and scalar
    summaries. Returns the files trimmed and the records dropped."""
    tf.compat.v1.summary.FileWriterCache.clear()  # closes the Estimator's open writers
    trimmed = {}
    for root, _, files in os.walk(model_dir):
        for name in files:
            if not name.startswith("events.out.tfevents."):
                continue
            path = os.path.join(root, name)
            records = [r.numpy() for r in tf.data.TFRecordDataset(path)]
            kept = [r for r in records if len(r) <= limit]
            if len(kept) < len(records):
                with tf.io.TFRecordWriter(path) as writer:
                    for record in kept:
                        writer.write(record)
                trimmed[os.path.relpath(path, model_dir)] = len(records) - len(kept)
    return trimmed


def prediction_tensor(t):
    """The tensor predict() returns for a head op: `class_ids` is expanded to
    [batch, 1] by the head right after its argmax."""
    consumers = t.consumers()
    if t.shape.rank == 1 and len(consumers) == 1 and consumers[0].type == "ExpandDims":
        return consumers[0].outputs[0]
    return t


# Each fixture's estimator (built on the model directory, untrained), a
# drawer of n examples, its training batch and its feature columns: what
# `batch_cases` and the Estimator's own exports run.
SERVED = {}


def serves(name, training_batch, draw, columns):
    def register(make_estimator):
        SERVED[name] = dict(estimator=make_estimator, training_batch=training_batch, draw=draw, columns=columns)
        return make_estimator
    return register


def served_batch_cases(name, estimator, inputs, output_keys):
    """`training_batch` and `batch_cases`: the Estimator's own predict() on
    batches of 1, the training batch and twice it plus one (each input_fn
    batches exactly that many), drawn from a generator seeded by the size."""
    entry = SERVED[name]
    training_batch = entry["training_batch"]
    cases = []
    for batch in [1, training_batch, 2 * training_batch + 1]:
        features = entry["draw"](np.random.RandomState([SEED, batch]), batch)
        expected = predict(estimator, features, output_keys)
        cases.append({
            "batch": batch,
            "inputs": test_inputs(features, inputs),
            "expected": {k: flat(v) for k, v in expected.items()},
        })
    return {"training_batch": training_batch, "batch_cases": cases}


def add_batch_cases(directory, name):
    """Adds `training_batch` and `batch_cases` to an existing fixture.json,
    predicted from the model directory as it is; nothing else changes."""
    with inside(directory):
        with open("fixture.json") as f:
            data = json.load(f)
        estimator = SERVED[name]["estimator"]()
        data.update(served_batch_cases(name, estimator, data["inputs"], sorted(data["outputs"])))
        with open("fixture.json", "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)


def write_fixture(name, description, estimator, train_features, test_features, output_keys, tolerance, extra):
    prefix, graph = latest_graph(".")
    inputs = iterator_inputs(graph, train_features)
    outputs = head_outputs(graph, output_keys)
    expected = predict(estimator, test_features, output_keys)
    step = int(prefix.rsplit("-", 1)[1])
    data = {
        "name": name,
        "description": description,
        "checkpoint_prefix": os.path.basename(prefix),
        "global_step": step,
        "inputs": inputs,
        "outputs": outputs,
        "training_flags": [],
        "test_inputs": test_inputs(test_features, inputs),
        "expected_outputs": {k: flat(v) for k, v in expected.items()},
        "tolerance": tolerance,
        "trimmed_events_records": trim_events("."),
    }
    data.update(extra)
    data.update(served_batch_cases(name, estimator, inputs, output_keys))
    with open("fixture.json", "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    with open("variables.json", "w") as f:
        json.dump(dump(prefix), f, sort_keys=True)


# ---------------------------------------------------------------- fixtures

@serves("estimator_wide_deep", 16, lambda rng, n: census_rows(rng, n)[0], lambda: sum(wide_deep_columns(), []))
def wide_deep_estimator():
    wide, deep = wide_deep_columns()
    return tf.estimator.DNNLinearCombinedClassifier(
        model_dir=".", linear_feature_columns=wide, dnn_feature_columns=deep, dnn_hidden_units=[8, 4],
        linear_optimizer="Ftrl", dnn_optimizer="Adagrad", config=run_config())


@fixture
def estimator_wide_deep():
    """DNNLinearCombinedClassifier (binary wide & deep, census-like): numeric, bucketized, vocabulary-list, vocabulary-file (occupations.txt, an asset), hash-bucket, crossed, embedding and indicator columns, a multi-valued SparseTensor feature; Ftrl (linear) and Adagrad (DNN), global_step, one evaluation."""
    with open("occupations.txt", "w") as f:
        f.write("\n".join(OCCUPATIONS) + "\n")
    rng = np.random.RandomState(11)
    features, labels = census_rows(rng, 64)
    estimator = wide_deep_estimator()
    estimator.train(dataset_input_fn(features, labels, 16, repeat=True), steps=200)
    estimator.evaluate(dataset_input_fn(features, labels, 16, repeat=False))
    test, _ = census_rows(rng, 5)
    write_fixture(
        "estimator_wide_deep", estimator_wide_deep.__doc__, estimator, features, test,
        ["logits", "logistic", "probabilities", "class_ids", "classes"], 1e-4,
        {"assets": ["occupations.txt"], "method": {"class_names": ["0", "1"], "scores_output": "probabilities"}},
    )


def regressor_features(rng, n):
    return {
        "age": rng.randint(18, 80, size=n).astype(np.float32),
        "hours_per_week": rng.randint(10, 70, size=n).astype(np.float32),
        "education": np.array(EDUCATION + ["Unknown"], dtype=object)[rng.randint(0, len(EDUCATION) + 1, size=n)].astype(bytes),
    }


def regressor_columns():
    age = age_column()
    return [
        age, hours_column(), fc.bucketized_column(age, boundaries=age_boundaries([30, 45, 60])),
        fc.indicator_column(fc.categorical_column_with_vocabulary_list("education", EDUCATION)),
    ]


@serves("estimator_regressor", 16, regressor_features, regressor_columns)
def regressor_estimator():
    return tf.estimator.DNNRegressor(
        model_dir=".", feature_columns=regressor_columns(), hidden_units=[6], optimizer="Adam", config=run_config())


@fixture
def estimator_regressor():
    """DNNRegressor with Adam on numeric, bucketized and vocabulary-list (indicator) columns, global_step, one evaluation."""
    rng = np.random.RandomState(12)
    n = 64
    features = {
        "age": rng.randint(18, 80, size=n).astype(np.float32),
        "hours_per_week": rng.randint(10, 70, size=n).astype(np.float32),
        "education": np.array(EDUCATION, dtype=object)[rng.randint(0, len(EDUCATION), size=n)].astype(bytes),
    }
    labels = (features["hours_per_week"] * 0.02 + (features["age"] > 40) * 0.5).astype(np.float32)
    estimator = regressor_estimator()
    estimator.train(dataset_input_fn(features, labels, 16, repeat=True), steps=200)
    estimator.evaluate(dataset_input_fn(features, labels, 16, repeat=False))
    test = {
        "age": np.array([22, 37, 51, 64, 79], dtype=np.float32),
        "hours_per_week": np.array([12, 40, 45, 60, 20], dtype=np.float32),
        "education": np.array([b"HS-grad", b"Masters", b"Doctorate", b"Bachelors", b"Unknown"]),
    }
    write_fixture(
        "estimator_regressor", estimator_regressor.__doc__, estimator, features, test, ["predictions"], 1e-4,
        {"method": {"regress_output": "predictions"}},
    )


MULTICLASS_CLASSES = ["low", "mid", "high"]


def multiclass_features(rng, n):
    return {
        "hours_per_week": rng.randint(10, 70, size=n).astype(np.float32),
        "occupation": np.array(OCCUPATIONS + ["Fishing"], dtype=object)[rng.randint(0, len(OCCUPATIONS) + 1, size=n)].astype(bytes),
    }


def multiclass_columns():
    return [
        hours_column(),
        fc.embedding_column(fc.categorical_column_with_vocabulary_list("occupation", OCCUPATIONS), dimension=2),
    ]


@serves("estimator_dnn_multiclass", 12, multiclass_features, multiclass_columns)
def multiclass_estimator():
    return tf.estimator.DNNClassifier(
        model_dir=".", feature_columns=multiclass_columns(), hidden_units=[6], n_classes=3,
        label_vocabulary=MULTICLASS_CLASSES,
        optimizer="Adam", config=run_config())


@fixture
def estimator_dnn_multiclass():
    """DNNClassifier with three string classes (label_vocabulary), Adam, numeric and embedding columns, global_step, one evaluation."""
    classes = MULTICLASS_CLASSES
    rng = np.random.RandomState(13)
    n = 60
    features = {
        "hours_per_week": rng.randint(10, 70, size=n).astype(np.float32),
        "occupation": np.array(OCCUPATIONS, dtype=object)[rng.randint(0, len(OCCUPATIONS), size=n)].astype(bytes),
    }
    labels = np.array(classes, dtype=object)[np.digitize(features["hours_per_week"], [30, 50])].astype(bytes)
    estimator = multiclass_estimator()
    estimator.train(dataset_input_fn(features, labels, 12, repeat=True), steps=150)
    estimator.evaluate(dataset_input_fn(features, labels, 12, repeat=False))
    test = {
        "hours_per_week": np.array([15, 35, 55, 65], dtype=np.float32),
        "occupation": np.array([b"Sales", b"Tech-support", b"Prof-specialty", b"Fishing"]),
    }
    write_fixture(
        "estimator_dnn_multiclass", estimator_dnn_multiclass.__doc__, estimator, features, test,
        ["logits", "probabilities", "class_ids", "classes"], 1e-4,
        {"method": {"class_names": classes, "scores_output": "probabilities"}},
    )


def linear_columns():
    age = age_column()
    return [
        age, hours_column(), fc.bucketized_column(age, boundaries=age_boundaries([30, 45, 60])),
        fc.categorical_column_with_vocabulary_list("education", EDUCATION),
    ]


@serves("estimator_linear", 16, regressor_features, linear_columns)
def linear_estimator():
    return tf.estimator.LinearClassifier(
        model_dir=".", feature_columns=linear_columns(), optimizer="Ftrl", config=run_config())


@fixture
def estimator_linear():
    """LinearClassifier (binary) with Ftrl on numeric, bucketized and vocabulary-list columns, global_step, one evaluation."""
    rng = np.random.RandomState(14)
    features = regressor_features(rng, 64)
    score = (features["age"] - 45) / 15 + (features["hours_per_week"] - 40) / 20
    labels = (score + rng.normal(0, 0.5, size=64) > 0).astype(np.int64)
    estimator = linear_estimator()
    estimator.train(dataset_input_fn(features, labels, 16, repeat=True), steps=200)
    estimator.evaluate(dataset_input_fn(features, labels, 16, repeat=False))
    test = regressor_features(rng, 5)
    write_fixture(
        "estimator_linear", estimator_linear.__doc__, estimator, features, test,
        ["logits", "logistic", "probabilities", "class_ids", "classes"], 1e-4,
        {"method": {"class_names": ["0", "1"], "scores_output": "probabilities"}},
    )


# ---------------------------------------------------------------- Estimator's own exports

def raw_receiver(features):
    """`build_raw_serving_input_receiver_fn` on a placeholder per feature of
    the training batch's dtype (a SparseTensor feature: a sparse one)."""
    placeholders = {}
    for name, value in features.items():
        if isinstance(value, tf.compat.v1.SparseTensorValue):
            placeholders[name] = tf.compat.v1.sparse_placeholder(tf.string, [None, None], name=name)
        else:
            dtype = tf.string if np.asarray(value).dtype.kind in "SUO" else tf.as_dtype(np.asarray(value).dtype)
            placeholders[name] = tf.compat.v1.placeholder(dtype, [None], name=name)
    return tf.estimator.export.build_raw_serving_input_receiver_fn(placeholders)


def write_exports(directory, name, out):
    """Estimator's own `export_saved_model` of the model directory, with a raw
    receiver (`raw/`) and a tf.Example parsing receiver (`parsing/`) built
    from the feature columns' parse spec, into `out`."""
    entry = SERVED[name]
    features = entry["draw"](np.random.RandomState(SEED), 2)
    receivers = {
        "raw": lambda: raw_receiver(features),
        "parsing": lambda: tf.estimator.export.build_parsing_serving_input_receiver_fn(
            fc.make_parse_example_spec(entry["columns"]())),
    }
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    with inside(directory):
        estimator = entry["estimator"]()
        for kind, receiver in receivers.items():
            with tf.Graph().as_default():
                written = estimator.export_saved_model(os.path.join(out, "base"), receiver())
            os.rename(written, os.path.join(out, kind))
            os.rmdir(os.path.join(out, "base"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=sorted(FIXTURES))
    parser.add_argument("--out", default=os.path.join(HERE, "fixtures"))
    parser.add_argument(
        "--batch-cases-only", action="store_true",
        help="add training_batch and batch_cases to the existing fixtures' fixture.json, from their model directories; write nothing else")
    parser.add_argument(
        "--exports", default=os.path.join(HERE, "estimator_exports"),
        help="where Estimator's own export_saved_model of each fixture goes (NAME/raw, NAME/parsing)")
    parser.add_argument(
        "--exports-only", action="store_true",
        help="write only Estimator's own exports of the existing model directories")
    args = parser.parse_args()
    if args.exports_only:
        for name in args.only or sorted(FIXTURES):
            write_exports(os.path.join(os.path.abspath(args.out), name), name, os.path.join(os.path.abspath(args.exports), name))
            print(f"exported {name}", file=sys.stderr)
        return
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
        tf.random.set_seed(SEED)
        with inside(directory):
            FIXTURES[name]()
        write_exports(directory, name, os.path.join(os.path.abspath(args.exports), name))
        print(f"wrote {name}", file=sys.stderr)


if __name__ == "__main__":
    main()
