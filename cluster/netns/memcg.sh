#!/usr/bin/env bash
# Memory cgroups for test workers, v2 or v1.
#   memcg.sh create NAME BYTES   -> prints the cgroup directory (limit set)
#   memcg.sh report NAME         -> "peak=BYTES oom_kills=N" (readable after the processes exit)
#   memcg.sh remove NAME
# Exits 3 with a reason when no writable memory cgroup exists.
set -euo pipefail

base() {
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    local rel; rel=$(awk -F: '$1=="0"{print $3}' /proc/self/cgroup)
    local dir="/sys/fs/cgroup${rel%/}"
    # The memory controller must be enabled for children of our cgroup.
    if grep -qw memory "$dir/cgroup.subtree_control" 2>/dev/null || echo +memory > "$dir/cgroup.subtree_control" 2>/dev/null; then
      echo "v2 $dir"; return
    fi
    echo "memcg: cgroup v2 without a memory controller for $dir" >&2; exit 3
  fi
  local rel; rel=$(awk -F: '$2 ~ /(^|,)memory(,|$)/{print $3}' /proc/self/cgroup)
  if [ -d /sys/fs/cgroup/memory ]; then
    echo "v1 /sys/fs/cgroup/memory${rel%/}"; return
  fi
  echo "memcg: no memory cgroup hierarchy mounted" >&2; exit 3
}

read -r ver dir < <(base)
cmd=${1:-}; name=${2:-}
[ -n "$name" ] || { echo "usage: memcg.sh create|report|remove NAME [BYTES]" >&2; exit 2; }
cg="$dir/$name"
case $cmd in
  create)
    bytes=${3:?bytes}
    mkdir -p "$cg" 2>/dev/null || { echo "memcg: cannot create $cg (not root, or cgroup tree read-only)" >&2; exit 3; }
    if [ "$ver" = v2 ]; then
      echo "$bytes" > "$cg/memory.max"; echo 0 > "$cg/memory.swap.max" 2>/dev/null || true
    else
      echo "$bytes" > "$cg/memory.limit_in_bytes"
      echo "$bytes" > "$cg/memory.memsw.limit_in_bytes" 2>/dev/null || true
    fi
    echo "$cg" ;;
  report)
    if [ "$ver" = v2 ]; then
      peak=$(cat "$cg/memory.peak" 2>/dev/null || echo unknown)
      ooms=$(awk '$1=="oom_kill"{print $2}' "$cg/memory.events" 2>/dev/null || echo 0)
    else
      peak=$(cat "$cg/memory.max_usage_in_bytes" 2>/dev/null || echo unknown)
      ooms=$(awk '$1=="oom_kill"{print $2}' "$cg/memory.oom_control" 2>/dev/null || echo 0)
    fi
    echo "peak=$peak oom_kills=${ooms:-0}" ;;
  remove)
    [ -d "$cg" ] || exit 0
    for p in $(cat "$cg/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    for _ in 1 2 3 4 5 6 7 8 9 10; do rmdir "$cg" 2>/dev/null && exit 0; sleep 0.1; done
    echo "memcg: could not remove $cg" >&2; exit 1 ;;
  *) echo "usage: memcg.sh create|report|remove NAME [BYTES]" >&2; exit 2 ;;
esac
