#!/usr/bin/env bash
# Installs the Debian packages resecg builds against (the `run` role of
# scripts/packages.txt, when root; otherwise prints the exact apt-get line),
# then configures and builds with CMake.
#   scripts/setup.sh [BUILD_DIR] [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-packages.sh run

build=${1:-build}
shift || true
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null
echo "setup: built $build/resecg"
