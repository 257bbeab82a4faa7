#!/usr/bin/env bash
# Runs the smallest workflow cases (the local workflow at N = 1k, and the
# concurrent provisioner at maxInFlight 1 and 16) and checks that they
# finish without an error and report their counters.
set -euo pipefail
out=$("$1" --benchmark_filter='BM_LocalWorkflow/N:1000/|BM_InFlight' --benchmark_format=json 2>/dev/null)
for counter in deploy_s undeploy_s services_per_s peak_rss_mib ipalloc_writes hosts_writes parse_s \
               seconds_inflight_1 seconds_inflight_16 inflight_speedup cpu_us_per_service_16; do
  grep -q "\"$counter\"" <<<"$out" || { echo "FAIL: no $counter in the benchmark's output"; echo "$out"; exit 1; }
done
grep -q '"error_occurred"' <<<"$out" && { echo "FAIL: a benchmark reported an error"; echo "$out"; exit 1; }
echo "ok: $(grep -o '"deploy_s": [0-9.e+-]*' <<<"$out"), $(grep -o '"inflight_speedup": [0-9.e+-]*' <<<"$out")"
