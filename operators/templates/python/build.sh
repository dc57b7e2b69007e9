#!/usr/bin/env bash
# Builds this operator into a WebAssembly component: ./build.sh [OUT.wasm]
# Needs componentize-py 0.25.1 (pip install componentize-py==0.25.1).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/@NAME@.wasm}
if ! command -v componentize-py >/dev/null; then
  echo "@NAME@: componentize-py is missing (pip install componentize-py==0.25.1)" >&2
  exit 127
fi
mkdir -p "$(dirname "$out")"
componentize-py -d "$here/wit" -w rig-operator componentize -p "$here" app -o "$out" >/dev/null
