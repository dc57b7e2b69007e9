#!/usr/bin/env bash
# Builds this operator into a WebAssembly component: ./build.sh [OUT.wasm]
# Needs the Rust toolchain of rust-toolchain.toml with the wasm32-wasip2 target (rig's setup
# installs it; otherwise: rustup toolchain install).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/@NAME@.wasm}
if ! command -v cargo >/dev/null; then
  echo "@NAME@: cargo is missing (install Rust with rustup)" >&2
  exit 127
fi
cd "$here"
cargo build --quiet --release --target wasm32-wasip2
mkdir -p "$(dirname "$out")"
cp target/wasm32-wasip2/release/@CRATE@.wasm "$out"
