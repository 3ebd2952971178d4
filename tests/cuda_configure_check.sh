#!/usr/bin/env bash
# tests/cuda_configure_check.sh SRC - what configure says about the CUDA
# module: -DRESECG_CUDA=ON fails when nvcc, or one of cudart / cuBLAS /
# cuDNN, is missing, naming it; AUTO then prints one "not built" line and
# succeeds. (Configure only, into scratch build folders.)
set -euo pipefail
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
configure() { # configure NAME ARGS...: exit status, output in $tmp/NAME.log
  local name=$1
  shift
  local rc=0
  cmake -S "$src" -B "$tmp/$name" "$@" >"$tmp/$name.log" 2>&1 || rc=$?
  return $rc
}
check() { # check NAME WANT_RC PATTERN
  local got=$2 want=$3 pat=$4
  local line
  # CMake wraps messages: match on the log as one line
  line=$(tr '\n' ' ' <"$tmp/$1.log" | tr -s ' ' | grep -oE "$pat[^)]*\)?" | head -1 || true)
  if [[ $got -ne $want || -z $line ]]; then
    echo "FAIL: $1: exit $got (want $want), no line matching /$pat/:"
    grep -iE 'resecg|error' "$tmp/$1.log" | head -5 | sed 's/^/    /'
    fail=1
  else
    echo "ok: $1: exit $got: $line"
  fi
}
rc=0; CUDACXX=/nonexistent/nvcc configure on-no-nvcc -DRESECG_CUDA=ON || rc=$?
check on-no-nvcc "$rc" 1 'cannot build the CUDA module: nvcc not found'
rc=0; CUDACXX=/nonexistent/nvcc configure auto-no-nvcc || rc=$?
check auto-no-nvcc "$rc" 0 'CUDA module libresecg_cuda.so: not built \(nvcc not found'
if command -v nvcc >/dev/null || [[ -x /usr/local/cuda/bin/nvcc ]]; then
  mkdir -p "$tmp/empty"
  rc=0; configure on-no-cudnn -DRESECG_CUDA=ON -DRESECG_CUDA_TOOLKIT="$tmp/empty" -DRESECG_CUDA_SITES="$tmp/empty" || rc=$?
  check on-no-cudnn "$rc" 1 'cannot build the CUDA module: not found: .*CUDNN \(libcudnn.so.9 with cudnn.h\)'
else
  echo "(no nvcc here: the missing-cuDNN case needs one and is not run)"
fi
exit $fail
