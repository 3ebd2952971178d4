#!/usr/bin/env bash
# Installs the Debian packages of the given roles from scripts/packages.txt
# (the one list; `test` includes `run`). As root it runs apt-get for what is
# missing; otherwise it prints the exact apt-get line and exits 1.
#   scripts/install-packages.sh ROLE...          install what is missing
#   scripts/install-packages.sh --list ROLE...   print the packages, one a line
#   scripts/install-packages.sh --missing ROLE...  print the missing ones
# Roles: run, test, data, bench (see packages.txt). Exit 0 when every package
# of the roles is installed afterwards, 1 when not, 2 for a bad role.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
list_file=$here/packages.txt

mode=install
case "${1:-}" in
  --list) mode=list; shift ;;
  --missing) mode=missing; shift ;;
esac
(($#)) || { echo "usage: $0 [--list|--missing] ROLE..." >&2; exit 2; }

roles=()
for r in "$@"; do
  case "$r" in
    run | data | bench) roles+=("$r") ;;
    test) roles+=(run test) ;;
    *) echo "install-packages: unknown role '$r' (run, test, data, bench)" >&2; exit 2 ;;
  esac
done

# packages of the roles, in file order, each once
pkgs=()
while read -r role pkg _; do
  [[ -z $role || $role == \#* ]] && continue
  for r in "${roles[@]}"; do
    if [[ $r == "$role" ]]; then
      [[ " ${pkgs[*]} " == *" $pkg "* ]] || pkgs+=("$pkg")
      break
    fi
  done
done <"$list_file"

if [[ $mode == list ]]; then
  printf '%s\n' "${pkgs[@]}"
  exit 0
fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for p in "${pkgs[@]}"; do installed "$p" || missing+=("$p"); done
if [[ $mode == missing ]]; then
  ((${#missing[@]})) && printf '%s\n' "${missing[@]}"
  exit 0
fi
((${#missing[@]})) || exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "setup: missing Debian packages; run:" >&2
  echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
log=$(mktemp -t resecg-apt.XXXXXX)
export DEBIAN_FRONTEND=noninteractive
# a dropped connection to the mirror is retried, not a failed setup
apt=(apt-get -o Acquire::Retries=3)
if ! { "${apt[@]}" update -q && "${apt[@]}" install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "setup: apt-get failed (whole output: $log)" >&2
  exit 1
fi
rm -f "$log"
still=()
for p in "${missing[@]}"; do installed "$p" || still+=("$p"); done
if ((${#still[@]})); then
  echo "setup: apt-get finished but these are not installed: ${still[*]}" >&2
  exit 1
fi
