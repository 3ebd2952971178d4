#!/usr/bin/env bash
# bench/gpu_proof.sh [--rehearse] [--budget SECONDS] [--pack DIR]
#
# The GPU proof in one call, inside a time budget it enforces (default 420 s
# of the 9 minutes a GPU window allows, leaving the machine's start and the
# transfers): on a GPU host with nvcc, CMake and PyTorch but none of the CPU
# side's Debian packages, from what bench/gpu_pack.sh packed here
# (.device/proof: the portable binaries, their libraries, the CinC tarball):
#   1. unpack the libraries; build the CUDA module there against the host's
#      cuDNN and cuBLAS (cmake -S core/nn/cuda, sm_90);
#   2. the environment: GPU, driver, cuDNN / cuBLAS / cudart versions, commit;
#   3. test_cuda with RESECG_REQUIRE_CUDA=1 (no skip possible);
#   4. bench/bench_gpu.sh: resecg against PyTorch (cudnn.benchmark), TF32 and FP32;
#   5. as much of sweeps/table1.yaml as the budget leaves (4 jobs at a time on
#      the GPU; SIGTERM at the deadline stops it cleanly), then its report.
# Results: $OUT (the device tool's folder) or, without it, reports/gpu-proof/:
# summary.txt (every step's status and wall time) and proof.tar.gz (the
# logs, the environment, the sweep's small files and its report).
#
# --rehearse runs the same steps on this CPU machine with tiny sizes:
# --device cpu, test_cuda allowed to skip, the benchmark on the small
# network, a 2-job sweep of 1 epoch on 300 records. It exists so that no GPU
# minute is spent on a bug of this script.
#
#   bench/gpu_pack.sh build && bench/gpu_proof.sh --rehearse     # here
#   bench/gpu_proof.sh                                            # there
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rehearse=0 budget=420 pack=.device/proof
while (($#)); do
  case $1 in
    --rehearse) rehearse=1 ;;
    --budget) budget=$2; shift ;;
    --pack) pack=$2; shift ;;
    *) echo "usage: bench/gpu_proof.sh [--rehearse] [--budget SECONDS] [--pack DIR]" >&2; exit 2 ;;
  esac
  shift
done
[[ -x $pack/bin/resecg ]] || { echo "gpu_proof: $pack/bin/resecg missing: run bench/gpu_pack.sh first" >&2; exit 2; }
out=${OUT:-$root/reports/gpu-proof$( ((rehearse)) && echo -rehearsal)}
mkdir -p "$out"
work=$(mktemp -d /tmp/gpu-proof.XXXXXX)
logs=$work/logs
mkdir -p "$logs"
t0=$(date +%s)
deadline=$((t0 + budget))
left() { echo $((deadline - $(date +%s))); }
summary=$logs/summary.txt
note() { echo "$*" | tee -a "$summary"; }
# step NAME LIMIT CMD...: runs CMD with at most LIMIT seconds (and never past
# the deadline), its output in logs/NAME.log; notes status and wall time.
step() {
  local name=$1 limit=$2
  shift 2
  local l
  l=$(left)
  ((limit > l)) && limit=$l
  if ((limit < 5)); then
    note "$name: not run (budget spent)"
    return 124
  fi
  local s rc=0
  s=$(date +%s)
  timeout -s TERM -k 15 "$limit" "$@" >"$logs/$name.log" 2>&1 || rc=$?
  note "$name: exit $rc in $(($(date +%s) - s)) s (limit $limit s)$( ((rc == 124)) && echo ', stopped at its limit')"
  return $rc
}
finish() {
  note "total: $(($(date +%s) - t0)) s of the $budget s budget"
  cp "$summary" "$out/summary.txt"
  tar -C "$work" -czf "$out/proof.tar.gz" logs $(cd "$work" && ls -d results 2>/dev/null)
  echo "gpu_proof: results in $out (summary.txt, proof.tar.gz)"
  rm -rf "$work"
}
trap finish EXIT

note "gpu_proof $( ((rehearse)) && echo '(rehearsal on the CPU)') $(date -u +%FT%TZ), budget $budget s"
note "commit: $(head -1 "$pack/COMMIT")$( [[ $(wc -l <"$pack/COMMIT") -gt 1 ]] && echo ' (with uncommitted changes)')"

# 1. libraries and the module
mkdir -p "$work/lib"
for f in "$pack"/lib/*.xz; do xz -dc "$f" >"$work/lib/$(basename "${f%.xz}")"; done
export LD_LIBRARY_PATH=$work/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
bin=$root/$pack/bin
[[ $pack == /* ]] && bin=$pack/bin
if step module 150 bash -c "cmake -S core/nn/cuda -B '$work/cuda' -DCMAKE_CUDA_ARCHITECTURES=90 &&
                             cmake --build '$work/cuda' -j 8"; then
  export RESECG_CUDA_MODULE=$work/cuda/libresecg_cuda.so
  grep 'CUDA module' "$logs/module.log" | head -1 | tee -a "$summary"
elif ((rehearse)); then
  note "module: not built here (rehearsal goes on with the CPU steps)"
else
  note "module: the build failed: nothing on the GPU can run"; exit 1
fi

# 2. the environment
{
  echo "date: $(date -u +%FT%TZ)"
  echo "host: $(uname -srm), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "commit: $(cat "$pack/COMMIT")"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1
  else
    echo "nvidia-smi: not found"
  fi
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version())" 2>&1 | tail -1
} >"$logs/env.txt" 2>&1
sed 's/^/  /' "$logs/env.txt" | tee -a "$summary" >/dev/null

# 3. the GPU tests, no skip allowed
if ((rehearse)); then
  step test_cuda 120 env RESECG_SOURCE_DIR="$root" RESECG_BIN="$bin/resecg" "$bin/test_cuda"
  rc=$?
  ((rc == 77)) && note "test_cuda: skipped here, as it must be without a GPU ($(grep -m1 SKIP "$logs/test_cuda.log"))"
else
  step test_cuda 180 env RESECG_REQUIRE_CUDA=1 RESECG_SOURCE_DIR="$root" RESECG_BIN="$bin/resecg" "$bin/test_cuda"
fi
grep -E '^CUDA (module|device)' "$logs/test_cuda.log" | tee -a "$summary"
grep -E '[0-9]+%: Checks' "$logs/test_cuda.log" | tee -a "$summary"

# 4. the side-by-side benchmark
if ((rehearse)); then
  step bench 90 "$bin/resecg" bench --config cfgs/small.yaml --device cpu --batch 4 --length 2560 --steps 2
else
  step bench 100 bench/bench_gpu.sh "$bin" 10
fi
grep -E 'samples/s|ratio' "$logs/bench.log" | tee -a "$summary"

# 5. Table 1, as far as the budget goes
if [[ -f $pack/data/training2017.tar.xz ]]; then
  if ((rehearse)); then
    mkdir -p "$work/data"
    tar -C "$work/data" -xJf "$pack/data/training2017.tar.xz"
    # data.labels is read relative to data.dir
    head -300 "$work/data/training2017/REFERENCE.csv" >"$work/data/training2017/labels300.csv"
    cat >"$work/table1.yaml" <<YAML
name: table1
config: $root/cfgs/small.yaml
data: $work/data/training2017
set: {data.source: cinc17, data.protocol: pytorch-ref, data.labels: labels300.csv, train.max_epochs: 1}
variants:
  features: {model.type: features, loss.kind: ce}
  plain:    {loss.kind: ce}
seeds: 1
YAML
    sweep=$work/table1.yaml
    gpus=(--gpus none --max-parallel 1)
  else
    mkdir -p experiments/cinc17/data
    [[ -f experiments/cinc17/data/training2017/REFERENCE.csv ]] ||
      tar -C experiments/cinc17/data -xJf "$pack/data/training2017.tar.xz"
    sweep=sweeps/table1.yaml
    gpus=(--gpus 0 --jobs-per-gpu 4)
  fi
  # the report needs its own time: stop the sweep 40 s before the deadline
  step sweep $(($(left) - 40)) "$bin/resecg" sweep run "$sweep" "${gpus[@]}" --out "$work/results" --no-live --grace 10
  grep -E 'done|failed|stopp' "$logs/sweep.log" | tail -25 | tee -a "$summary"
  step status 10 "$bin/resecg" sweep status "$work/results/table1"
  head -20 "$logs/status.log" | tee -a "$summary"
  step report 35 "$bin/resecg" report "$work/results/table1" --published --bootstrap 500
  [[ -f $work/results/table1/report/table1.md ]] && cat "$work/results/table1/report/table1.md" | tee -a "$summary"
  # the small files only: no checkpoints, no feature caches
  find "$work/results" \( -name '*.safetensors' -o -name model.json -o -name features.csv \) -delete
else
  note "table1: no CinC tarball in $pack/data: not run"
fi
