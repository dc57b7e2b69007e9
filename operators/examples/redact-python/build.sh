#!/usr/bin/env bash
# Builds the Python redact operator into a component: ./build.sh [OUT.wasm]
# Needs componentize-py (operators/examples/install-toolchains.sh installs the pinned version).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
wit=${RIG_WIT:-$(cd "$here/../../.." && pwd)/wit}
out=${1:-$here/../out/redact-python.wasm}
if ! command -v componentize-py >/dev/null; then
  echo "redact-python: componentize-py is missing (pip install componentize-py==0.25.1, or run operators/examples/install-toolchains.sh)" >&2
  exit 127
fi
mkdir -p "$(dirname "$out")"
componentize-py -d "$wit" -w rig-operator componentize -p "$here" app -o "$out" >/dev/null
