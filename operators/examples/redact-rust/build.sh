#!/usr/bin/env bash
# Builds the Rust redact operator into a component: ./build.sh [OUT.wasm]
# A member of the operators/ workspace (uses rig-operator-sdk); needs the pinned Rust toolchain
# with the wasm32-wasip2 target (rig's setup.sh installs it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ops=$(cd "$here/../.." && pwd)
out=${1:-$here/../out/redact-rust.wasm}
if ! command -v cargo >/dev/null; then
  echo "redact-rust: cargo is missing (install Rust with rustup, then run ./setup.sh)" >&2
  exit 127
fi
# Nothing of an outer cargo run (a test calling this script) may redirect this build.
unset CARGO_TARGET_DIR CARGO_BUILD_TARGET RUSTFLAGS CARGO_ENCODED_RUSTFLAGS
cargo build --quiet --release --target wasm32-wasip2 -p rig-op-redact \
  --manifest-path "$ops/Cargo.toml" --target-dir "$ops/target"
mkdir -p "$(dirname "$out")"
cp "$ops/target/wasm32-wasip2/release/rig_op_redact.wasm" "$out"
