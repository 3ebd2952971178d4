#!/usr/bin/env bash
# Set everything up and run the tests: the Release build's CTest suite, then
# the same unit tests built with AddressSanitizer + UndefinedBehaviorSanitizer,
# then the libFuzzer targets of the CinC 2017 parsers for 10 s each.
set -euo pipefail
cd "$(dirname "$0")"
# One test at a time: each trains with OpenMP on every core, and two
# OpenMP programs sharing the cores spin against each other's barriers.

# Everything the tests use (scripts/packages.txt, roles run + test), in one
# apt-get run: chromium, clang for the fuzzers, Slurm and munge, numpy/scipy.
scripts/install-packages.sh test

scripts/setup.sh build -DRESECG_WERROR=ON
(cd build && ctest --output-on-failure)

scripts/setup.sh build-asan -DRESECG_SANITIZE=ON -DRESECG_WERROR=ON -DCMAKE_BUILD_TYPE=Debug
# OpenMP's runtime keeps thread pools alive at exit: not our leaks.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest --output-on-failure)

# The file-format parsers under libFuzzer, briefly (clang, ASan + UBSan).
tests/fuzz/run.sh "${RESECG_FUZZ_SECONDS:-10}"
