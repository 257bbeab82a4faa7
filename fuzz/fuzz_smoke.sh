#!/usr/bin/env bash
# //fuzz:fuzz_smoke: tools/fuzz --all 3 on the source tree (see BUILD.bazel).
set -euo pipefail
if [[ "${1:-}" == "--skip" ]]; then
  echo "fuzz_smoke: skipped under a sanitizer configuration (tools/test's normal suite runs it)"
  exit 0
fi
# This script's runfile links back to the source tree: the repository root
# is two levels up from the real file.
root=$(dirname "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")")
[[ -x "$root/tools/fuzz" ]] || { echo "fuzz_smoke: cannot find tools/fuzz from $root" >&2; exit 1; }
exec "$root/tools/fuzz" --all "${FUZZ_SMOKE_SECONDS:-3}"
