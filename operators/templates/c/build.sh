#!/usr/bin/env bash
# Builds this operator into a WebAssembly component: ./build.sh [OUT.wasm]
#
#   1. wit-bindgen c      wit/ -> build/gen/rig_operator.{h,c} + rig_operator_component_type.o
#   2. clang-19           operator.c -> a wasm32-wasi core module (Debian's wasi-libc), a reactor
#   3. the preview1 reactor adapter from the crates.io crate wasi-preview1-component-adapter-provider
#                         (same version as rig's wasmtime), written out by a tiny cargo helper
#   4. wasm-tools component new --adapt   core module + adapter -> component
#
# Tools: apt-get install clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32;
#        cargo install --locked wit-bindgen-cli@0.63.0 wasm-tools@1.263.0 (rig's
#        operators/examples/install-toolchains.sh puts them in ~/.local/share/rig/guest-tools/bin).
#
# rig's own C example (operators/examples/redact-c) builds with this same script, through these
# variables: OP_NAME, OP_SOURCE (the .c file), OP_WIT (the WIT folder), OP_WORK (scratch folder).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
name=${OP_NAME:-@NAME@}
source=${OP_SOURCE:-$here/operator.c}
wit=${OP_WIT:-$here/wit}
work=${OP_WORK:-$here/build}
out=${1:-$here/$name.wasm}
ADAPTER_VERSION=50.0.1
export PATH="${RIG_GUEST_TOOLS:-$HOME/.local/share/rig/guest-tools}/bin:$PATH"

missing() {
  echo "$name: $1 is missing ($2; rig's operators/examples/install-toolchains.sh installs them all)" >&2
  exit 127
}
command -v clang-19 >/dev/null || missing clang-19 "apt-get install clang-19"
command -v wasm-ld-19 >/dev/null || missing wasm-ld-19 "apt-get install lld-19"
[ -f /usr/lib/wasm32-wasi/libc.a ] || missing wasi-libc "apt-get install wasi-libc"
[ -f /usr/lib/llvm-19/lib/clang/19/lib/wasi/libclang_rt.builtins-wasm32.a ] ||
  missing "the wasm32 compiler runtime" "apt-get install libclang-rt-19-dev-wasm32"
command -v wit-bindgen >/dev/null || missing wit-bindgen "cargo install --locked wit-bindgen-cli@0.63.0"
command -v wasm-tools >/dev/null || missing wasm-tools "cargo install --locked wasm-tools@1.263.0"
command -v cargo >/dev/null || missing cargo "install Rust with rustup"

mkdir -p "$work/gen"
if ! log=$(wit-bindgen c --out-dir "$work/gen" "$wit" --world rig-operator 2>&1); then
  echo "$log" >&2
  exit 1
fi
# -mbulk-memory: memcpy/memset become single memory.copy/memory.fill instructions instead of
# calls into wasi-libc's byte loops (wasmtime supports bulk memory).
clang-19 --target=wasm32-wasi -mexec-model=reactor -mbulk-memory -O2 -Wall -Wextra -Werror -Wno-unused-parameter \
  -fuse-ld="$(command -v wasm-ld-19)" -Wl,--strip-debug \
  -I "$work/gen" -o "$work/operator.core.wasm" \
  "$source" "$work/gen/rig_operator.c" "$work/gen/rig_operator_component_type.o"

adapter=$work/wasi_snapshot_preview1.reactor-$ADAPTER_VERSION.wasm
if [ ! -s "$adapter" ]; then
  mkdir -p "$work/adapter/src"
  cat >"$work/adapter/Cargo.toml" <<TOML
[package]
name = "write-wasi-adapter"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
wasi-preview1-component-adapter-provider = "=$ADAPTER_VERSION"

[workspace]
TOML
  cat >"$work/adapter/src/main.rs" <<'RS'
//! Writes the wasi_snapshot_preview1 reactor adapter shipped in the crates.io crate to a file.
fn main() {
    let path = std::env::args_os().nth(1).expect("usage: write-wasi-adapter OUT.wasm");
    std::fs::write(&path, wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER)
        .expect("write the adapter");
}
RS
  (unset CARGO_TARGET_DIR CARGO_BUILD_TARGET RUSTFLAGS CARGO_ENCODED_RUSTFLAGS
   cargo run --quiet --manifest-path "$work/adapter/Cargo.toml" --target-dir "$work/adapter/target" -- "$adapter.tmp")
  mv "$adapter.tmp" "$adapter"
fi

mkdir -p "$(dirname "$out")"
wasm-tools component new "$work/operator.core.wasm" --adapt "wasi_snapshot_preview1=$adapter" -o "$out"
