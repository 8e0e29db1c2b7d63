#!/usr/bin/env bash
# Runs a command inside a fresh, isolated network + mount + pid namespace that
# has only loopback: test hosts built in there (topology.sh) cannot send a
# packet off this machine, and everything is torn down when the command ends,
# even after a failure (the pid namespace kills every process left in it).
#
#   run-isolated.sh COMMAND [ARGS…]
# Exits 77 with a printed reason when namespaces are unavailable (not root, no unshare).
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: multi-host suite needs root (network namespaces)" >&2; exit 77; fi
command -v unshare >/dev/null || { echo "SKIP: unshare not found (util-linux)" >&2; exit 77; }
command -v ip >/dev/null || { echo "SKIP: ip not found (iproute2)" >&2; exit 77; }
if ! unshare --net --mount --pid --fork --kill-child true 2>/dev/null; then
  echo "SKIP: unshare --net --mount --pid is not permitted here" >&2; exit 77
fi
exec unshare --net --mount --pid --fork --kill-child --mount-proc bash -c '
  set -e
  mount --make-rprivate /
  mkdir -p /run/netns && mount -t tmpfs tmpfs /run/netns
  ip link set lo up
  exec "$@"' run-isolated "$@"
