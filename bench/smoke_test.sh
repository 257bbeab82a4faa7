#!/usr/bin/env bash
# Runs the deploy/undeploy benchmark at N = 1k, K = 3 and checks that it
# reports its counters.
set -euo pipefail
out=$("$1" --benchmark_filter='BM_DeployUndeploy/N:1000/K:3/' --benchmark_format=json 2>/dev/null)
for counter in services_per_s messages_per_s raw_services_per_s vs_raw p99_us; do
  grep -q "\"$counter\"" <<<"$out" || { echo "FAIL: no $counter in the benchmark's output"; echo "$out"; exit 1; }
done
grep -q '"error_occurred"' <<<"$out" && { echo "FAIL: the benchmark reported an error"; echo "$out"; exit 1; }
echo "ok: $(grep -o '"services_per_s": [0-9.e+]*' <<<"$out")"
