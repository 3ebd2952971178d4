#!/usr/bin/env bash
# The main job: set everything up, then train the small ResECG on built-in
# synthetic ECG on the CPU and print its per-class F1 on the dev split.
# Extra arguments go to `resecg train` (e.g. --set loss.kind=focal).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh build
exec build/resecg train --config cfgs/small.yaml --out runs/demo "$@"
