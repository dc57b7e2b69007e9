#!/usr/bin/env bash
# Builds the C redact operator into a component: ./build.sh [OUT.wasm]
#
#   1. wit-bindgen c       WIT -> rig_operator.{h,c} + rig_operator_component_type.o (generated here,
#                          not committed)
#   2. clang-19            redact.c -> a core module for wasm32-wasi (Debian's wasi-libc, preview1),
#                          built as a reactor (no main)
#   3. the preview1 reactor adapter, from the crates.io crate wasi-preview1-component-adapter-provider
#                          (same version as rig's wasmtime), written out by a tiny cargo helper
#   4. wasm-tools component new --adapt   core module + adapter -> component
#
# Tools: clang-19, lld-19, wasi-libc, libclang-rt-19-dev-wasm32 (apt), wit-bindgen 0.63 and
# wasm-tools 1.263 (cargo), cargo. operators/examples/install-toolchains.sh installs them all.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
wit=${RIG_WIT:-$repo/wit}
out=${1:-$here/../out/redact-c.wasm}
work=$repo/operators/target/redact-c
ADAPTER_VERSION=50.0.1
export PATH="${RIG_GUEST_TOOLS:-$HOME/.local/share/rig/guest-tools}/bin:$PATH"

missing() {
  echo "redact-c: $1 is missing ($2; or run operators/examples/install-toolchains.sh)" >&2
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
# 1. Bindings.
if ! log=$(wit-bindgen c --out-dir "$work/gen" "$wit" --world rig-operator 2>&1); then
  echo "$log" >&2
  exit 1
fi

# 2. Core module. clang-19 finds Debian's wasi-libc (/usr/lib/wasm32-wasi) by itself; the
# linker is wasm-ld-19 from lld-19.
clang-19 --target=wasm32-wasi -mexec-model=reactor -O2 -Wall -Wextra -Werror -Wno-unused-parameter \
  -fuse-ld="$(command -v wasm-ld-19)" -Wl,--strip-debug \
  -I "$work/gen" -o "$work/redact.core.wasm" \
  "$here/redact.c" "$work/gen/rig_operator.c" "$work/gen/rig_operator_component_type.o"

# 3. The preview1 reactor adapter, from crates.io.
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

# 4. Component.
mkdir -p "$(dirname "$out")"
wasm-tools component new "$work/redact.core.wasm" --adapt "wasi_snapshot_preview1=$adapter" -o "$out"
