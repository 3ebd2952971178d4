#!/usr/bin/env bash
# Puts the PhysioNet/CinC Challenge 2017 training set where `resecg --data`
# (core/data/cinc17.c) reads it: DATA_DIR/training2017/ with the .mat/.hea records,
# RECORDS and the REFERENCE*.csv labels, REFERENCE-v3.csv among them.
#
#   experiments/cinc17/setup.sh [DATA_DIR]                 download from PhysioNet
#   experiments/cinc17/setup.sh --from-tarball FILE [DATA_DIR]
#                                                          unpack a local copy (the
#                                                          working copy in
#                                                          shared/data/cinc17/)
# DATA_DIR defaults to experiments/cinc17/data. Safe to run again: a finished
# set-up (marked by training2017/.complete, written last) is left alone, and
# files already downloaded are not fetched again.
#
# Checks, since a wrong file would only show up as a worse model:
#  - download: training2017.zip and REFERENCE-v3.csv against PhysioNet's
#    SHA256SUMS.txt, fetched alongside over HTTPS (no checksum of the full
#    zip or of the full 8,528-line v3 labels could be computed where this
#    script was written, so none is pinned here); then the v3 labels'
#    published class counts (N 5076, A 758, O 2415, ~ 279) are recounted.
#  - tarball: the archive and the REFERENCE-v3.csv inside against the pinned
#    SHA-256 of the working copy (7,674 of the 8,528 records).
#  - both: every labelled record has its .mat and .hea.
set -euo pipefail

BASE_URL=https://physionet.org/files/challenge-2017/1.0.0
TARBALL_SHA256=8ca5179a4a48207520107e0cae025ff52a03b009c592910e49b7a8d9f8d0b0fb
TARBALL_V3_SHA256=e980fa484c956436fe629c37ac7429d5f0859d60dbd898b239b955b38dbebbe8
# PhysioNet's page for the v3 labels: 8,528 records in these classes.
FULL_COUNTS="8528 N=5076 A=758 O=2415 ~=279"

here=$(cd "$(dirname "$0")" && pwd)
tarball=
data=
while (($#)); do
  case $1 in
    --from-tarball)
      [[ $# -ge 2 ]] || { echo "setup: --from-tarball needs a FILE" >&2; exit 2; }
      tarball=$2
      shift 2
      ;;
    -h | --help)
      sed -n '2,/^set -e/{/^set -e/d;s/^# \{0,1\}//;p;}' "$0"
      exit 0
      ;;
    -*)
      echo "setup: unknown option $1 (see --help)" >&2
      exit 2
      ;;
    *)
      [[ -z $data ]] || { echo "setup: one DATA_DIR only" >&2; exit 2; }
      data=$1
      shift
      ;;
  esac
done
data=${data:-$here/data}
out=$data/training2017

die() {
  echo "setup: $*" >&2
  exit 1
}

sha256() { sha256sum "$1" | cut -d' ' -f1; }

# "LINES N=.. A=.. O=.. ~=.." of a REFERENCE csv (CRLF tolerated).
label_counts() {
  tr -d '\r' <"$1" | awk -F, 'NF { n++; c[$2]++ }
    END { printf "%d N=%d A=%d O=%d ~=%d\n", n, c["N"], c["A"], c["O"], c["~"] }'
}

# Every record named in the labels has its .mat and .hea in dir.
check_records() {
  local dir=$1 labels=$2 rec missing=0
  while IFS=, read -r rec _; do
    rec=${rec%$'\r'}
    [[ -n $rec ]] || continue
    if [[ ! -f $dir/$rec.mat || ! -f $dir/$rec.hea ]]; then
      echo "setup: $dir/$rec.mat or .hea missing (listed in $labels)" >&2
      missing=$((missing + 1))
    fi
  done <"$labels"
  ((missing == 0)) || die "$missing labelled records have no files in $dir"
}

if [[ -f $out/.complete ]]; then
  echo "setup: $out is already set up ($(head -n1 "$out/.complete")); remove it to redo"
  exit 0
fi
# curl, ca-certificates, unzip and xz-utils: the `data` role of
# scripts/packages.txt (installed when root, else the apt-get line is printed)
"$here/../../scripts/install-packages.sh" data || die "the packages above are needed to fetch and unpack the data"
mkdir -p "$data"
work=$(mktemp -d "$data/.unpack.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [[ -n $tarball ]]; then
  [[ -f $tarball ]] || die "$tarball: no such file"
  got=$(sha256 "$tarball")
  [[ $got == "$TARBALL_SHA256" ]] ||
    die "$tarball: SHA-256 $got is not the working copy's $TARBALL_SHA256 (a newer copy on purpose? update TARBALL_SHA256 in $0)"
  echo "setup: $tarball: SHA-256 verified; unpacking"
  tar -xJf "$tarball" -C "$work"
  [[ -d $work/training2017 ]] || die "$tarball holds no training2017/ folder"
  got=$(sha256 "$work/training2017/REFERENCE-v3.csv")
  [[ $got == "$TARBALL_V3_SHA256" ]] ||
    die "REFERENCE-v3.csv in $tarball: SHA-256 $got, expected $TARBALL_V3_SHA256"
  source_note="working copy $tarball (sha256 $TARBALL_SHA256)"
else
  dl=$data/download
  mkdir -p "$dl"
  manual() {
    cat >&2 <<EOF
setup: could not download $1 ($2).
Without network access, fetch these three files elsewhere, from
  $BASE_URL/training2017.zip
  $BASE_URL/REFERENCE-v3.csv
  $BASE_URL/SHA256SUMS.txt
and place them, under exactly these names, in
  $dl/
Run this script again: it uses the files already there and checks them against
SHA256SUMS.txt. To check by hand, compare
  cd $dl && sha256sum training2017.zip REFERENCE-v3.csv
with the lines for those two names in SHA256SUMS.txt.
For tests and benchmarks, a local copy also works:
  $0 --from-tarball shared/data/cinc17/training2017.tar.xz
EOF
    exit 1
  }
  fetch() {
    local name=$1
    [[ -s $dl/$name ]] && return 0
    echo "setup: downloading $BASE_URL/$name"
    if command -v curl >/dev/null; then
      curl -fsSL --retry 3 --connect-timeout 20 -o "$dl/$name.part" "$BASE_URL/$name" ||
        { rm -f "$dl/$name.part"; manual "$name" "curl failed"; }
    elif command -v wget >/dev/null; then
      wget -q -t 3 -T 20 -O "$dl/$name.part" "$BASE_URL/$name" ||
        { rm -f "$dl/$name.part"; manual "$name" "wget failed"; }
    else
      manual "$name" "neither curl nor wget is installed"
    fi
    mv "$dl/$name.part" "$dl/$name"
  }
  fetch SHA256SUMS.txt
  fetch REFERENCE-v3.csv
  fetch training2017.zip
  for f in training2017.zip REFERENCE-v3.csv; do
    want=$(awk -v f="$f" '$2 == f || $2 == "*" f || $2 == "./" f { print $1; exit }' \
      "$dl/SHA256SUMS.txt")
    [[ -n $want ]] || die "$dl/SHA256SUMS.txt has no line for $f"
    got=$(sha256 "$dl/$f")
    [[ $got == "$want" ]] ||
      die "$dl/$f: SHA-256 $got, but SHA256SUMS.txt says $want (delete it to download again)"
    echo "setup: $f: SHA-256 verified against SHA256SUMS.txt"
  done
  counts=$(label_counts "$dl/REFERENCE-v3.csv")
  [[ $counts == "$FULL_COUNTS" ]] ||
    die "$dl/REFERENCE-v3.csv counts '$counts', expected PhysioNet's v3 '$FULL_COUNTS'"
  if command -v unzip >/dev/null; then
    unzip -q "$dl/training2017.zip" -d "$work"
  else
    python3 -m zipfile -e "$dl/training2017.zip" "$work"
  fi
  [[ -d $work/training2017 ]] || die "$dl/training2017.zip holds no training2017/ folder"
  cp "$dl/REFERENCE-v3.csv" "$work/training2017/REFERENCE-v3.csv"
  source_note="PhysioNet $BASE_URL (checked against SHA256SUMS.txt)"
fi

check_records "$work/training2017" "$work/training2017/REFERENCE-v3.csv"
echo "setup: labels: $(label_counts "$work/training2017/REFERENCE-v3.csv")"
rm -rf "$out" # an unfinished earlier attempt (no .complete)
mv "$work/training2017" "$out"
printf '%s\n%s\n' "$source_note" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$out/.complete.tmp"
mv "$out/.complete.tmp" "$out/.complete"
echo "setup: ready: resecg train --data $out"
