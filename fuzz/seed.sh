#!/bin/sh
# Seeds fuzz/corpus/<target>/ from the repository's own inputs (tests/corpus, gadgets,
# tests/malformed); then `cargo +nightly fuzz run <target>` starts from them.
set -eu
cd "$(dirname "$0")"
exec cargo run --quiet --example seed
