#!/usr/bin/env bash
# Builds the JavaScript redact operator into a component: ./build.sh [OUT.wasm]
#
# With the same script `rig operator new --lang js` gives every JavaScript operator
# (operators/templates/js/build.sh: componentize-js from a scratch copy, with the build cache of
# operators/templates/build-cache.sh), pointed at redact.js, the template's SDK
# (rig-operator.js), rig's wit/ and this folder's node_modules. Needs node/npm and `npm ci` here
# (operators/examples/install-toolchains.sh does both).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
templates=$(cd "$here/../../templates" && pwd)
if [ ! -x "$here/node_modules/.bin/componentize-js" ]; then
  echo "redact-js: componentize-js is missing: run 'npm ci' in $here (or operators/examples/install-toolchains.sh)" >&2
  exit 127
fi
OP_NAME=redact-js OP_SOURCES="$here/redact.js $templates/js/rig-operator.js" OP_ENTRY=redact.js \
  OP_LIB=$templates OP_TOOLS=$here OP_WIT=${RIG_WIT:-$(cd "$here/../../.." && pwd)/wit} \
  exec bash "$templates/js/build.sh" "${1:-$here/../out/redact-js.wasm}"
