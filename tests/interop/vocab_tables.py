"""Writes a GraphDef with TensorFlow 1's own vocabulary tables, for --max-vocab.

    python tests/interop/vocab_tables.py OUT_DIR KEPT

OUT_DIR/source/: graph.pb, words.txt and ints.txt (20 entries each). The graph
serves three lookups built by `index_table_from_file` and
`index_to_string_table_from_file`:
- ids = words.txt ids of string keys `x`, 2 OOV buckets (fast hash);
- int_ids = ints.txt ids of int64 keys `n`, 3 OOV buckets (strong hash of
  the keys as strings);
- words = words.txt line `m` (an id-to-string table: keys are line numbers).
OUT_DIR/inputs.json holds keys some of which are past the first KEPT lines;
OUT_DIR/substituted.json the same with each such key replaced by a key in no
line that TensorFlow hashes to the same bucket: what the original graph does
with it is what a graph whose vocabularies lost those lines must do with the
real key.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402
from tensorflow.python.ops import lookup_ops  # noqa: E402

tf.compat.v1.disable_eager_execution()
v1 = tf.compat.v1

WORDS = [f"w{i}" for i in range(20)]
INTS = [i * 7 for i in range(20)]
STRONG_KEY = [1, 2]


def write_graph(source):
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.string, [None], name="x")
        n = v1.placeholder(tf.int64, [None], name="n")
        m = v1.placeholder(tf.int64, [None], name="m")
        words = lookup_ops.index_table_from_file(os.path.join(source, "words.txt"), num_oov_buckets=2)
        ints = lookup_ops.index_table_from_file(
            os.path.join(source, "ints.txt"), num_oov_buckets=3, key_dtype=tf.int64,
            hasher_spec=lookup_ops.StrongHashSpec(STRONG_KEY))
        names = lookup_ops.index_to_string_table_from_file(os.path.join(source, "words.txt"))
        tf.identity(words.lookup(x), name="ids")
        tf.identity(ints.lookup(n), name="int_ids")
        tf.identity(names.lookup(m), name="words")
    tf.io.write_graph(graph.as_graph_def(), source, "graph.pb", as_text=False)


def same_bucket(dropped, candidates, bucket):
    """For each dropped key, the first candidate with its bucket."""
    wanted = bucket(dropped)
    offered = list(zip(candidates, bucket(candidates)))
    return {d: next(c for c, b in offered if b == w) for d, w in zip(dropped, wanted)}


def fast(keys):
    return tf.strings.to_hash_bucket_fast(keys, 2)


def strong(keys):
    return tf.strings.to_hash_bucket_strong(tf.strings.as_string(keys), 3, STRONG_KEY)


def main():
    out, kept = sys.argv[1], int(sys.argv[2])
    source = os.path.join(out, "source")
    os.makedirs(source, exist_ok=True)
    with open(os.path.join(source, "words.txt"), "w") as f:
        f.write("".join(w + "\n" for w in WORDS))
    with open(os.path.join(source, "ints.txt"), "w") as f:
        f.write("".join(f"{i}\n" for i in INTS))
    write_graph(source)

    x = ["w0", "w4", "w5", "w19", "never", "w10"]
    n = [0, 28, 35, 133, 1000, 3]
    m = [0, 3, 4, 19, 25, 10]
    with v1.Session() as sess:
        dropped_x = [w for w in x if w in WORDS[kept:]]
        dropped_n = [k for k in n if k in INTS[kept:]]
        unseen_x = [f"unseen{i}" for i in range(32)]
        unseen_n = [100000 + i for i in range(32)]
        swap_x = same_bucket(dropped_x, unseen_x, lambda k: list(sess.run(fast(k))))
        swap_n = same_bucket(dropped_n, unseen_n, lambda k: list(sess.run(strong(tf.constant(k, tf.int64)))))

    def spec(dtype, values):
        return {"dtype": dtype, "shape": [len(values)], "values": values}

    inputs = {"x": spec("string", x), "n": spec("int64", n), "m": spec("int64", m)}
    substituted = {
        "x": spec("string", [swap_x.get(w, w) for w in x]),
        "n": spec("int64", [swap_n.get(k, k) for k in n]),
        "m": spec("int64", m),
    }
    for name, value in [("inputs.json", inputs), ("substituted.json", substituted)]:
        with open(os.path.join(out, name), "w") as f:
            json.dump(value, f)
    print(json.dumps({"x": swap_x, "n": {str(k): v for k, v in swap_n.items()}}))


if __name__ == "__main__":
    main()
