"""Checks an export's explanation_metadata.json the way AI Explanations use
it on a TensorFlow 1 SavedModel: load the graph in a session, look every
tensor up by the name the file gives, feed each input its baseline
(broadcast to one example, as the service broadcasts a scalar) and run the
explained output; and ask the graph for the gradient of that output with
respect to each input, which integrated gradients needs of numeric inputs.

    python tests/interop/check_explanation.py EXPORT_DIR [--tags serve]

Prints one JSON document: {"inputs": {key: {"placeholder", "dtype",
"signature_dtype", "signature_name", "baselines", "has_gradient",
"gradient_error"}}, "output": {"key", "dtype", "signature_name", "runs",
"shape", "finite"}}, and exits non-zero when a name does not resolve or a
baseline does not run.
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tally import tally  # noqa: E402  (beside this script)


def example_shape(tensor):
    dims = tensor.shape.as_list() if tensor.shape.rank is not None else []
    return [1 if d is None else d for d in dims[1:]]


def baseline_batch(baseline, tensor):
    import numpy as np

    if tensor.dtype.name == "string":
        value = np.vectorize(lambda s: s.encode(), otypes=[object])(np.array(baseline, dtype=object))
    else:
        value = np.array(baseline, dtype=tensor.dtype.as_numpy_dtype)
    return np.broadcast_to(value, example_shape(tensor))[np.newaxis, ...]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("export")
    parser.add_argument("--tags", default="serve")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    with open(os.path.join(args.export, "explanation_metadata.json")) as f:
        metadata = json.load(f)
    graph = tf.Graph()
    report = {"inputs": {}}
    with tf.compat.v1.Session(graph=graph) as session:
        meta = tf.compat.v1.saved_model.loader.load(session, args.tags.split(","), args.export)
        tally("load")
        signature = meta.signature_def["serving_default"]
        (key, output), = metadata["outputs"].items()
        output_tensor = graph.get_tensor_by_name(output["output_tensor_name"])
        feeds = []
        for name, spec in sorted(metadata["inputs"].items()):
            tensor = graph.get_tensor_by_name(spec["input_tensor_name"])
            baselines = spec.get("input_baselines", [])
            feeds.append([(tensor, baseline_batch(b, tensor)) for b in baselines])
            gradient, gradient_error = None, None
            if tensor.dtype.is_floating:
                try:
                    gradient = tf.gradients(output_tensor, tensor)[0]
                except Exception as error:  # reported, for the test to judge
                    gradient_error = f"{type(error).__name__}: {error}"
            report["inputs"][name] = {
                "placeholder": tensor.op.type == "Placeholder",
                "dtype": tensor.dtype.name,
                "signature_dtype": tf.dtypes.as_dtype(signature.inputs[name].dtype).name,
                "signature_name": signature.inputs[name].name,
                "baselines": len(baselines),
                "has_gradient": gradient is not None,
                "gradient_error": gradient_error,
            }
        if not all(feeds):
            sys.exit("every input needs a baseline to run the output from baselines")
        runs = max((len(f) for f in feeds), default=0)
        finite = True
        shape = None
        for run in range(runs):
            feed = dict(per_input[min(run, len(per_input) - 1)] for per_input in feeds)
            value = session.run(output_tensor, feed_dict=feed)
            finite = finite and bool(np.all(np.isfinite(value)))
            shape = list(value.shape)
        report["output"] = {
            "key": key,
            "dtype": output_tensor.dtype.name,
            "signature_name": signature.outputs[key].name,
            "runs": runs,
            "shape": shape,
            "finite": finite,
        }
    json.dump(report, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
