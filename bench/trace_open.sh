#!/usr/bin/env bash
# Benchmark: the cost of tracing open() with rig, next to bpftrace, measured in the same run.
#
# A tight loop of N open()+close() calls runs three times: untraced, traced by
# `rig run trace_open -o json`, and traced by a bpftrace script that prints the same fields.
# Reported: each tracer's CPU time per event (user+sys of the tracer process, all threads), the
# traced loop's slowdown against the untraced loop, events seen and lost — and rig/bpftrace ratios.
#
# Usage: bench/trace_open.sh [N]   (default N=1000000; run as root after ./setup.sh)
#        RIG_FLAGS='--filter fname==/etc/hostname --sort -timestamp --sort-window 100ms' bench/trace_open.sh
#        adds rig flags (operators) to the rig run; bpftrace's script stays the same.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
RIG=${RIG:-target/release/rig}
work=$(mktemp -d /tmp/rig-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

[ "$(id -u)" -eq 0 ] || { echo "bench: must run as root (loads eBPF)" >&2; exit 1; }
[ -x "$RIG" ] || { echo "bench: $RIG missing; run ./setup.sh first" >&2; exit 1; }
command -v bpftrace >/dev/null || { echo "bench: bpftrace missing; run ./setup.sh first" >&2; exit 1; }

cat > "$work/openloop.c" <<'C'
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        int fd = open("/etc/hostname", O_RDONLY);
        if (fd >= 0) close(fd);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.6f\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
    return 0;
}
C
gcc -O2 -o "$work/openloop" "$work/openloop.c"

ticks=$(getconf CLK_TCK)
# CPU seconds (user+sys, all threads) of a live process.
cpu_of() { awk -v t="$ticks" '{printf "%.3f", ($14+$15)/t}' "/proc/$1/stat"; }

wait_for() { # file pattern seconds
  for _ in $(seq 1 $(( $3 * 10 ))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "bench: timed out waiting for '$2' in $1" >&2; cat "$1" >&2; exit 1
}

base=$("$work/openloop" "$N")
base=$("$work/openloop" "$N")   # second run: warm caches

# --- rig ---
# shellcheck disable=SC2086
RUST_LOG=rig_host=info "$RIG" run trace_open -o json --comm openloop ${RIG_FLAGS:-} >"$work/rig.out" 2>"$work/rig.err" &
rpid=$!
wait_for "$work/rig.err" "gadget attached" 60
c0=$(cpu_of $rpid)
rig_loop=$("$work/openloop" "$N")
sleep 1   # let the reader drain
c1=$(cpu_of $rpid)
kill -INT $rpid; wait $rpid || true
rig_events=$(wc -l <"$work/rig.out")
rig_lost=$(grep -o '[0-9]* events were lost' "$work/rig.err" | awk '{print $1}' || true)
rig_lost=${rig_lost:-0}
rig_cpu=$(echo "$c1 - $c0" | bc -l)

# --- bpftrace, same fields ---
cat > "$work/open.bt" <<'BT'
tracepoint:syscalls:sys_enter_openat /comm == "openloop"/ {
  @in[tid] = 1; @fname[tid] = args->filename; @flags[tid] = args->flags; @mode[tid] = args->mode;
}
tracepoint:syscalls:sys_exit_openat /@in[tid]/ {
  printf("{\"timestamp\":%llu,\"pid\":%d,\"tid\":%d,\"uid\":%d,\"comm\":\"%s\",\"fname\":\"%s\",\"flags\":%d,\"mode\":%d,\"fd\":%d}\n",
         nsecs, pid, tid, uid, comm, str(@fname[tid]), @flags[tid], @mode[tid], args->ret);
  delete(@in[tid]); delete(@fname[tid]); delete(@flags[tid]); delete(@mode[tid]);
}
BEGIN { printf("attached\n"); }
BT
bpftrace -B line "$work/open.bt" >"$work/bt.out" 2>"$work/bt.err" &
bpid=$!
wait_for "$work/bt.out" "attached" 60
b0=$(cpu_of $bpid)
bt_loop=$("$work/openloop" "$N")
sleep 1
b1=$(cpu_of $bpid)
kill -INT $bpid; wait $bpid || true
bt_events=$(grep -c '"fname"' "$work/bt.out" || true)
bt_lost=$( (grep -oi 'lost [0-9]* events' "$work/bt.err" || true) | awk '{s+=$2} END {print s+0}')
bt_cpu=$(echo "$b1 - $b0" | bc -l)

per() { echo "scale=3; $1 * 1000000 / ($2 + ($2 == 0))" | bc -l; }
rig_us=$(per "$rig_cpu" "$rig_events")
bt_us=$(per "$bt_cpu" "$bt_events")
rig_slow=$(echo "scale=2; $rig_loop / $base" | bc -l)
bt_slow=$(echo "scale=2; $bt_loop / $base" | bc -l)

cat <<REPORT
trace_open benchmark: $N open() calls, $(nproc) cores, $(uname -r)
rig flags: -o json --comm openloop ${RIG_FLAGS:-}
                       untraced      rig           bpftrace
loop wall time (s)     $base      $rig_loop      $bt_loop
loop slowdown          1.00x         ${rig_slow}x         ${bt_slow}x
events seen            -             $rig_events       $bt_events
events lost            -             $rig_lost             $bt_lost
tracer CPU (s)         -             $rig_cpu         $bt_cpu
CPU per event (us)     -             $rig_us         $bt_us
ratios rig/bpftrace:   CPU per event $(echo "scale=3; $rig_us / $bt_us" | bc -l)   loop slowdown $(echo "scale=3; $rig_slow / $bt_slow" | bc -l)
REPORT
