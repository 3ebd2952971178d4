#!/usr/bin/env bash
# CPU training throughput, resecg against PyTorch, side by side on this
# machine with the same network, batch and threads. PyTorch comes from
# Debian's python3-torch; where it is absent only resecg's figures print.
#   bench/cpu_vs_torch.sh [BUILD_DIR] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
threads=${2:-$(nproc)}
py=/usr/bin/python3
have_torch=0
if [[ -x $py ]] && $py -c "import torch" 2>/dev/null; then have_torch=1; fi

run_case() { # name config filters blocks batch length steps
  local name=$1 cfg=$2 filters=$3 blocks=$4 batch=$5 length=$6 steps=$7
  echo "== $name: batch $batch x $length, $threads threads"
  local ours theirs
  ours=$(OMP_NUM_THREADS=$threads "$build/resecg" bench --config "$cfg" --batch "$batch" \
           --length "$length" --steps "$steps" --threads "$threads")
  echo "$ours"
  if ((have_torch)); then
    theirs=$(OMP_NUM_THREADS=$threads $py bench/torch_bench.py --filters "$filters" \
               --blocks "$blocks" --batch "$batch" --length "$length" --steps "$steps" \
               --threads "$threads")
    echo "$theirs"
    local a b
    a=$(sed -n 's/^ *\([0-9.]*\) samples\/s.*/\1/p' <<<"$ours" | head -1)
    b=$(sed -n 's/^ *\([0-9.]*\) samples\/s.*/\1/p' <<<"$theirs" | head -1)
    awk -v a="$a" -v b="$b" 'BEGIN { printf "  ratio resecg / torch: %.2fx\n", a / b }'
  else
    echo "  (PyTorch not installed: apt-get install python3-torch for the side-by-side figure)"
  fi
}

lscpu | sed -n 's/^Model name: *//p'
run_case "small (16 filters, 8 blocks)" cfgs/small.yaml 16 8 32 2560 10
run_case "default ResECG (32 filters, 16 blocks)" cfgs/ResECG.yaml 32 16 32 8960 3
