#!/usr/bin/env bash
# Creates the CURVE key Secrets the SpaceTime manifests mount:
#   spacetime-coordinator-key  curve.secret + curve.public of the coordinator
#   spacetime-worker-key       curve.secret + curve.public shared by the worker pool
#   spacetime-allowed-workers  workers.public: the coordinator's allow-list
# Keys are made with `spacetime keygen` in a private temporary directory that
# is deleted afterwards; the secret keys only ever exist there and in the cluster.
#
#   cluster/kubernetes/create-secrets.sh [--namespace NS] [--rotate-workers] [--dry-run]
#
#   --rotate-workers  make a new worker key pair and put BOTH the old and the
#                     new public key in the allow-list (step 1 of a rotation;
#                     see docs/operations.md); the coordinator key is kept.
#   --dry-run         print the Secret manifests instead of applying them.
# SPACETIME (default: `spacetime` on PATH) may name the binary, or e.g.
#   SPACETIME="docker run --rm -u $(id -u) -v /tmp:/tmp spacetime:0.1.0".
set -euo pipefail
namespace=(); rotate=0; dry=0
while [ $# -gt 0 ]; do
  case $1 in
    --namespace|-n) namespace=(--namespace "$2"); shift 2 ;;
    --rotate-workers) rotate=1; shift ;;
    --dry-run) dry=1; shift ;;
    *) echo "create-secrets: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
read -r -a spacetime <<<"${SPACETIME:-spacetime}"
kubectl=(kubectl "${namespace[@]}")

work=$(mktemp -d /tmp/spacetime-keys.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 700 "$work"

apply() { # apply NAME --from-file=…: create or update a generic Secret
  local name=$1; shift
  if [ "$dry" -eq 1 ]; then
    "${kubectl[@]}" create secret generic "$name" "$@" --dry-run=client -o yaml
    echo ---
  else
    "${kubectl[@]}" create secret generic "$name" "$@" --dry-run=client -o yaml | "${kubectl[@]}" apply -f -
  fi
}

if [ "$rotate" -eq 0 ]; then
  "${spacetime[@]}" keygen --out "$work/coordinator" >/dev/null
  apply spacetime-coordinator-key \
    --from-file=curve.secret="$work/coordinator/curve.secret" \
    --from-file=curve.public="$work/coordinator/curve.public"
  : >"$work/workers.public"
else
  # Keep the keys the coordinator allows today.
  "${kubectl[@]}" get secret spacetime-allowed-workers -o jsonpath='{.data.workers\.public}' \
    | base64 -d >"$work/workers.public"
  echo "# previous worker key(s) above: remove after every worker runs with the new key" >>"$work/workers.public"
fi

"${spacetime[@]}" keygen --out "$work/worker" >/dev/null
printf '%s # worker pool key, %s\n' "$(cat "$work/worker/curve.public")" "$(date -u +%Y-%m-%dT%H:%MZ)" \
  >>"$work/workers.public"
apply spacetime-worker-key \
  --from-file=curve.secret="$work/worker/curve.secret" \
  --from-file=curve.public="$work/worker/curve.public"
apply spacetime-allowed-workers --from-file=workers.public="$work/workers.public"
echo "create-secrets: worker public key $(cat "$work/worker/curve.public")" >&2
