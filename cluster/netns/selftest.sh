#!/usr/bin/env bash
# Self-test of the multi-host topology (run inside run-isolated.sh):
# connectivity between hosts, a silent cut and heal, a partition between two
# hosts, the guard route, and a memory cgroup that kills an over-limit process.
# Prints "netns selftest: N passed, M failed" and exits non-zero on failure.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/topology.sh"
listeners=()
cleanup() { for p in "${listeners[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; st_down; }
trap cleanup EXIT

pass=0; fail=0
check() { # check DESCRIPTION COMMAND…
  local what=$1; shift
  if "$@"; then pass=$((pass + 1)); echo "  ok    $what"; else fail=$((fail + 1)); echo "  FAIL  $what"; fi
}
refute() { local what=$1; shift; if "$@"; then fail=$((fail + 1)); echo "  FAIL  $what"; else pass=$((pass + 1)); echo "  ok    $what"; fi; }

# tcp_ok FROM_HOST TO_HOST: a TCP connect from one host to a listener on the other, 2 s budget.
tcp_ok() {
  nsenter --net="/run/netns/$(st_host_ns "$1")" -- python3 - "$(st_host_ip "$2")" <<'PY'
import socket, sys
s = socket.socket(); s.settimeout(2)
try:
    s.connect((sys.argv[1], 7777)); s.sendall(b"ping"); sys.exit(0 if s.recv(4) == b"pong" else 1)
except OSError:
    sys.exit(1)
PY
}

listen_on() { # a pong server on host I, port 7777
  nsenter --net="/run/netns/$(st_host_ns "$1")" -- python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 7777)); s.listen(16)
while True:
    c, _ = s.accept(); c.recv(4); c.sendall(b"pong"); c.close()' 2>/dev/null &
  listeners+=($!)
}

wait_listening() { # wait_listening I: until host I accepts on 7777 (≤ 5 s)
  for _ in $(seq 50); do
    nsenter --net="/run/netns/$(st_host_ns "$1")" -- python3 -c '
import socket, sys
try: socket.create_connection(("127.0.0.1", 7777), 0.2).close()
except OSError: sys.exit(1)' 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

st_down
st_up 3
for i in 1 2 3; do listen_on "$i"; done
for i in 1 2 3; do check "host $i listens" wait_listening "$i"; done

check "host 2 reaches host 1" tcp_ok 2 1
check "host 3 reaches host 2" tcp_ok 3 2
refute "the isolated root namespace cannot reach the test subnet (guard route)" \
  python3 -c 'import socket,sys; s=socket.socket(); s.settimeout(1); s.connect(("'"$(st_host_ip 1)"'", 7777))' 2>/dev/null

st_cut 2
refute "cut host 2 does not reach host 1" tcp_ok 2 1
check "host 3 still reaches host 1 while host 2 is cut" tcp_ok 3 1
st_heal 2
check "healed host 2 reaches host 1 again" tcp_ok 2 1

st_partition 2 3
refute "partitioned host 2 does not reach host 3" tcp_ok 2 3
check "partitioned host 2 still reaches host 1" tcp_ok 2 1
st_unpartition 2 3
check "unpartitioned host 2 reaches host 3" tcp_ok 2 3

if "$here/memcg.sh" create st-selftest $((64 << 20)) >/dev/null 2>&1; then
  "$here/memcg.sh" remove st-selftest
  "$here/run-in-host.sh" 2 --memory-limit $((64 << 20)) --name st-selftest -- \
    python3 -c 'b = bytearray(256 << 20); print(len(b))' >/dev/null 2>&1
  rc=$?
  check "a 256 MiB allocation in a 64 MiB cgroup on host 2 is killed (exit $rc)" test "$rc" -eq 137
  report=$("$here/memcg.sh" report st-selftest)
  check "the cgroup reports the OOM kill ($report)" grep -q 'oom_kills=[1-9]' <<<"$report"
  "$here/run-in-host.sh" 2 --memory-limit $((64 << 20)) --name st-selftest2 -- \
    python3 -c 'b = bytearray(16 << 20); print(len(b))' >/dev/null 2>&1
  check "a 16 MiB allocation in a 64 MiB cgroup on host 2 succeeds" test $? -eq 0
  "$here/memcg.sh" remove st-selftest; "$here/memcg.sh" remove st-selftest2
else
  echo "  skip  memory cgroup checks: no writable memory cgroup here"
fi

echo "netns selftest: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
