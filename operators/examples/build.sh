#!/usr/bin/env bash
# Builds the four redact examples into operators/examples/out/redact-{rust,python,js,c}.wasm.
#
#   operators/examples/build.sh [rust|python|js|c]...   (default: all four)
#
# A component newer than all of its sources (and wit/) is kept; FORCE=1 rebuilds. Every language
# is attempted; the script then fails, naming each language that did not build and the tool it
# lacks. operators/examples/install-toolchains.sh installs them all.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
templates=$repo/operators/templates
out=$here/out
# Tools that install-toolchains.sh builds from crates.io (wit-bindgen, wasm-tools) live here.
export PATH="${RIG_GUEST_TOOLS:-$HOME/.local/share/rig/guest-tools}/bin:$PATH"

sources() {
  local wit=${RIG_WIT:-$repo/wit}
  case $1 in
    rust) echo "$wit" "$here/redact-rust" "$repo/operators/sdk/src" \
      "$repo/operators/sdk/Cargo.toml" "$repo/operators/Cargo.toml" "$repo/operators/Cargo.lock" ;;
    python) echo "$wit" "$here/redact-python" "$templates/python/rig_operator.py" "$templates/python/build.sh" \
      "$templates/build-cache.sh" ;;
    js) echo "$wit" "$here/redact-js/redact.js" "$here/redact-js/build.sh" "$here/redact-js/package.json" \
      "$here/redact-js/package-lock.json" "$templates/js/rig-operator.js" "$templates/js/build.sh" \
      "$templates/build-cache.sh" ;;
    c) echo "$wit" "$here/redact-c" "$templates/c/build.sh" ;;
    *) echo "build.sh: unknown language $1 (rust, python, js or c)" >&2; return 2 ;;
  esac
}

up_to_date() {
  local target=$1; shift
  [ -z "${FORCE:-}" ] && [ -f "$target" ] || return 1
  # Any source file newer than the target? (target/ and node_modules/ are not sources.)
  [ -z "$(find "$@" \( -name target -o -name node_modules -o -name __pycache__ \) -prune -o \
    -type f -newer "$target" -print -quit 2>/dev/null)" ]
}

langs=("$@")
[ ${#langs[@]} -gt 0 ] || langs=(rust python js c)
mkdir -p "$out"
failed=()
for lang in "${langs[@]}"; do
  target=$out/redact-$lang.wasm
  # shellcheck disable=SC2046
  srcs=$(sources "$lang") || exit 2
  # shellcheck disable=SC2086
  if up_to_date "$target" $srcs; then
    echo "redact-$lang: up to date" >&2
    continue
  fi
  start=$(date +%s%N)
  if bash "$here/redact-$lang/build.sh" "$target.tmp"; then
    mv "$target.tmp" "$target"
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    printf 'redact-%s: built out/redact-%s.wasm (%d KiB) in %d.%d s\n' "$lang" "$lang" \
      $(( ($(stat -c %s "$target") + 1023) / 1024 )) $((ms / 1000)) $((ms % 1000 / 100)) >&2
  else
    rc=$?
    rm -f "$target.tmp"
    echo "redact-$lang: FAILED (exit $rc, see above)" >&2
    failed+=("$lang")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "build.sh: not built: ${failed[*]} (see above; operators/examples/install-toolchains.sh installs missing tools)" >&2
  exit 1
fi
