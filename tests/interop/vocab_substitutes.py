"""Replaces words a trimmed vocabulary dropped by words the model never saw.

    python tests/interop/vocab_substitutes.py INPUTS.json VOCAB.txt KEPT OUT.json [--buckets B]

INPUTS.json: {key: {"dtype": "string", "shape", "values": [flat]}} (a
fixture.json's test_inputs). VOCAB.txt: the full vocabulary; its first KEPT
lines are kept, the rest dropped. Each dropped word in the inputs becomes a
word that is in no line of VOCAB.txt: any such word for a table with a
default value (--buckets 0), else one that TensorFlow's own
StringToHashBucketFast sends to the dropped word's bucket, so that both are
what an unseen word is to the table. Writes OUT.json in the same form and
prints the substitutions as JSON.
"""
import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def bucket_of(words, buckets):
    import tensorflow as tf

    return [int(b) for b in tf.strings.to_hash_bucket_fast(tf.constant(words), buckets).numpy()]


def substitutes(dropped, vocabulary, buckets):
    candidates = [f"unseen{i}" for i in range(64)]
    candidates = [c for c in candidates if c not in vocabulary]
    if buckets == 0:
        return {word: candidates[0] for word in dropped}
    wanted = dict(zip(dropped, bucket_of(dropped, buckets))) if dropped else {}
    offered = dict(zip(candidates, bucket_of(candidates, buckets)))
    chosen = {}
    for word, bucket in wanted.items():
        chosen[word] = next(c for c, b in offered.items() if b == bucket)
    return chosen


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs")
    parser.add_argument("vocabulary")
    parser.add_argument("kept", type=int)
    parser.add_argument("out")
    parser.add_argument("--buckets", type=int, default=0)
    args = parser.parse_args()
    with open(args.vocabulary, encoding="utf-8") as f:
        lines = f.read().splitlines()
    dropped_set = set(lines[args.kept:])
    with open(args.inputs) as f:
        inputs = json.load(f)
    used = sorted({v for t in inputs.values() if t["dtype"] == "string" for v in t["values"] if v in dropped_set})
    chosen = substitutes(used, set(lines), args.buckets)
    for t in inputs.values():
        if t["dtype"] == "string":
            t["values"] = [chosen.get(v, v) for v in t["values"]]
    with open(args.out, "w") as f:
        json.dump(inputs, f)
    print(json.dumps(chosen))


if __name__ == "__main__":
    main()
