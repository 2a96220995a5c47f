#!/bin/sh
# The big-input benchmark: builds the release CLI and the copy yardstick,
# generates the inputs with real TensorFlow when they are missing, and runs
# every contender side by side (see bench/run.py for the options).
#
#   SERVEGRAPH_PYTHON=path/to/python bench/run.sh [DATA_DIR] [run.py options]
set -eu
cd "$(dirname "$0")/.."
PYTHON="${SERVEGRAPH_PYTHON:-.venv/bin/python}"
DATA="target/bench-data"
case "${1:-}" in
  ""|-*) ;;
  *) DATA="$1"; shift ;;
esac
cargo build --release --bin servegraph --example copy_kept
for run in lstm_graph big_ckpt; do
  if [ ! -f "$DATA/$run/bench.json" ]; then
    "$PYTHON" bench/generate.py "$DATA" --only "$run"
  fi
done
SERVEGRAPH_PYTHON="$PYTHON" exec "$PYTHON" bench/run.py "$DATA" "$@"
