#!/usr/bin/env bash
# tests/fresh_root_audit.sh - the fresh-root check's skip audit can fail: a
# CTest log with only the machine's own skips passes it, one where a test
# skipped for a missing tool (python3-scipy, chromium, Slurm) fails it, and
# a whole skipped test program other than test_cuda fails it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
mklog() { # mklog NAME LINE...: a tree whose Release CTest log holds the lines
  local t=$tmp/$1
  shift
  mkdir -p "$t/build/Testing/Temporary" "$t/logs"
  printf '%s\n' "$@" >"$t/build/Testing/Temporary/LastTest.log"
  : >"$t/logs/test.log"
}
expect() { # expect RC NAME [SHARED]
  local want=$1 name=$2 rc=0
  bash "$here/fresh_root.sh" --audit "$tmp/$name" "$tmp/$name/logs" "${3:-}" >"$tmp/$name.out" 2>&1 || rc=$?
  if [[ $rc -ne $want ]]; then
    echo "FAIL: $name: audit exited $rc, expected $want"
    sed 's/^/    /' "$tmp/$name.out"
    fail=1
  else
    echo "ok: $name (exit $rc)"
  fi
}
mklog machine "live python: random.seed(2018)" "SKIP: no CUDA device (built without the CUDA toolkit)" \
  "wgrad avx512: SKIPPED, not on this CPU (the backend uses another variant or oneDNN)" \
  "SKIP real-data tests: ../shared/data/cinc17 not found"
expect 0 machine
mklog noscipy "SKIP live scipy check of resample: /usr/bin/python3 cannot import scipy"
expect 1 noscipy
mklog nochromium "SKIP html_renders: /usr/bin/chromium not found"
expect 1 nochromium
# with ../shared bound, the real-data cases must run
mklog realdata "SKIP real-data tests: training2017.tar.xz could not be unpacked"
expect 1 realdata /shared
mklog noslurm "all fine"
printf '%s\n' "The following tests did not run:" "	 15 - test_slurm (Skipped)" >"$tmp/noslurm/logs/test.log"
expect 1 noslurm
mklog nocuda "all fine"
printf '%s\n' "The following tests did not run:" "	  5 - test_cuda (Skipped)" >"$tmp/nocuda/logs/test.log"
expect 0 nocuda
if ((fail)); then
  echo "fresh_root_audit: 0 passed, 1 failed"
  exit 1
fi
echo "fresh_root_audit: the skip audit passes the machine's skips and fails the others"
