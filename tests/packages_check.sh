#!/usr/bin/env bash
# tests/packages_check.sh - the package list is one list: the README shows
# exactly what scripts/packages.txt holds, role by role, and no script but
# scripts/install-packages.sh runs apt-get install. (tests/fresh_root.sh
# proves the list complete on a new Debian root; this is the cheap half that
# every ctest run does.)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# 1. README: a fenced block with one "ROLE: pkg pkg ..." line per role, in the
#    file's order, right after the line "<!-- packages: scripts/packages.txt -->"
want=$(for role in run test data bench; do
  # --list test also prints the run role's packages: list test's own lines
  printf '%s: %s\n' "$role" "$(awk -v r="$role" '$1 == r { printf "%s%s", sep, $2; sep = " " }' scripts/packages.txt)"
done)
got=$(awk '/<!-- packages: scripts\/packages.txt -->/ { on = 1; next }
           on && /^```/ { if (++fence == 2) exit; next }
           on && fence == 1 { print }' README.md)
if [[ -z $got ]]; then
  bad "README.md has no package block after '<!-- packages: scripts/packages.txt -->'"
elif [[ $got != "$want" ]]; then
  bad "README.md's package block differs from scripts/packages.txt:"
  diff <(echo "$want") <(echo "$got") | sed 's/^/    /' || true
fi

# 2. one installer: no other tracked script runs apt-get install
# (find, not git: the fresh-root check runs this in a `git archive` export)
others=$(find . -path './build*' -prune -o -path ./.git -prune -o -path ./results -prune -o \
  -type f \( -name '*.sh' -o -path ./.ci/run \) -print | sort |
  grep -v '^./scripts/install-packages.sh$\|^./tests/packages_check.sh$' |
  xargs -r awk '/apt-get[^|;]*install/ && !/^[[:space:]]*#/ && !/echo/ { print FILENAME; nextfile }' || true)
[[ -z $others ]] || bad "apt-get install outside scripts/install-packages.sh: $others"

# 3. the installer's roles
# (each list is captured first: `list test | grep -q` under pipefail fails
# whenever grep exits before the writer's last line, and SIGPIPE kills it)
list() { scripts/install-packages.sh --list "$@"; }
run_pkgs=$(list run)
test_pkgs=$(list test)
for p in $run_pkgs; do grep -qx "$p" <<<"$test_pkgs" || bad "role test lacks run's package $p"; done
n_run=$(wc -l <<<"$run_pkgs")
[[ $n_run -ge 10 ]] || bad "role run lists only $n_run packages"
grep -qx ocl-icd-opencl-dev <<<"$run_pkgs" || bad "role run lacks ocl-icd-opencl-dev (dnnl-config.cmake needs it)"
rc=0
scripts/install-packages.sh --list nosuchrole >/dev/null 2>&1 || rc=$?
[[ $rc -eq 2 ]] || bad "an unknown role exits $rc, not 2"
dups=$(awk '!/^#/ && NF { print $1, $2 }' scripts/packages.txt | sort | uniq -d)
[[ -z $dups ]] || bad "listed twice in one role: $dups"

if ((fail)); then
  echo "packages_check: 0 passed, 1 failed"
  exit 1
fi
echo "packages_check: README block, one installer, roles: all agree"
