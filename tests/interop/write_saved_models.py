"""Writes SavedModels with TensorFlow itself, for comparing `show` and `scan`
with saved_model_cli.

Usage: python tests/interop/write_saved_models.py OUT_DIR

Writes OUT_DIR/tf1_builder (tf.compat.v1.saved_model.Builder: three tag sets,
predict and classify signatures, a ReadFile and a PyFunc), OUT_DIR/tf2_module
(tf.saved_model.save of a tf.Module: a signature, a tf.function traced with
tensors and Python values, a bare concrete function, keyword and argument-less
functions, a PrintV2 inside a function) and OUT_DIR/tf_keras (tf_keras
model.save() of a small functional model, SavedModel format).
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["TF_USE_LEGACY_KERAS"] = "1"


def write_tf1(tf, out):
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 4], name="x")
        scalar = v1.placeholder(tf.string, [], name="path")
        anything = v1.placeholder(tf.int64, None, name="ids")
        paths = v1.placeholder(tf.string, [None], name="examples")
        w = v1.get_variable("w", [4, 2])
        y = tf.matmul(x, w, name="y")
        contents = tf.io.read_file(scalar, name="contents")
        doubled = v1.py_func(lambda a: a * 2, [y], tf.float32, name="doubled")
        info = v1.saved_model.build_tensor_info
        predict = v1.saved_model.predict_signature_def(
            {"x": x, "path": scalar, "ids": anything},
            {"y": y, "contents": contents, "doubled": doubled},
        )
        classify = v1.saved_model.signature_def_utils.build_signature_def(
            {"inputs": info(paths)},
            {"classes": info(paths)},
            "tensorflow/serving/classify",
        )
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            builder = v1.saved_model.Builder(out)
            builder.add_meta_graph_and_variables(
                session,
                ["serve"],
                signature_def_map={"serving_default": predict, "classify": classify},
            )
            builder.add_meta_graph(["serve", "gpu"], signature_def_map={"only": predict})
            builder.add_meta_graph(["train"])
            builder.save()


def write_tf2(tf, out):
    class Module(tf.Module):
        def __init__(self):
            super().__init__()
            self.kernel = tf.Variable(tf.ones([4, 2]))

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def serve(self, x):
            return {"y": tf.matmul(x, self.kernel)}

        @tf.function
        def scaled(self, a, factor=2, flag=True, label="it's"):
            tf.print(a)
            return a * factor

        @tf.function
        def keyword(self, x, *, scale=1e-5):
            return x * scale

        @tf.function
        def constant(self):
            return tf.constant(1)

        @tf.function
        def pair(self, values, extra=None):
            return values[0] + values[1]

    module = Module()
    module.scaled(tf.constant([1.0]))
    module.scaled(tf.constant([[1, 2]]), factor=3, label="x\ny")
    module.scaled(tf.constant(1.0), flag=False)
    module.keyword(tf.constant(2.0), scale=0.25)
    module.constant()
    module.pair([tf.constant(1.0), tf.constant(2.0)])
    module.pair((tf.constant([1.0]), 7.5), extra=())
    module.bare = module.serve.get_concrete_function()
    module.sparse = tf.function(lambda s: s.values).get_concrete_function(
        tf.SparseTensorSpec([None, 3], tf.float32)
    )
    unknown = tf.TensorSpec(None, tf.float32, name="a")
    tf.saved_model.save(
        module,
        out,
        signatures={
            "serving_default": module.serve,
            "scaled": module.scaled.get_concrete_function(unknown),
        },
    )


def write_tf_keras(tf, out):
    import tf_keras as keras

    inputs = keras.Input(shape=(4,), name="features")
    hidden = keras.layers.Dense(3, activation="relu")(inputs)
    hidden = keras.layers.Dropout(0.2)(hidden)
    outputs = keras.layers.Dense(2, name="scores")(hidden)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mse")
    model.fit(tf.ones([8, 4]), tf.ones([8, 2]), verbose=0)
    model.save(out)


def main():
    import tensorflow as tf

    out = sys.argv[1]
    write_tf1(tf, os.path.join(out, "tf1_builder"))
    write_tf2(tf, os.path.join(out, "tf2_module"))
    write_tf_keras(tf, os.path.join(out, "tf_keras"))


if __name__ == "__main__":
    main()
