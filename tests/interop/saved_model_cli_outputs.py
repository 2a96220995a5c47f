"""Runs saved_model_cli's `show` and `scan` on SavedModels, every flag
combination, in one process, and prints what each printed.

Usage: python tests/interop/saved_model_cli_outputs.py DIR...

For each DIR: `show --dir`; `--all`; per tag set (its tags joined by commas,
as stored) `--tag_set`, `--tag_set --list_ops`, `--tag_set --signature_def
KEY` for every key, and `scan --tag_set`; then `scan`. Output: a JSON list of
{"args": [...], "stdout": "..."}, args as the command line after
`saved_model_cli`.
"""
import contextlib
import io
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def combinations(directory, saved_model_utils):
    show = ["show", "--dir", directory]
    yield show
    yield show + ["--all"]
    saved_model = saved_model_utils.read_saved_model(directory)
    for meta_graph in saved_model.meta_graphs:
        tag_set = ",".join(meta_graph.meta_info_def.tags)
        yield show + ["--tag_set", tag_set]
        yield show + ["--tag_set", tag_set, "--list_ops"]
        for key in sorted(meta_graph.signature_def):
            yield show + ["--tag_set", tag_set, "--signature_def", key]
        yield ["scan", "--dir", directory, "--tag_set", tag_set]
    yield ["scan", "--dir", directory]


def run(cli, flags, args):
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["saved_model_cli"] + args[1:])
    command = cli.show if args[0] == "show" else cli.scan
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        command()
    return captured.getvalue()


def main():
    from absl import flags
    from tensorflow.python.tools import saved_model_cli as cli
    from tensorflow.python.tools import saved_model_utils

    results = []
    for directory in sys.argv[1:]:
        for args in combinations(directory, saved_model_utils):
            results.append({"args": args, "stdout": run(cli, flags, args)})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
