#!/usr/bin/env bash
# Builds the libFuzzer targets for the input parsers (CinC 2017 records,
# checkpoints, model.json, configs, sweep files) with clang
# (-DRESECG_FUZZ=ON, ASan + UBSan) and runs each one for SECONDS (default 10)
# from the seed corpus make_seeds.sh writes. Exits non-zero if a target
# crashes, leaks, hits undefined behaviour or times out on an input; that
# input is kept as BUILD_DIR/fuzz-artifacts/<target>-crash-* to replay with
#   BUILD_DIR/tests/fuzz/<target> FILE
#   tests/fuzz/run.sh [SECONDS] [BUILD_DIR]     (BUILD_DIR: build-fuzz)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${1:-10}
build=${2:-$root/build-fuzz}
targets=(fuzz_mat fuzz_hea fuzz_labels fuzz_checkpoint fuzz_modeljson fuzz_config fuzz_sweep)
# inputs up to 4 KiB, but whole checkpoints of the fuzzer's tiny network with
# their Adam moments take about 5 KiB
declare -A max_len=([fuzz_checkpoint]=8192)

# libFuzzer ships with clang's runtime libraries (Debian: libclang-rt-14-dev,
# in the test role of scripts/packages.txt); try a one-line target before
# configuring, and install the test packages when it fails.
probe_fuzzer() {
  local tmp
  tmp=$(mktemp -d)
  printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
    >"$tmp/probe.c"
  local ok=0
  clang -fsanitize=fuzzer,address,undefined -fopenmp "$tmp/probe.c" -o "$tmp/probe" \
    >/dev/null 2>&1 || ok=1
  rm -rf "$tmp"
  return $ok
}
if ! command -v clang >/dev/null || ! probe_fuzzer; then
  echo "fuzz: clang with -fsanitize=fuzzer does not work yet: installing the test packages (scripts/packages.txt)"
  "$root/scripts/install-packages.sh" test || true
  if ! command -v clang >/dev/null || ! probe_fuzzer; then
    echo "fuzz: clang with -fsanitize=fuzzer does not work here (packages: scripts/install-packages.sh --list test)" >&2
    exit 1
  fi
fi

CC=clang cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRESECG_FUZZ=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}" >/dev/null

seeds=$build/fuzz-seeds
rm -rf "$seeds"
"$here/make_seeds.sh" "$seeds"
rm -rf "$build/fuzz-artifacts" # this run's findings only
mkdir -p "$build/fuzz-artifacts"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

failed=()
for t in "${targets[@]}"; do
  kind=${t#fuzz_}
  corpus=$build/fuzz-corpus/$t # grows across runs; the seeds stay read-only
  mkdir -p "$corpus"
  log=$build/fuzz-artifacts/$t.log
  rc=0
  "$build/tests/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="${max_len[$t]:-4096}" \
    -dict="$seeds/$kind.dict" -artifact_prefix="$build/fuzz-artifacts/$t-" -print_final_stats=1 \
    "$corpus" "$seeds/$kind" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  echo "$t: exit $rc, ${execs:-?} executions in ${secs} s, corpus $(find "$corpus" -type f | wc -l) files"
  if ((rc != 0)); then
    failed+=("$t")
    tail -n 40 "$log" >&2
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]} (inputs in $build/fuzz-artifacts/)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} passed, 0 failed"
