#!/usr/bin/env bash
# Builds this operator into a WebAssembly component: ./build.sh [OUT.wasm]
# Needs node and npm; installs the pinned componentize-js into node_modules on first use.
# componentize-js is called directly; `-d http fetch-event` keeps wasi:http out of the imports.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/@NAME@.wasm}
for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "@NAME@: $tool is missing (apt-get install nodejs npm)" >&2
    exit 127
  fi
done
cjs=$here/node_modules/.bin/componentize-js
if [ ! -x "$cjs" ]; then
  (cd "$here" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi
mkdir -p "$(dirname "$out")"
"$cjs" "$here/operator.js" --wit "$here/wit" --world-name rig-operator -d http fetch-event -o "$out" >/dev/null
