"""Runs every signature of a SavedModel (or one) with one of TensorFlow's loaders.

    python tests/interop/run_signatures.py SAVED_MODEL --inputs INPUTS.json
        [--loaders tf2,tf1,capi] [--signature NAME] [--tags serve]
    python tests/interop/run_signatures.py SAVED_MODEL --list-variables

INPUTS.json: {signature: {input key: {"dtype", "shape", "values": [flat]}}}
(a tf2 fixture.json's signatures with their test_inputs). Prints one JSON
document, {loader: {"ok", "error", "signatures": {signature: {output key:
{"dtype", "shape", "values"}}}}}; comparing them is the caller's job. Exits
non-zero only when the arguments are wrong: a loader that fails is reported
with the last lines of its error, so a caller can assert how it fails.

Loaders, each in its own process, each loading the SavedModel once:
- tf2: tf.saved_model.load(...).signatures[name](**inputs)
- tf1: tf.compat.v1.saved_model.loader.load in a graph-mode session, each
  signature's output tensors run with its input tensors fed
- capi: the C API loader of run_saved_model.py (TF_LoadSessionFromSavedModel
  from the wheel's libtensorflow_cc.so.2 through ctypes), what TensorFlow
  Serving runs

--list-variables loads with tf.saved_model.load and prints every variable the
restored object graph holds: [{"path", "name", "dtype", "shape"}], path being
the object path of its first (breadth-first) reference from the root, which is
the checkpoint key without "/.ATTRIBUTES/VARIABLE_VALUE".
"""
import argparse
import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from run_saved_model import as_arrays, as_json, run_capi  # noqa: E402


def selected(all_inputs, signature):
    if signature is None:
        return all_inputs
    return {signature: all_inputs[signature]}


def run_tf2(export_dir, inputs_by_signature, tags):
    import tensorflow as tf

    loaded = tf.saved_model.load(export_dir, tags=tags)
    results = {}
    for name, inputs in inputs_by_signature.items():
        outputs = loaded.signatures[name](**{k: tf.constant(v) for k, v in inputs.items()})
        results[name] = {k: v.numpy() for k, v in outputs.items()}
    return results


def run_tf1(export_dir, inputs_by_signature, tags):
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    with tf.compat.v1.Session(graph=tf.Graph()) as sess:
        meta = tf.compat.v1.saved_model.loader.load(sess, tags, export_dir)
        results = {}
        for name, inputs in inputs_by_signature.items():
            sig = meta.signature_def[name]
            feeds = {sig.inputs[k].name: v for k, v in inputs.items()}
            results[name] = sess.run({k: t.name for k, t in sig.outputs.items()}, feeds)
        return results


def run_capi_all(export_dir, inputs_by_signature, tags):
    return {name: run_capi(export_dir, inputs, name, tags) for name, inputs in inputs_by_signature.items()}


WORKERS = {"tf2": run_tf2, "tf1": run_tf1, "capi": run_capi_all}


def worker(loader, export_dir, inputs_file, signature, tags):
    with open(inputs_file) as f:
        spec = selected(json.load(f), signature or None)
    inputs = {name: as_arrays(tensors) for name, tensors in spec.items()}
    results = WORKERS[loader](export_dir, inputs, tags)
    print(json.dumps({name: {k: as_json(v) for k, v in outputs.items()} for name, outputs in results.items()}))


def list_variables(export_dir, tags):
    """Every variable reachable from the restored root, with its first object path."""
    import tensorflow as tf

    loaded = tf.saved_model.load(export_dir, tags=tags)
    view = tf.train.TrackableView(loaded)
    paths, queue, listed = {id(loaded): ""}, [loaded], []
    while queue:
        obj = queue.pop(0)
        for local_name, child in view.children(obj).items():
            if id(child) in paths:
                continue
            path = f"{paths[id(obj)]}/{escape(local_name)}".lstrip("/")
            paths[id(child)] = path
            queue.append(child)
            if isinstance(child, tf.Variable):
                listed.append({"path": path, "name": child.name.split(":")[0],
                               "dtype": child.dtype.name, "shape": child.shape.as_list()})
    return sorted(listed, key=lambda v: v["path"])


def escape(local_name):
    """A child name as a checkpoint key writes it: "/" as ".S", "." as ".."."""
    return local_name.replace(".", "..").replace("/", ".S")


def run_loaders(args):
    report = {}
    for loader in args.loaders.split(","):
        run = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--worker", loader, os.path.abspath(args.saved_model),
             os.path.abspath(args.inputs), args.signature or "", args.tags],
            capture_output=True, text=True)
        entry = {"ok": run.returncode == 0, "error": None, "signatures": None}
        if run.returncode == 0:
            entry["signatures"] = json.loads(run.stdout.strip().splitlines()[-1])
        else:
            entry["error"] = run.stderr.strip().splitlines()[-15:]
        report[loader] = entry
    return report


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, loader, export_dir, inputs_file, signature, tags = sys.argv
        worker(loader, export_dir, inputs_file, signature, tags.split(","))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("saved_model")
    parser.add_argument("--inputs", help="JSON: {signature: {input key: tensor}}")
    parser.add_argument("--signature", help="run only this signature")
    parser.add_argument("--tags", default="serve")
    parser.add_argument("--loaders", default="tf2,tf1,capi")
    parser.add_argument("--list-variables", action="store_true",
                        help="print the variables tf.saved_model.load restores instead")
    args = parser.parse_args()
    if args.list_variables:
        print(json.dumps(list_variables(args.saved_model, args.tags.split(",")), indent=1))
        return 0
    if not args.inputs:
        parser.error("--inputs is required unless --list-variables")
    for loader in args.loaders.split(","):
        if loader not in WORKERS:
            parser.error(f"unknown loader {loader!r}; known: {', '.join(WORKERS)}")
    json.dump(run_loaders(args), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
