#!/usr/bin/env bash
# tests/sweep_ids_check.sh RESECG [--write] - the job ids of the shipped
# sweeps (sweeps/*.yaml) are the ones written down in
# tests/fixtures/sweep_ids.tsv. An id decides whether finished results are
# reused, so a change that moves one (a restructuring, a new config key
# with a default that enters the hash) must be deliberate: it fails here,
# and --write records the new ids for the commit that means it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$1
want=$root/tests/fixtures/sweep_ids.tsv
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in "$root"/sweeps/*.yaml; do
  name=$(basename "$f")
  # id, variant, seed, overrides of every job; the state column (an empty
  # --out: always "-") left out
  "$bin" sweep plan "$f" --out "$tmp/none" |
    awk -v s="$name" 'NR > 3 && NF >= 5 && $4 == "-" { o = $5; for (i = 6; i <= NF; i++) o = o " " $i
                       printf "%s\t%s\t%s\t%s\t%s\n", s, $1, $2, $3, o }'
done >"$tmp/got"
if [[ ${2:-} == --write ]]; then
  cp "$tmp/got" "$want"
  echo "sweep_ids: wrote $(wc -l <"$want") ids to $want"
  exit 0
fi
n=$(wc -l <"$tmp/got")
((n > 0)) || { echo "FAIL: no jobs read from the shipped sweeps"; exit 1; }
if ! diff -u "$want" "$tmp/got"; then
  echo "FAIL: the shipped sweeps' job ids moved (see the diff; --write records them if that is meant)"
  exit 1
fi
echo "sweep_ids: the $n jobs of $(find "$root/sweeps" -name '*.yaml' | wc -l) shipped sweeps keep their ids"
