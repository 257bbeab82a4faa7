#!/usr/bin/env bash
# The custom binary is static, knows its fixed workflow and reads its config.
set -euo pipefail
bin=$1 conf=$2 linking=${3:-static}
out=$("$bin" --conf "$conf" --check-config)
echo "$out"
grep -qx 'workflow: provider.file -> ipam.ipalloc -> audit.logfile' <<<"$out"
grep -qx 'audit.logfile.path: ./audit.log' <<<"$out"
grep -qx 'audit.logfile.prefix: interlook' <<<"$out"
if [[ $linking == static ]] && ldd "$bin" >/dev/null 2>&1; then
  echo "FAIL: $bin is dynamically linked"
  exit 1
fi
echo "ok: $linking, fixed workflow, config read"
