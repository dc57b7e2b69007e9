#!/usr/bin/env bash
# Builds this operator into a WebAssembly component: ./build.sh [OUT.wasm]
# Needs node and npm; the first build runs `npm install` here (the pinned componentize-js).
# componentize-js is called directly; `-d http fetch-event` keeps wasi:http out of the imports.
#
# The sources are built from a scratch copy (componentize-js reads imports from one folder), and
# a build of sources built before comes from a cache, so the same sources give the same bytes:
# see build-cache.sh (RIG_BUILD_CACHE=off always rebuilds). For rig's own example: OP_NAME,
# OP_LIB (the folder of build-cache.sh), OP_ENTRY (the module that exports `operator`, default
# operator.js) and OP_TOOLS (the folder whose node_modules has componentize-js).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
name=${OP_NAME:-@NAME@}
# shellcheck source=../build-cache.sh
. "${OP_LIB:-$here}/build-cache.sh" "$@"
tools=${OP_TOOLS:-$here}
for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "$name: $tool is missing (apt-get install nodejs npm)" >&2
    exit 127
  fi
done
cjs=$tools/node_modules/.bin/componentize-js
if [ ! -x "$cjs" ]; then
  echo "$name: npm install (componentize-js, once)..." >&2
  (cd "$tools" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi
version=$(node -p "require('$tools/node_modules/@bytecodealliance/componentize-js/package.json').version")
key=$(rig_inputs_key "$wit" "${sources[@]}" "$0" -- "componentize-js $version" "node $(node --version)")
rig_cached_build "$name" "$out" "$key" componentize-js \
  rig_scratch_build "$cjs" "${OP_ENTRY:-operator.js}" --wit "$wit" --world-name rig-operator -d http fetch-event -o
