#!/usr/bin/env bash
# Benchmark: launch → first exec event, rig next to bpftrace, in the same run.
#
# While /bin/true runs in a loop (an exec every ~2 ms), each tracer is started R times; the time
# from its launch to the first event line on its stdout is printed, then the median of each.
# rig's gadget is compiled once beforehand (cached), so the figure is load + attach + first drain.
#
# Usage: bench/first_event.sh [R]   (default R=5; run as root after ./setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
R=${1:-5}
RIG=${RIG:-target/release/rig}
[ "$(id -u)" -eq 0 ] || { echo "bench: must run as root (loads eBPF)" >&2; exit 1; }
command -v bpftrace >/dev/null || { echo "bench: bpftrace missing" >&2; exit 1; }
( while true; do /bin/true; sleep 0.002; done ) & loop=$!
trap 'kill $loop 2>/dev/null || true' EXIT
"$RIG" run trace_exec --timeout 1 >/dev/null 2>&1   # compile and cache the gadget

# Milliseconds from launching "$@" until it prints a line matching $pattern.
first() {
  local pattern=$1; shift
  local t0 t1
  t0=$(date +%s%N)
  # Process substitution: the clock stops when grep sees the line, not when the tracer exits.
  grep -m1 -q -- "$pattern" < <("$@" 2>/dev/null) || true
  t1=$(date +%s%N)
  sleep 0.3   # the tracer ends on its next write to the closed pipe
  echo $(( (t1 - t0) / 1000000 ))
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

rig_ms=(); bt_ms=()
for _ in $(seq 1 "$R"); do
  rig_ms+=("$(first '"comm"' timeout 10 "$RIG" run trace_exec -o json)")
  bt_ms+=("$(first '^EV' timeout 10 bpftrace -e 'tracepoint:syscalls:sys_enter_execve { printf("EV %s\n", comm); }')")
done
echo "rig      first event (ms): ${rig_ms[*]}  median $(printf '%s\n' "${rig_ms[@]}" | median)"
echo "bpftrace first event (ms): ${bt_ms[*]}  median $(printf '%s\n' "${bt_ms[@]}" | median)"
