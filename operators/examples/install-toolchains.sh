#!/usr/bin/env bash
# Installs what the operator examples and `rig operator new` templates need to build guests in
# Python, JavaScript and C (Rust needs only the pinned toolchain with wasm32-wasip2, which
# ./setup.sh installs). Idempotent: each step is skipped when its tool is there at the pinned
# version. Quiet: one line per step that does something, with its time.
#
#   apt      wasi-libc, libclang-rt-19-dev-wasm32, lld-19, clang-19 (C); nodejs + npm if no node
#   pip      componentize-py==0.25.1 (Python)
#   npm      npm ci in redact-js (componentize-js 0.23.0, pinned in package.json/package-lock.json)
#   cargo    wit-bindgen-cli 0.63.0 (C bindings) and wasm-tools 1.263.0 (component new), built from
#            crates.io source into $RIG_GUEST_TOOLS/bin (default ~/.local/share/rig/guest-tools)
#
# The C build also needs the preview1 reactor adapter: it comes from the crates.io crate
# wasi-preview1-component-adapter-provider (same version as rig's wasmtime, 50.0.1) and is
# extracted by the C build script itself (operators/templates/c/build.sh, which redact-c uses).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

COMPONENTIZE_PY=0.25.1
WIT_BINDGEN=0.63.0
WASM_TOOLS=1.263.0
TOOLS=${RIG_GUEST_TOOLS:-$HOME/.local/share/rig/guest-tools}
export PATH="$TOOLS/bin:$PATH"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

step_start=0
begin() { echo "install-toolchains: $*" >&2; step_start=$(date +%s); }
done_() { echo "install-toolchains:   done in $(( $(date +%s) - step_start )) s" >&2; }

# 1. Debian packages.
pkgs=(wasi-libc libclang-rt-19-dev-wasm32 lld-19 clang-19)
command -v node >/dev/null || pkgs+=(nodejs)
command -v npm >/dev/null || pkgs+=(npm)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  begin "apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  done_
fi

# 2. componentize-py (a self-contained wheel: CPython for WASI and the component tooling inside).
if [ "$(componentize-py --version 2>/dev/null)" != "componentize-py $COMPONENTIZE_PY" ]; then
  begin "pip install componentize-py==$COMPONENTIZE_PY"
  if ! python3 -m pip install -q --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY" 2>/dev/null; then
    # An externally managed Python (Debian's): a venv of our own instead.
    python3 -m venv "$TOOLS/venv"
    "$TOOLS/venv/bin/pip" install -q --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY"
    mkdir -p "$TOOLS/bin"
    ln -sf "$TOOLS/venv/bin/componentize-py" "$TOOLS/bin/componentize-py"
  fi
  hash -r
  done_
fi

# 3. componentize-js for the JS example, exactly as locked.
js=$here/redact-js
if [ ! -x "$js/node_modules/.bin/componentize-js" ] || [ "$js/package-lock.json" -nt "$js/node_modules/.package-lock.json" ]; then
  begin "npm ci in redact-js (componentize-js)"
  (cd "$js" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  done_
fi

# 4. wit-bindgen and wasm-tools, from crates.io source (only the parts the C build uses).
cargo_tool() { # NAME CRATE VERSION FEATURES
  local have
  have=$("$1" --version 2>/dev/null | awk '{print $2}') || true
  [ "$have" = "$3" ] && return 0
  if ! command -v cargo >/dev/null; then
    echo "install-toolchains: cargo is missing: install Rust (rustup) first" >&2
    exit 1
  fi
  begin "cargo install $2@$3 (from source, a few minutes)"
  # From inside the repo, so rig's pinned toolchain (rust-toolchain.toml) builds it.
  (cd "$here" && cargo install --quiet --locked "$2@$3" --no-default-features --features "$4" --root "$TOOLS")
  done_
}
cargo_tool wit-bindgen wit-bindgen-cli "$WIT_BINDGEN" c
cargo_tool wasm-tools wasm-tools "$WASM_TOOLS" component
