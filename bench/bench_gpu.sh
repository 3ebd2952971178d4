#!/usr/bin/env bash
# GPU training throughput: resecg's CUDA backend against PyTorch on the same
# GPU, the default ResECG (32 filters, 16 blocks) at batch 32 x 8960, the same
# loss and optimiser (Adam + global-norm clipping), in TF32 (both sides'
# default: cuDNN convolutions on tensor cores, dense layer FP32) and in strict
# FP32. PyTorch runs with torch.backends.cudnn.benchmark = True, so both sides
# time cuDNN's algorithms once per shape in their warm-up steps. Prints
# samples/s, TFLOP/s (3 x the forward's convolution and dense FLOPs per
# sample, as resecg bench and bench/torch_bench.py count them) against the
# card's dense peak for that precision, and the resecg / PyTorch ratio.
#
#   bench/bench_gpu.sh [BUILD_DIR] [STEPS]
#     MATH="tf32 fp32"   the precisions to run (default both)
#     PEAK_TF32=..., PEAK_FP32=...   the card's dense peaks in TFLOP/s, for a
#                        GPU missing from the table below
#     PYTHON=python3     the interpreter with torch (CUDA build)
# Exit status 77 (skipped) where there is no NVIDIA driver or GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
steps=${2:-20}
maths=${MATH:-"tf32 fp32"}
py=${PYTHON:-python3}
batch=32
length=8960

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "bench_gpu: no NVIDIA driver or GPU (nvidia-smi failed): nothing to measure" >&2
  exit 77
fi
if [[ ! -x $build/resecg ]]; then
  echo "bench_gpu: $build/resecg not found (build first: cmake -S . -B $build && cmake --build $build)" >&2
  exit 1
fi
first=${CUDA_VISIBLE_DEVICES:-0}
first=${first%%,*}
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader -i "$first" 2>/dev/null | head -1 ||
      nvidia-smi --query-gpu=name --format=csv,noheader | head -1)

# Dense (no sparsity) peaks in TFLOP/s from NVIDIA's datasheets: TF32 tensor
# core, FP32 CUDA core.
peak_tf32=${PEAK_TF32:-}
peak_fp32=${PEAK_FP32:-}
if [[ -z $peak_tf32 || -z $peak_fp32 ]]; then
  case "$gpu" in
    *H200*|*GH200*|*"H100 80GB HBM3"*|*"H100 SXM"*) t=494.7 f=66.9 ;;
    *"H100 NVL"*)                                   t=417.5 f=60.0 ;;
    *H100*PCIe*|*"H100 PCIE"*)                      t=378.0 f=51.2 ;;
    *A100*)                                         t=156.0 f=19.5 ;;
    *L40S*)                                         t=183.0 f=91.6 ;;
    *L40*)                                          t=90.5  f=90.5 ;;
    *L4*)                                           t=60.0  f=30.3 ;;
    *A10*)                                          t=62.5  f=31.2 ;;
    *"RTX 4090"*)                                   t=82.6  f=82.6 ;;
    *) t= f= ;;
  esac
  peak_tf32=${peak_tf32:-$t}
  peak_fp32=${peak_fp32:-$f}
fi

have_torch=0
if $py -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  have_torch=1
fi

echo "GPU: $gpu (dense peak TF32 ${peak_tf32:-?} TFLOP/s, FP32 ${peak_fp32:-?} TFLOP/s)"
echo "default ResECG (cfgs/ResECG.yaml), batch $batch x $length, $steps timed steps"

field() { sed -n "s/^ *\([0-9.]*\) samples\/s.* \([0-9.]*\) GFLOP\/s.*/\\$1/p" <<<"$2" | head -1; }
tflops_line() { # name sps gflops peak
  awk -v n="$1" -v s="$2" -v g="$3" -v p="$4" 'BEGIN {
    t = g / 1000
    if (p != "") printf "  %-7s %8.2f samples/s  %7.2f TFLOP/s  %5.1f%% of peak\n", n, s, t, 100 * t / p
    else         printf "  %-7s %8.2f samples/s  %7.2f TFLOP/s  (peak unknown: set PEAK_TF32/PEAK_FP32)\n", n, s, t
  }'
}

for math in $maths; do
  case $math in
    tf32) tf=1 peak=$peak_tf32 ;;
    fp32) tf=0 peak=$peak_fp32 ;;
    *) echo "bench_gpu: MATH must list tf32 and/or fp32, got '$math'" >&2; exit 2 ;;
  esac
  echo "== $math"
  ours=$(RESECG_CUDA_MATH=$math "$build/resecg" bench --config cfgs/ResECG.yaml --device cuda \
           --batch $batch --length $length --steps "$steps")
  echo "$ours"
  a_sps=$(field 1 "$ours")
  a_gf=$(field 2 "$ours")
  tflops_line resecg "$a_sps" "$a_gf" "$peak"
  if ((have_torch)); then
    theirs=$($py bench/torch_bench.py --device cuda --tf32 $tf --warmup 3 --filters 32 \
               --blocks 16 --batch $batch --length $length --steps "$steps")
    echo "$theirs"
    b_sps=$(field 1 "$theirs")
    b_gf=$(field 2 "$theirs")
    tflops_line torch "$b_sps" "$b_gf" "$peak"
    awk -v a="$a_sps" -v b="$b_sps" 'BEGIN { printf "  ratio resecg / torch: %.2fx\n", a / b }'
  else
    echo "  (no PyTorch with CUDA for $py: set PYTHON to an interpreter that has it)"
  fi
done
