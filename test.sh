#!/usr/bin/env bash
# Runs rig's whole test suite: unit tests, and end-to-end tests on the real kernel (as root).
# Under CI=true a test that cannot run here (not root, no BTF) fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh
# Guest toolchains for the example operators in Python, JavaScript and C (the Rust one needs none).
operators/examples/install-toolchains.sh
cargo test --release --locked --workspace --no-fail-fast
# The guest workspace (operators/: SDK, filter, sort, limit, export, examples) on the host target.
# Its own target dir (operators/target, where the wasm32 builds live too); the release profile's
# LTO and single codegen unit are for shipped components, not for unit tests, so they are off here.
CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo test --release --locked --manifest-path operators/Cargo.toml --workspace --no-fail-fast
# The fuzz workspace (fuzz/: cargo-fuzz targets for BTF, objects, gadget.yaml and graphs): on
# stable its tests replay every seed through each target's body. It shares the main target dir,
# so only what its own feature set changes is built again.
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}" \
    cargo test --release --locked --manifest-path fuzz/Cargo.toml --no-fail-fast
