#!/usr/bin/env bash
# Builds the C redact operator into a component: ./build.sh [OUT.wasm]
#
# With the same script `rig operator new --lang c` gives every C operator
# (operators/templates/c/build.sh: wit-bindgen c, clang-19 for wasm32-wasi as a reactor, the
# preview1 adapter from crates.io, wasm-tools component new), pointed at redact.c and rig's wit/.
# operators/examples/install-toolchains.sh installs the tools.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
OP_NAME=redact-c OP_SOURCE=$here/redact.c OP_WIT=${RIG_WIT:-$repo/wit} OP_WORK=$repo/operators/target/redact-c \
  exec bash "$repo/operators/templates/c/build.sh" "${1:-$here/../out/redact-c.wasm}"
