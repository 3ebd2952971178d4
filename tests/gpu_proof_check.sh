#!/usr/bin/env bash
# tests/gpu_proof_check.sh BUILD_DIR - the GPU proof script keeps working:
# bench/gpu_pack.sh into the build folder, then bench/gpu_proof.sh
# --rehearse (the same steps on this CPU with tiny sizes), and every step
# must have run and passed (test_cuda may skip: no GPU here). With
# ../shared's CinC tarball the 2-job sweep and its report run too.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
pack=$build/gpu-proof-pack out=$build/gpu-proof-out
rm -rf "$pack" "$out"
bash "$root/bench/gpu_pack.sh" "$build" "$pack" | tail -1
OUT=$out bash "$root/bench/gpu_proof.sh" --rehearse --pack "$pack" >/dev/null 2>&1 || true
s=$out/summary.txt
[[ -f $s ]] || { echo "FAIL: no $s"; exit 1; }
grep -E '^[a-z_0-9]+: (exit|not)' "$s"
fail=0
want() { grep -qE "$1" "$s" || { echo "FAIL: the summary has no line /$1/"; fail=1; }; }
want '^test_cuda: exit (0|77) '
want '^bench: exit 0 '
if [[ -f $root/../shared/data/cinc17/training2017.tar.xz ]]; then
  want '^sweep: exit 0 '
  want '^report: exit 0 '
  want '2 of 2 jobs finished'
else
  want '^table1: no CinC tarball'
fi
# the listing first: grep -q would close the pipe on tar (SIGPIPE, and pipefail)
list=$(tar -tzf "$out/proof.tar.gz")
grep -q 'logs/summary.txt' <<<"$list" || { echo "FAIL: proof.tar.gz has no logs/summary.txt"; fail=1; }
! grep -q safetensors <<<"$list" || { echo "FAIL: proof.tar.gz holds checkpoints"; fail=1; }
rm -rf "$pack" "$out"
exit $fail
