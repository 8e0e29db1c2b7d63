# shellcheck shell=bash
# Multi-host test topology: N "hosts" as network namespaces on one machine.
#
#   switch namespace  ${ST_PREFIX}sw  holds bridge br0
#   host namespaces   ${ST_PREFIX}h1 … ${ST_PREFIX}hN, each with eth0 = ${ST_SUBNET_PREFIX}.<i>/24
#                     and its own loopback (brought up: it is down in a fresh namespace)
#   veth pair per host: eth0 (in the host) <-> p<i> (in the switch, enslaved to br0)
#
# Source this file; every function is idempotent where it can be. Meant to run
# inside an isolated namespace (see run-isolated.sh), with a guard route as well,
# so that no packet can leave the machine.

ST_PREFIX=${ST_PREFIX:-st-}
ST_SUBNET_PREFIX=${ST_SUBNET_PREFIX:-10.77.0}
ST_SUBNET="${ST_SUBNET_PREFIX}.0/24"

st_log() { printf 'netns: %s\n' "$*" >&2; }

# st_host_ns I -> namespace name of host I
st_host_ns() { printf '%s' "${ST_PREFIX}h$1"; }
# st_host_ip I -> address of host I
st_host_ip() { printf '%s' "${ST_SUBNET_PREFIX}.$1"; }

# Guard: in the namespace we run in, route the test subnet nowhere, so a client
# started outside the host namespaces fails locally instead of sending traffic out.
st_guard() {
  ip route replace unreachable "$ST_SUBNET" 2>/dev/null || true
}

# st_up N: build the switch and N hosts.
st_up() {
  local n=$1 i ns
  st_guard
  ip netns add "${ST_PREFIX}sw"
  ip -n "${ST_PREFIX}sw" link set lo up
  ip -n "${ST_PREFIX}sw" link add br0 type bridge
  ip -n "${ST_PREFIX}sw" link set br0 up
  for ((i = 1; i <= n; i++)); do
    ns=$(st_host_ns "$i")
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$ns" link add eth0 type veth peer name "p$i" netns "${ST_PREFIX}sw"
    ip -n "$ns" addr add "$(st_host_ip "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "${ST_PREFIX}sw" link set "p$i" master br0
    ip -n "${ST_PREFIX}sw" link set "p$i" up
  done
  st_log "up: $n hosts on $ST_SUBNET"
}

# st_down: remove every namespace of the topology (safe to call twice, or after a failed run).
st_down() {
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${ST_PREFIX}" || true); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
}

# st_cut I: cut host I off silently (no TCP reset reaches anybody): its switch port goes down.
st_cut() {
  ip -n "${ST_PREFIX}sw" link set "p$1" down
  st_log "cut host $1 ($(st_host_ip "$1"))"
}

# st_heal I: plug host I back in and flush stale neighbour entries on both sides.
st_heal() {
  local i=$1 j
  ip -n "${ST_PREFIX}sw" link set "p$i" up
  for j in $(ip netns list | awk '{print $1}' | grep "^${ST_PREFIX}h" || true); do
    ip -n "$j" neigh flush dev eth0 2>/dev/null || true
  done
  st_log "healed host $i ($(st_host_ip "$i"))"
}

# st_partition I J: hosts I and J can no longer reach each other (silent drop both ways);
# both still reach everyone else.
st_partition() {
  ip -n "$(st_host_ns "$1")" route replace blackhole "$(st_host_ip "$2")/32"
  ip -n "$(st_host_ns "$2")" route replace blackhole "$(st_host_ip "$1")/32"
  st_log "partitioned host $1 from host $2"
}

# st_unpartition I J: undo st_partition.
st_unpartition() {
  ip -n "$(st_host_ns "$1")" route del blackhole "$(st_host_ip "$2")/32" 2>/dev/null || true
  ip -n "$(st_host_ns "$2")" route del blackhole "$(st_host_ip "$1")/32" 2>/dev/null || true
  st_log "unpartitioned hosts $1 and $2"
}
