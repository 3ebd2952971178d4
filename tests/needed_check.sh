#!/usr/bin/env bash
# tests/needed_check.sh BUILD_DIR - no program links CUDA: every ELF
# executable of the build (resecg, the tests, the benchmarks) has no cudart,
# cuBLAS, cuDNN or driver library among its NEEDED entries (readelf -d), so
# each starts on a machine without them. Where the CUDA module was built, it
# does need them and finds them through a RUNPATH that starts at $ORIGIN.
set -euo pipefail
build=$1
fail=0
n=0
while IFS= read -r f; do
  [[ $(head -c 4 "$f" | od -An -c | tr -d ' ') == 177ELF ]] || continue
  n=$((n + 1))
  if bad=$(readelf -d "$f" | grep NEEDED | grep -Ei 'libcuda|libcudart|libcublas|libcudnn|libnv'); then
    echo "FAIL: $f links CUDA:"
    echo "$bad" | sed 's/^/    /'
    fail=1
  fi
done < <(find "$build" -maxdepth 2 -type f -perm -u+x ! -name '*.so' | sort)
echo "$n executables checked, none with a CUDA library among its NEEDED entries$([[ $fail -eq 0 ]] || echo ' (except the above)')"
[[ $n -ge 3 ]] || { echo "FAIL: found only $n executables under $build"; fail=1; }
mod=$build/libresecg_cuda.so
if [[ -f $mod ]]; then
  d=$(readelf -d "$mod")
  for lib in libcudart libcublas libcudnn; do
    grep -q "NEEDED.*\[$lib\.so" <<<"$d" || { echo "FAIL: $mod does not need $lib"; fail=1; }
  done
  rp=$(sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p' <<<"$d")
  [[ $rp == '$ORIGIN'* ]] || { echo "FAIL: $mod's RUNPATH is '$rp', not \$ORIGIN first"; fail=1; }
  ! grep -q '(RPATH)' <<<"$d" || { echo "FAIL: $mod has DT_RPATH (beats LD_LIBRARY_PATH)"; fail=1; }
  echo "module $mod: RUNPATH $rp"
else
  echo "no CUDA module in $build (not built here)"
fi
exit $fail
