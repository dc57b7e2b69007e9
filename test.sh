#!/usr/bin/env bash
# Runs rig's whole test suite: unit tests, and end-to-end tests on the real kernel (as root).
# Under CI=true a test that cannot run here (not root, no BTF) fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh
cargo test --release --locked --workspace
