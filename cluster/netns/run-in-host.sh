#!/usr/bin/env bash
# Runs a command "on" test host I: inside that host's network namespace and,
# with --memory-limit, inside a fresh memory cgroup with that limit.
#
#   run-in-host.sh I [--memory-limit BYTES] [--name NAME] -- COMMAND [ARGS…]
#
# The cgroup is joined first and the network namespace entered second, with
# nsenter (not `ip netns exec`, which mounts a fresh /sys and hides the cgroup
# tree). The pid joins the cgroup before the command allocates anything, so
# every page it touches is charged to it. cgroup v2 (memory.max) and v1
# (memory.limit_in_bytes) are both supported.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/topology.sh"

host=$1; shift
limit=""; name="st-host$host-$$"
while [ $# -gt 0 ]; do
  case $1 in
    --memory-limit) limit=$2; shift 2 ;;
    --name) name=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "run-in-host: unexpected argument '$1' (usage: run-in-host.sh I [--memory-limit BYTES] [--name NAME] -- CMD…)" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "run-in-host: no command given" >&2; exit 2; }

if [ -n "$limit" ]; then
  cg=$("$here/memcg.sh" create "$name" "$limit")
  echo $$ > "$cg/cgroup.procs"
  echo "run-in-host: host $host, cgroup $cg, limit $limit bytes" >&2
fi
exec nsenter --net="/run/netns/$(st_host_ns "$host")" -- "$@"
