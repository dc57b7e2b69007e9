#!/usr/bin/env bash
# Builds the Python redact operator into a component: ./build.sh [OUT.wasm]
#
# With the same script `rig operator new --lang python` gives every Python operator
# (operators/templates/python/build.sh: componentize-py from a scratch copy, with the build
# cache of operators/templates/build-cache.sh), pointed at app.py, the template's SDK
# (rig_operator.py) and rig's wit/. Needs componentize-py
# (operators/examples/install-toolchains.sh installs the pinned version).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
templates=$(cd "$here/../../templates" && pwd)
OP_NAME=redact-python OP_SOURCES="$here $templates/python/rig_operator.py" OP_LIB=$templates \
  OP_WIT=${RIG_WIT:-$(cd "$here/../../.." && pwd)/wit} \
  exec bash "$templates/python/build.sh" "${1:-$here/../out/redact-python.wasm}"
