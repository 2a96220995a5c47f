"""Replays a SavedModel's TensorFlow Serving warm-up file with TensorFlow.

    python tests/interop/check_warmup.py EXPORT_DIR --expected EXPECTED.json
        [--signature serving_default] [--tolerance 1e-4]

Reads assets.extra/tf_serving_warmup_requests with tf.data.TFRecordDataset
(which checks each record's CRCs), parses every record with TensorFlow
Serving's own PredictionLog (the tensorflow-serving-api package), turns each
request's inputs into arrays with tf.make_ndarray and runs them through the
export's signature (tf.saved_model.load). EXPECTED.json is the fixture's
expected_outputs for all its examples ({key: {"dtype", "shape", "values"}}):
a request of n examples is compared with the n expected rows its inputs are
found at. Prints one JSON document {"records": [...]} and exits non-zero when
a record does not parse, does not run, or predicts something else.
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tally import tally  # noqa: E402  (beside this script)


def expected_arrays(path):
    import numpy as np

    with open(path) as f:
        spec = json.load(f)
    arrays = {}
    for key, t in spec.items():
        if t["dtype"] == "string":
            values = np.array([v.encode() for v in t["values"]], dtype=object)
        else:
            values = np.array(t["values"], dtype=t["dtype"])
        arrays[key] = values.reshape(t["shape"])
    return arrays


def rows_of(request_inputs, all_inputs):
    """The indices of the fixture's examples a request's batch holds, in order."""
    import numpy as np

    (key, batch), = sorted(request_inputs.items())[:1]
    rows = []
    for example in batch:
        matches = [i for i, row in enumerate(all_inputs[key]) if np.array_equal(row, example)]
        if not matches:
            raise ValueError(f"input {key!r} holds an example that is not in the fixture")
        rows.append(matches[0])
    return rows


def differs(actual, expected, tolerance):
    import numpy as np

    if actual.shape != expected.shape:
        return f"shape {actual.shape} != {expected.shape}"
    if expected.dtype.kind in "fc":
        diff = float(np.max(np.abs(actual.astype(np.float64) - expected.astype(np.float64)), initial=0.0))
        return None if diff <= tolerance else f"max abs diff {diff} > {tolerance}"
    return None if np.array_equal(actual, expected) else "values differ"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("export_dir")
    parser.add_argument("--expected", required=True)
    parser.add_argument("--inputs", required=True, help="the fixture's test_inputs, to find each example's row")
    parser.add_argument("--signature", default="serving_default")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()

    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    expected = expected_arrays(args.expected)
    all_inputs = expected_arrays(args.inputs)
    model = tf.saved_model.load(args.export_dir)
    tally("load")
    fn = model.signatures[args.signature]
    path = os.path.join(args.export_dir, "assets.extra", "tf_serving_warmup_requests")
    report, failures = [], []
    for index, record in enumerate(tf.data.TFRecordDataset(path)):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        entry = {"index": index, "kind": log.WhichOneof("log_type")}
        report.append(entry)
        if entry["kind"] != "predict_log":
            failures.append(f"record {index} is a {entry['kind']}")
            continue
        request = log.predict_log.request
        entry["signature"] = request.model_spec.signature_name
        inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
        entry["shapes"] = {k: list(v.shape) for k, v in inputs.items()}
        rows = rows_of(inputs, all_inputs)
        entry["rows"] = rows
        outputs = fn(**{k: tf.constant(v) for k, v in inputs.items()})
        tally("compare", len(outputs))
        for key, value in outputs.items():
            problem = differs(value.numpy(), expected[key][rows], args.tolerance)
            if problem:
                failures.append(f"record {index}, output {key!r}: {problem}")
    print(json.dumps({"records": report, "failures": failures}))
    if failures:
        print("\n".join(failures), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
