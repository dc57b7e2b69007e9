#!/usr/bin/env bash
# Builds the JavaScript redact operator into a component: ./build.sh [OUT.wasm]
# Needs node/npm and `npm ci` here (operators/examples/install-toolchains.sh does both).
# componentize-js is called directly (`jco componentize` does not work here); `-d http fetch-event`
# keeps wasi:http out of the component's imports.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
wit=${RIG_WIT:-$(cd "$here/../../.." && pwd)/wit}
out=${1:-$here/../out/redact-js.wasm}
if ! command -v node >/dev/null; then
  echo "redact-js: node is missing (apt-get install nodejs npm, or run operators/examples/install-toolchains.sh)" >&2
  exit 127
fi
cjs=$here/node_modules/.bin/componentize-js
if [ ! -x "$cjs" ]; then
  echo "redact-js: componentize-js is missing: run 'npm ci' in $here (or operators/examples/install-toolchains.sh)" >&2
  exit 127
fi
mkdir -p "$(dirname "$out")"
"$cjs" "$here/redact.js" --wit "$wit" --world-name rig-operator -d http fetch-event -o "$out" >/dev/null
