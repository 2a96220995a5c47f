#!/bin/sh
# Fills fuzz/corpus/TARGET/ with seed inputs made from testdata/fixtures (the
# regression test writes them while it checks every seed is accepted), plus
# every committed finding under testdata/fuzz-regressions/TARGET/.
set -eu
cd "$(dirname "$0")/.."
SERVEGRAPH_FUZZ_SEED_DIR="$PWD/fuzz/corpus" \
    cargo test --test offline fuzz_regressions::every_seed_is_accepted_by_its_target
for dir in testdata/fuzz-regressions/*/; do
    [ -d "$dir" ] || continue
    target=$(basename "$dir")
    mkdir -p "fuzz/corpus/$target"
    cp "$dir"* "fuzz/corpus/$target/"
done
ls fuzz/corpus/*/ | grep -c . >/dev/null
for dir in fuzz/corpus/*/; do
    echo "$(basename "$dir"): $(ls "$dir" | wc -l) inputs"
done
