#!/usr/bin/env bash
# The sweep scheduler's dispatch rate next to two established job runners,
# on the same 1,000 /bin/true jobs, 8 at a time:
#   bench_sched             resecg's libuv process pool (runner/scheduler.c)
#   task-spooler (tsp -S 8) Debian package task-spooler, if installed
#   GNU parallel (-j8)      Debian package parallel, if installed
# Prints jobs/s of each and the ratios. Spawn rates move with the machine's
# load: run it on an idle machine, or compare figures from one run only.
# usage: bench/sched_vs_peers.sh [BUILD_DIR (build)] [JOBS (1000)] [SLOTS (8)]
set -euo pipefail
build=${1:-build}
n=${2:-1000}
slots=${3:-8}
bench="$build/bench/bench_sched"
if [ ! -x "$bench" ]; then
    echo "sched_vs_peers: $bench not found (build it: cmake --build $build --target bench_sched)" >&2
    exit 2
fi

now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }

echo "== bench_sched ($n jobs, $slots slots)"
out=$("$bench" "$n" "$slots")
echo "$out"
ours=$(echo "$out" | awk '/best of 3/ { for (i = 1; i <= NF; i++) if ($i == "jobs/s") print $(i - 1) }')

declare -A peer
# task-spooler: its own server on a private socket, so other queues are untouched
tsp_bin=$(command -v tsp || command -v ts || true)
if [ -n "$tsp_bin" ] && grep -qi "task spooler" <<<"$("$tsp_bin" -h 2>&1)"; then
    export TS_SOCKET
    TS_SOCKET=$(mktemp -u /tmp/sched_vs_peers.tsp.XXXXXX)
    export TS_MAXFINISHED=$((n + 10))
    "$tsp_bin" -S "$slots" >/dev/null
    t0=$(now)
    for ((i = 0; i < n; i++)); do "$tsp_bin" -n /bin/true >/dev/null; done
    # done when nothing is queued or running
    while "$tsp_bin" -l | awk 'NR > 1 && ($2 == "running" || $2 == "queued") { busy = 1 } END { exit !busy }'; do
        sleep 0.01
    done
    t1=$(now)
    "$tsp_bin" -K >/dev/null 2>&1 || true
    peer[tsp]=$(rate "$n" "$t0" "$t1")
    echo "== task-spooler: $n x /bin/true, tsp -S $slots: ${peer[tsp]} jobs/s (includes one tsp client process per job)"
else
    echo "== task-spooler: not installed (scripts/install-packages.sh bench)"
fi

if command -v parallel >/dev/null && grep -q "GNU parallel" <<<"$(parallel --version 2>/dev/null)"; then
    t0=$(now)
    seq "$n" | parallel -j"$slots" /bin/true
    t1=$(now)
    peer[parallel]=$(rate "$n" "$t0" "$t1")
    echo "== GNU parallel: $n x /bin/true, parallel -j$slots: ${peer[parallel]} jobs/s"
else
    echo "== GNU parallel: not installed (scripts/install-packages.sh bench)"
fi

if [ -n "$ours" ]; then
    for k in "${!peer[@]}"; do
        awk -v a="$ours" -v b="${peer[$k]}" -v k="$k" \
            'BEGIN { printf "resecg scheduler / %s: %.1fx\n", k, a / b }'
    done
fi
