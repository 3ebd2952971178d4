#!/usr/bin/env bash
# CPU training throughput, resecg against PyTorch, side by side on this
# machine with the same network, batch and threads, for the small and the
# default network, in fp32 and in bf16 (ours: train.precision bf16; theirs:
# torch.autocast('cpu', dtype=torch.bfloat16), PyTorch's own mixed precision;
# both only where the CPU has AVX512-BF16 or AMX). Prints each side's samples/s, GFLOP/s (3 x the forward
# convolutions' FLOPs per sample) against the machine's peak (one 4096^3
# dnnl_sgemm on the same threads, measured by `resecg bench`) and peak RSS,
# then the ratios. PyTorch comes from Debian's python3-torch; where it is
# absent only resecg's figures print. Run it on an otherwise idle machine:
# OpenMP threads spin while they wait and collapse when another process
# shares the cores (bench/PERF.md).
#   bench/cpu_vs_torch.sh [BUILD_DIR] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
threads=${2:-$(nproc)}
py=/usr/bin/python3
have_torch=0
if [[ -x $py ]] && $py -c "import torch" 2>/dev/null; then have_torch=1; fi

# field NAME LINE...: the number before NAME ("12.3 samples/s", "1.2 GB" after "peak RSS")
field() {
  local name=$1
  shift
  case $name in
    rss) sed -n 's/.*peak RSS \([0-9.]*\) GB.*/\1/p' <<<"$*" | head -1 ;;
    peak) sed -n 's/.*machine peak \([0-9.]*\) GFLOP\/s.*/\1/p' <<<"$*" | head -1 ;;
    *) sed -n "s/^ *\\([0-9.]*\\) samples\\/s.* \\([0-9.]*\\) GFLOP\\/s.*/\\1 \\2/p" <<<"$*" | head -1 ;;
  esac
}

run_case() { # name config filters blocks batch length steps precision
  local name=$1 cfg=$2 filters=$3 blocks=$4 batch=$5 length=$6 steps=$7 prec=$8
  echo "== $name, $prec: batch $batch x $length, $threads threads"
  local ours theirs
  if ! ours=$(OMP_NUM_THREADS=$threads "$build/resecg" bench --config "$cfg" --batch "$batch" \
           --length "$length" --steps "$steps" --threads "$threads" --set "train.precision=$prec" 2>&1); then
    echo "  $ours"
    return 0
  fi
  echo "$ours"
  local peak o_sps o_gf o_rss
  peak=$(field peak "$ours")
  read -r o_sps o_gf <<<"$(field sps "$ours")"
  o_rss=$(field rss "$ours")
  if ((have_torch)); then
    theirs=$(OMP_NUM_THREADS=$threads $py bench/torch_bench.py --filters "$filters" \
               --blocks "$blocks" --batch "$batch" --length "$length" --steps "$steps" \
               --threads "$threads" --precision "$prec")
    echo "$theirs"
    local t_sps t_gf t_rss
    read -r t_sps t_gf <<<"$(field sps "$theirs")"
    t_rss=$(field rss "$theirs")
    awk -v os="$o_sps" -v og="$o_gf" -v orss="$o_rss" -v ts="$t_sps" -v tg="$t_gf" \
        -v trss="$t_rss" -v pk="$peak" -v name="${cfg##*/}" -v prec="$prec" 'BEGIN {
      printf "  summary: resecg %.2f samples/s, %.1f GFLOP/s (%.0f%% of peak %.0f), %.2f GB\n",
             os, og, 100 * og / pk, pk, orss
      printf "           torch  %.2f samples/s, %.1f GFLOP/s (%.0f%% of peak), %.2f GB\n",
             ts, tg, 100 * tg / pk, trss
      printf "  ratio resecg / torch: %.2fx throughput, %.2fx peak memory\n", os / ts, orss / trss
      printf "RESULT %s %s resecg %.2f torch %.2f ratio %.2f\n", name, prec, os, ts, os / ts
    }'
  else
    awk -v os="$o_sps" -v og="$o_gf" -v orss="$o_rss" -v pk="$peak" 'BEGIN {
      printf "  summary: resecg %.2f samples/s, %.1f GFLOP/s (%.0f%% of peak %.0f), %.2f GB\n",
             os, og, 100 * og / pk, pk, orss
    }'
    echo "  (PyTorch not installed: scripts/install-packages.sh bench for the side-by-side figure)"
  fi
}

lscpu | sed -n 's/^Model name: *//p'
for prec in fp32 bf16; do
  run_case "small (16 filters, 8 blocks)" cfgs/small.yaml 16 8 32 2560 10 "$prec"
  run_case "default ResECG (32 filters, 16 blocks)" cfgs/ResECG.yaml 32 16 32 8960 3 "$prec"
done
