#!/usr/bin/env bash
# Inspektor Gadget compatibility: run every gadget of IG's `gadgets/` folder, unchanged, on rig.
#
# Each gadget runs as `rig run DIR` for a few seconds while a background load exercises what IG's
# gadgets watch (execs, opens, signals, mounts, TCP/UDP on loopback, DNS queries, block I/O,
# links, capabilities, file-descriptor passing, CPU work). The table printed at the end has one
# row per gadget: its hooks (ELF sections), what happened, and the first error line (which, for
# an unavailable hook, names it).
#
#   result   meaning
#   events   the gadget emitted N events (snapshot rows, map-iterator rows or traced events)
#   hook     it failed because a hook it needs does not exist here (kprobe, fentry/fexit, lsm,
#            a missing tracepoint or library): the error names the hook
#   quiet    it ran without error and without events (nothing it watches happened)
#   refused  IG implements it outside eBPF (an operator-only gadget) and rig refuses it by name
#   fail     any other error: a rig bug or gap
#   skip     GPU gadgets (no GPU here) and IG's test fixtures
#
# IG's sources are not part of rig; fetch them yourself. Usage:
#   bench/ig-compat.sh PATH/TO/inspektor-gadget/gadgets          # a checkout's gadgets/ folder
#   bench/ig-compat.sh PATH/TO/inspektor-gadget.git v0.55.1       # a git clone (bare or not) and a tag
# Env: RIG (binary, default target/release/rig), SECS (seconds per gadget, default 4),
#      OUT (also write the table there, markdown), ONLY (space-separated gadget names).
# Run as root after ./setup.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
RIG=${RIG:-$PWD/target/release/rig}
SECS=${SECS:-4}
[ "$(id -u)" -eq 0 ] || { echo "ig-compat: must run as root (loads eBPF)" >&2; exit 1; }
[ $# -ge 1 ] || { sed -n '2,24p' "$0" >&2; exit 2; }
work=$(mktemp -d /tmp/rig-ig-compat.XXXXXX)
loadpid=
cleanup() {
  [ -n "$loadpid" ] && kill "$loadpid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

if [ $# -ge 2 ]; then
  git -C "$1" archive "$2" gadgets | tar -x -C "$work" || { echo "ig-compat: cannot read tag $2 from $1" >&2; exit 2; }
  src=$work/gadgets
else
  src=$1
fi
[ -d "$src" ] || { echo "ig-compat: $src is not a folder" >&2; exit 2; }

# The background load: a bit of everything, every 200 ms, until killed.
python3 - "$work" >/dev/null 2>&1 <<'PY' &
import os, socket, subprocess, sys, time, signal, threading, array
work = sys.argv[1]
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0)); srv.listen(64); port = srv.getsockname()[1]
def accept():
    while True:
        c, _ = srv.accept(); c.recv(64); c.close()
threading.Thread(target=accept, daemon=True).start()
# TLS on loopback (SNI "example.com", SSL_write/SSL_read through libssl) for trace_sni/trace_ssl.
import ssl
cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                "-days", "1", "-keyout", key, "-out", cert], capture_output=True)
sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); sctx.load_cert_chain(cert, key)
tls = socket.socket(); tls.bind(("127.0.0.1", 0)); tls.listen(16); tls_port = tls.getsockname()[1]
def tls_accept():
    while True:
        c, _ = tls.accept()
        try:
            s = sctx.wrap_socket(c, server_side=True); s.recv(64); s.send(b"bye"); s.close()
        except OSError: c.close()
threading.Thread(target=tls_accept, daemon=True).start()
cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); cctx.check_hostname = False; cctx.verify_mode = ssl.CERT_NONE
def tls_once():
    try:
        with cctx.wrap_socket(socket.create_connection(("127.0.0.1", tls_port)), server_hostname="example.com") as s:
            s.send(b"hello"); s.recv(64)
    except OSError: pass
dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
query = bytes.fromhex("abcd01000001000000000000") + b"\x07example\x03com\x00\x00\x01\x00\x01"
f = os.path.join(work, "load-file")
while True:
    subprocess.run(["/bin/true"]); subprocess.run(["sh", "-c", "echo 'a b' c >/dev/null"])
    with open(f, "w") as fh: fh.write("x" * 4096); fh.flush(); os.fsync(fh.fileno())
    try:
        fd = os.open(f, os.O_RDONLY | getattr(os, "O_DIRECT", 0)); os.close(fd)
    except OSError: pass
    open("/etc/hostname").read()
    try: os.link(f, f + ".lnk"); os.unlink(f + ".lnk")
    except OSError: pass
    c = socket.create_connection(("127.0.0.1", port)); c.send(b"hi"); c.close()
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); b.bind(("127.0.0.1", 0)); b.close()
    dns.sendto(query, ("127.0.0.1", 53))
    dns.sendto(b"x", ("203.0.113.1", 9))   # out of the default route's interface: its qdisc
    tls_once()
    p = subprocess.Popen(["sleep", "5"]); p.send_signal(signal.SIGUSR1); p.wait()
    subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs none {work} && umount {work}"])
    a, z = socket.socketpair(socket.AF_UNIX); socket.send_fds(a, [b"x"], [0]); socket.recv_fds(z, 1, 1); a.close(); z.close()
    t = time.time()
    while time.time() - t < 0.05: pass
    time.sleep(0.2)
PY
loadpid=$!

rows=()
for dir in "$src"/*/; do
  g=$(basename "$dir")
  [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $g "* ]] && continue
  case $g in ci|testing|zz_*) continue ;; esac
  [ -f "$dir/gadget.yaml" ] || continue
  hooks=$(grep -ho 'SEC("[^"]*"' "$dir"/*.bpf.c 2>/dev/null | sed 's/SEC("\(.*\)"/\1/' \
    | grep -vE '^(license|\.maps|)$' | cut -d/ -f1 | sort -u | paste -sd, -)
  [ -n "$hooks" ] || hooks="(none)"
  case $g in *gpu*|*cuda*) rows+=("$g|$hooks|skip|no GPU on this machine"); continue ;; esac
  out=$work/$g.out; err=$work/$g.err
  timeout --kill-after=5 $((SECS + 60)) "$RIG" run "$dir" --timeout "$SECS" -o json >"$out" 2>"$err"
  rc=$?
  n=$(grep -c '^[{[]' "$out")
  first=$(grep -m1 '^error' "$err" | tr -d '`' | cut -c1-160 | tr '|' '/')
  if [ "$rc" -eq 0 ] && [ "$n" -gt 0 ]; then
    result="events ($n)"; first=""
  elif [ "$rc" -eq 0 ]; then
    result="quiet"
  elif grep -qE 'kprobes are not available|refuses fentry|refuses lsm|refused to load|lsm programs|no such (tracepoint|kernel function)|not available on this kernel|cannot find librar|no library' "$err"; then
    result="hook"
  elif grep -qE 'operator-only gadget|rig does not implement|operator-driven' "$err"; then
    result="refused"
  elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    result="fail"; first="did not stop within $((SECS + 60)) s"
  else
    result="fail"
  fi
  rows+=("$g|$hooks|$result|$first")
  printf '%-24s %-40s %s %s\n' "$g" "$hooks" "$result" "$first" >&2
done

table() {
  echo "| gadget | hooks | result | first error |"
  echo "|---|---|---|---|"
  for r in "${rows[@]}"; do
    IFS='|' read -r g h res e <<<"$r"
    echo "| $g | $h | $res | ${e:+\`$e\`} |"
  done
  local total=${#rows[@]} ev hk q f s
  ev=$(printf '%s\n' "${rows[@]}" | grep -c '|events')
  hk=$(printf '%s\n' "${rows[@]}" | grep -c '|hook|')
  q=$(printf '%s\n' "${rows[@]}" | grep -c '|quiet|')
  f=$(printf '%s\n' "${rows[@]}" | grep -c '|fail|')
  s=$(printf '%s\n' "${rows[@]}" | grep -c '|skip|')
  r=$(printf '%s\n' "${rows[@]}" | grep -c '|refused|')
  echo
  echo "$total gadgets: $ev with events, $hk naming a missing hook, $q quiet, $r refused by name, $f failing, $s skipped."
}
table
[ -n "${OUT:-}" ] && table >"$OUT"
exit 0
