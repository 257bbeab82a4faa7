#!/usr/bin/env bash
# Both Kubernetes examples are valid configurations of the stock daemon,
# and the token is never printed.
set -euo pipefail
bin=$1
shift
export KUBE_TOKEN=not-a-real-token
for conf in "$@"; do
  out=$("$bin" --conf "$conf" --check-config)
  echo "$out"
  grep -qx 'workflow: provider.kubernetes -> ipam.ipalloc -> dns.hosts' <<<"$out"
  grep -q '^provider.kubernetes.pollInterval: ' <<<"$out"
  if grep -q "$KUBE_TOKEN" <<<"$out"; then
    echo "FAIL: $conf: the token was printed"
    exit 1
  fi
done
grep -qx 'provider.kubernetes.endpoint: https://k8s-api.example.com:6443' <<<"$out"
echo "ok: $# configurations"
