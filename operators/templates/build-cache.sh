# Shared by the build.sh of Python and JavaScript operators, which source it as
# `. build-cache.sh [OUT.wasm]` after setting `here` (their folder) and `name`: it builds from a
# scratch copy of the sources, prints progress, and keeps what was built in a cache so that the
# same sources give the same bytes. It sets, for the build.sh:
#
#   wit       the WIT folder: OP_WIT, default $here/wit
#   sources   the folders and files to build from: OP_SOURCES (space-separated), default $here
#   out       the component to write: OUT.wasm as an absolute path, default $here/$name.wasm
#
# rig's own examples (operators/examples/redact-{python,js}) build with the templates' build.sh
# through those OP_* variables.
#
# Why a cache: componentize-py and componentize-js run the operator's interpreter once at build
# time and ship a snapshot of its memory. That memory holds what the run saw — hash seeds and
# random state drawn from the OS, the clock, file times and inode numbers of the folders they
# unpack, componentize-js's random scratch path — and neither tool can be told to pin them, so
# two builds of the same sources differ in a few dozen to a few thousand bytes. The cache is
# keyed by a SHA-256 of everything a build reads (sources, WIT, build scripts, tool versions):
# same key, same component, and rig's compiled-component cache (keyed by the component's bytes)
# hits too. Rust and C builds are reproducible by themselves and do not use this.
#
#   RIG_BUILD_CACHE=DIR   where components are kept (default ~/.cache/rig/operator-builds; the
#                         newest 64 are kept)
#   RIG_BUILD_CACHE=off   always rebuild, and keep nothing
#
# Why a scratch copy: componentize-py writes __pycache__ into every folder of its Python path,
# and componentize-js can only import files below one folder, so the sources are copied into a
# temporary folder (without built components, caches or node_modules) and built there.

# rig_source_files DIR: every source file under DIR, NUL-separated, relative, sorted.
rig_source_files() {
  (cd "$1" && find . \( -name node_modules -o -name __pycache__ -o -name .git -o -name target \
    -o -name build \) -prune -o -type f ! -name '*.wasm' ! -name '*.tmp' -print0 | LC_ALL=C sort -z)
}

# rig_inputs_key PATH... -- TOOL_VERSION...: a SHA-256 of the files under each PATH (a folder or
# a file: relative names and contents) and of the tool versions given after `--`.
rig_inputs_key() {
  rig_inputs "$@" | sha256sum | cut -d' ' -f1
}

rig_inputs() {
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    if [ -d "$1" ]; then
      (cd "$1" && rig_source_files . | xargs -0 -r sha256sum)
    else
      (cd "$(dirname "$1")" && sha256sum "$(basename "$1")")
    fi
    shift
  done
  if [ $# -gt 0 ]; then
    shift
    printf '%s\n' "$@"
  fi
}

# rig_copy_sources DEST PATH...: copies each PATH (the files of a folder, or a file) into DEST,
# in order (a later file of the same name replaces an earlier one).
rig_copy_sources() {
  local dest=$1 p
  shift
  for p in "$@"; do
    if [ -d "$p" ]; then
      (cd "$p" && rig_source_files . | xargs -0 -r cp --parents -L -t "$dest")
    else
      cp -L "$p" "$dest/"
    fi
  done
}

# rig_scratch_build COMMAND...: copies the sources into a scratch folder, runs COMMAND there (its
# working directory; its stdout is dropped), and removes the folder.
rig_scratch_build() {
  local tmp rc=0
  tmp=$(mktemp -d)
  rig_copy_sources "$tmp" "${sources[@]}"
  (cd "$tmp" && "$@" >/dev/null) || rc=$?
  rm -rf "$tmp"
  return "$rc"
}

# rig_cached_build NAME OUT KEY TOOL COMMAND...: puts the component built from KEY at OUT —
# from the cache, or by running `COMMAND... TMP.wasm` (which must write TMP.wasm), announced on
# stderr with TOOL and timed.
rig_cached_build() {
  local name=$1 out=$2 key=$3 tool=$4
  shift 4
  local cache=${RIG_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rig/operator-builds}
  local tmp="$out.$$.tmp" start=$SECONDS
  mkdir -p "$(dirname "$out")"
  if [ "$cache" != off ] && [ -s "$cache/$key.wasm" ]; then
    cp "$cache/$key.wasm" "$tmp" && mv "$tmp" "$out"
    touch "$cache/$key.wasm" 2>/dev/null || true
    echo "$name: sources unchanged since an earlier build: its component, from $cache (RIG_BUILD_CACHE=off rebuilds)" >&2
    return 0
  fi
  echo "$name: building with $tool (10-60 s)..." >&2
  if ! "$@" "$tmp"; then
    rm -f "$tmp"
    return 1
  fi
  mv "$tmp" "$out"
  echo "$name: built in $((SECONDS - start)) s" >&2
  [ "$cache" = off ] && return 0
  if mkdir -p "$cache" 2>/dev/null && cp "$out" "$cache/$key.wasm.$$" 2>/dev/null; then
    mv "$cache/$key.wasm.$$" "$cache/$key.wasm"
    # shellcheck disable=SC2012
    ls -t "$cache"/*.wasm 2>/dev/null | tail -n +65 | xargs -r rm -f
  else
    echo "$name: cannot write the build cache $cache (the next build of these sources rebuilds)" >&2
  fi
}

wit=${OP_WIT:-$here/wit}
read -r -a sources <<<"${OP_SOURCES:-$here}"
out=$(realpath -m "${1:-$here/$name.wasm}")
