#!/usr/bin/env bash
# Installs what rig needs on a fresh Debian machine, builds rig and its bundled gadgets, and
# installs the `rig` binary to /usr/local/bin. Safe to run again: every step is idempotent.
set -euo pipefail
cd "$(dirname "$0")"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# System packages: the gadget toolchain (clang/llvm 19, bpftool, the kernel's uapi headers —
# `asm/types.h`, `asm/errno.h` — that IG's networking gadgets include; libbpf's own headers come
# with rig, from the libbpf-sys crate), and the peers and tools the tests and benchmarks use.
PKGS=(clang-19 llvm-19 lld-19 bpftool linux-libc-dev libbpf-dev protobuf-compiler bpftrace pkg-config bc gcc docker-registry
      containerd runc umoci skopeo busybox-static)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The Rust toolchain pinned in rust-toolchain.toml (machines here set RUSTUP_AUTO_INSTALL=0).
if ! command -v rustup >/dev/null; then
  echo "setup: rustup is required (https://rustup.rs); it is not installed" >&2
  exit 1
fi
rustup toolchain install >/dev/null 2>&1 || rustup toolchain install 1.99.1 --profile minimal --target wasm32-wasip2 --component clippy,rustfmt

# One build, in release mode, shared by `rig` and the test suite.
cargo build --release --locked -p rig
# The installed binary is stripped (~30 MB instead of ~160 MB); its symbols and line tables stay in
# target/release/rig.debug, linked by a .gnu_debuglink, so gdb and backtrace tools still find them.
objcopy --only-keep-debug target/release/rig target/release/rig.debug
objcopy --strip-debug --strip-unneeded --add-gnu-debuglink=target/release/rig.debug \
  target/release/rig target/release/rig.stripped
$SUDO install -m 0755 target/release/rig.stripped /usr/local/bin/rig
rm -f target/release/rig.stripped

# The guest toolchains of `rig operator new --lang python|js|c` (componentize-py, componentize-js,
# wasi-libc, wit-bindgen, wasm-tools), so every command of the README works after this script.
operators/examples/install-toolchains.sh

# Build the bundled gadgets into the local image store, so `rig run trace_exec` runs an image.
rig image build --bundled >/dev/null
echo "setup: done — try: rig run trace_exec" >&2
