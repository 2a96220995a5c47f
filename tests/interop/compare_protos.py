"""Compares two serialized protobuf messages with TensorFlow's own Python
classes: a file TensorFlow wrote and the same file decoded and re-encoded by
servegraph. Both are parsed with TensorFlow's full schema and serialized
again deterministically, so a field servegraph's protos lack (and so dropped)
shows up as a difference.

Usage: compare_protos.py MESSAGE ORIGINAL REENCODED
MESSAGE is one of saved_model, saved_metadata, fingerprint.
Prints "equal", or the differing text (the caller asserts); exits non-zero
only when the arguments are wrong or a file does not parse.
"""

import difflib
import sys


def message_class(kind):
    if kind == "saved_model":
        from tensorflow.core.protobuf import saved_model_pb2

        return saved_model_pb2.SavedModel
    if kind == "saved_metadata":
        from tensorflow.python.keras.protobuf import saved_metadata_pb2

        return saved_metadata_pb2.SavedMetadata
    if kind == "fingerprint":
        from tensorflow.core.protobuf import fingerprint_pb2

        return fingerprint_pb2.FingerprintDef
    raise SystemExit(f"unknown message kind {kind!r}")


def parse(cls, path):
    message = cls()
    with open(path, "rb") as f:
        message.ParseFromString(f.read())
    return message


def main():
    kind, original_path, reencoded_path = sys.argv[1:4]
    cls = message_class(kind)
    original = parse(cls, original_path)
    reencoded = parse(cls, reencoded_path)
    same_bytes = original.SerializeToString(
        deterministic=True
    ) == reencoded.SerializeToString(deterministic=True)
    if original == reencoded and same_bytes:
        print("equal")
        return 0
    diff = difflib.unified_diff(
        str(original).splitlines(),
        str(reencoded).splitlines(),
        "original",
        "reencoded",
        lineterm="",
        n=2,
    )
    print("\n".join(list(diff)[:200]) or "different bytes, same text")
    return 0


if __name__ == "__main__":
    sys.exit(main())
