#!/usr/bin/env bash
# Compiles a file that misuses the framework and checks that the compiler
# fails with the readable diagnostic named on the file's "// expect:" line.
set -uo pipefail
src=$1
include_dir=$(dirname "$(readlink -f include/interlook/extension/registry.hpp)")/../..
expect=$(sed -n 's#^// expect: ##p' "$src" | head -n1)
out=$(g++ -std=c++20 -fsyntax-only -I "$include_dir" "$src" 2>&1)
rc=$?
if ((rc == 0)); then
  echo "FAIL: $src compiled, but it must be rejected"
  exit 1
fi
if ! grep -qF -- "$expect" <<<"$out"; then
  echo "FAIL: $src was rejected without the diagnostic: $expect"
  echo "$out" | head -n 40
  exit 1
fi
echo "ok: $src rejected with: $expect"
