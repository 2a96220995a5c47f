"""Writes a SavedModel with TensorFlow 1's Builder that should serve as is,
for checking that `servegraph validate` finds nothing in TensorFlow's own
idioms: a vocabulary table read from an asset and initialized by the main op,
a resource variable, a partitioned variable, batched inputs and outputs.

Usage: python tests/interop/write_lint_models.py OUT_DIR

Writes OUT_DIR/tf1_clean.
"""
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def write_clean(tf, out):
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default(), tempfile.TemporaryDirectory() as scratch:
        vocab = os.path.join(scratch, "vocab.txt")
        with open(vocab, "w") as f:
            f.write("a\nb\nc\n")
        tokens = v1.placeholder(tf.string, [None, 3], name="tokens")
        x = v1.placeholder(tf.float32, [None, 4], name="x")
        table = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                vocab,
                tf.string,
                tf.lookup.TextFileIndex.WHOLE_LINE,
                tf.int64,
                tf.lookup.TextFileIndex.LINE_NUMBER,
            ),
            -1,
        )
        ids = table.lookup(tokens)
        w = v1.get_variable("w", [4, 2], use_resource=True)
        parts = v1.get_variable(
            "parts",
            [4, 2],
            partitioner=v1.fixed_size_partitioner(2),
            use_resource=False,
        )
        y = tf.add(tf.matmul(x, w), tf.matmul(x, tf.concat(list(parts), 0)), name="y")
        counts = tf.reduce_sum(tf.cast(ids >= 0, tf.float32), axis=1, keepdims=True, name="counts")
        predict = v1.saved_model.predict_signature_def(
            {"x": x, "tokens": tokens}, {"y": y, "counts": counts}
        )
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            session.run(v1.tables_initializer())
            builder = v1.saved_model.Builder(out)
            builder.add_meta_graph_and_variables(
                session,
                ["serve"],
                signature_def_map={"serving_default": predict},
                assets_collection=v1.get_collection(v1.GraphKeys.ASSET_FILEPATHS),
                main_op=v1.tables_initializer(),
            )
            builder.save()


def main():
    import tensorflow as tf

    write_clean(tf, os.path.join(sys.argv[1], "tf1_clean"))


if __name__ == "__main__":
    main()
