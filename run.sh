#!/usr/bin/env bash
# The main job: set everything up, then run the demo sweep (feature-based
# trees, then plain vs class-weighted vs focal loss on the small ResECG, 2
# seeds each, built-in synthetic ECG, CPU) and end with its report: Table 1 with mean and sd over
# seeds and which differences are real. Results: results/demo/, report:
# results/demo/report/ (table1.md, significance.md, report.html).
# Re-running resumes: finished jobs are kept.
# Extra arguments go to `resecg sweep run` (e.g. --max-parallel 1).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh build
build/resecg sweep run sweeps/demo.yaml --gpus none --out results "$@"
build/resecg report results/demo
echo
cat results/demo/report/table1.md
echo
cat results/demo/report/significance.md
echo
echo "HTML report: results/demo/report/report.html"
