"""Saves a small trained tf_keras model with `model.save()` (a TF2 SavedModel
whose variables/ is keyed by object path) and the outputs it serves.

    python tests/interop/write_keras_saved_model.py OUT_DIR

Writes OUT_DIR/saved_model/ (Adam and a metric, as `fit` leaves them),
OUT_DIR/inputs.json and OUT_DIR/expected.json: a batch for the
serving_default signature's input and what the source SavedModel's
serving_default returns for it, keyed by the exported graph's tensor names
(tests/interop/run_saved_model.py's format), and OUT_DIR/names.json with the
input key and the output tensor.
"""
import json
import os
import sys

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(out_dir):
    import numpy as np
    import tensorflow as tf

    tf.random.set_seed(3)
    rng = np.random.RandomState(3)
    model = tf.keras.Sequential([
        tf.keras.layers.Dense(6, activation="relu", input_shape=(4,), name="hidden"),
        tf.keras.layers.Dense(3, activation="softmax", name="probs"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(rng.normal(size=(32, 4)), rng.randint(0, 3, size=32), epochs=2, verbose=0)
    saved = os.path.join(out_dir, "saved_model")
    model.save(saved)

    batch = rng.normal(size=(5, 4)).astype(np.float32)
    serving = tf.saved_model.load(saved).signatures["serving_default"]
    (name, spec), = serving.structured_input_signature[1].items()
    (expected,) = serving(**{name: tf.constant(batch)}).values()
    expected = expected.numpy()
    # The MetaGraphDef's signature names the placeholder serving_default_<name>.
    input_key = "serving_default_" + name

    def tensor(array):
        return {"dtype": "float32", "shape": list(array.shape), "values": array.reshape(-1).tolist()}

    write(out_dir, "inputs.json", {input_key: tensor(batch)})
    write(out_dir, "expected.json", {"probs": tensor(expected)})
    write(out_dir, "names.json", {"input_key": input_key, "output": "StatefulPartitionedCall:0"})


def write(out_dir, name, value):
    with open(os.path.join(out_dir, name), "w") as f:
        json.dump(value, f)


if __name__ == "__main__":
    main(sys.argv[1])
