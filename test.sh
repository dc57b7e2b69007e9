#!/usr/bin/env bash
# Runs rig's whole test suite: unit tests, and end-to-end tests on the real kernel (as root).
# Under CI=true a test that cannot run here (not root, no BTF) fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh
# Guest toolchains for the example operators in Python, JavaScript and C (the Rust one needs none).
operators/examples/install-toolchains.sh
cargo test --release --locked --workspace --no-fail-fast
