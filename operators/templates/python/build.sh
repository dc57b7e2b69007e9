#!/usr/bin/env bash
# Builds this operator into a WebAssembly component: ./build.sh [OUT.wasm]
# Needs componentize-py 0.25.1: pip install componentize-py==0.25.1
#
# The Python files are built from a scratch copy (no __pycache__ is written here), and a build of
# sources built before comes from a cache, so the same sources give the same bytes: see
# build-cache.sh (RIG_BUILD_CACHE=off always rebuilds; OP_NAME and OP_LIB, the folder of
# build-cache.sh, are for rig's own example).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
name=${OP_NAME:-@NAME@}
# shellcheck source=../build-cache.sh
. "${OP_LIB:-$here}/build-cache.sh" "$@"
if ! command -v componentize-py >/dev/null; then
  echo "$name: componentize-py is missing (pip install componentize-py==0.25.1)" >&2
  exit 127
fi
key=$(rig_inputs_key "$wit" "${sources[@]}" "$0" -- "$(componentize-py --version)" "${VIRTUAL_ENV:-}")
rig_cached_build "$name" "$out" "$key" componentize-py \
  rig_scratch_build componentize-py -d "$wit" -w rig-operator componentize -p . app -o
