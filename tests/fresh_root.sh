#!/usr/bin/env bash
# tests/fresh_root.sh - the README's two commands on a new Debian 12.
#
# Builds a minimal bookworm root with debootstrap, puts a clean `git archive`
# export of the commit under test in its /root/resecg, and runs ./run.sh and
# then ./test.sh there with chroot, as root, with an empty environment. A
# package missing from scripts/packages.txt makes one of them fail here, even
# when every development machine happens to have it. The run also fails when
# a test was skipped for a reason other than the machine's (no GPU, no AVX2,
# no ../shared): a missing tool that only turns a test into a skip is caught.
#
#   tests/fresh_root.sh [--commit REV] [--drop PKG]... [--only run|test]
#                       [--no-shared] [--keep]
#
#   --commit REV   what to export (default HEAD); the working tree is never used
#   --drop PKG     take PKG out of the exported scripts/packages.txt, to prove
#                  the check fails without it
#   --only CMD     run only ./run.sh or only ./test.sh
#   --no-shared    do not bind ../shared (read-only) at /root/shared; the
#                  real-data tests then skip, as they do on a user's machine
#   --keep         leave the root in /var/tmp for a look (mounts are gone)
#
# Exit status: 0 both commands passed, 1 one failed, 2 bad usage, 77 the check
# cannot run here (not root, no namespaces, no debootstrap, no package
# registry): it prints SKIP and the reason, and never a pass.
#
# Isolation. Everything inside runs in private mount and PID namespaces
# (unshare): /proc, a read-only /sys (hwloc, which Slurm uses, reads it; with
# the machine's cgroup mounts, read-only, which slurmd needs) and a
# /dev of its own (a tmpfs with null, zero, full, random, urandom, tty, devpts
# and /dev/shm, never a bind of the host's) are mounted there, unmounted by the
# inner trap on every exit path (Ctrl-C included), and gone with the namespace
# even after kill -9; the daemons the tests start (munged, slurmctld, slurmd)
# die with the PID namespace. The host's packages are never touched: apt-get
# runs only inside the root. The network is shared (apt needs it), so the
# root's Slurm test cluster uses ports of its own (RESECG_SLURM_PORT=16917).
#
# Cache (RESECG_FRESH_CACHE, default /var/cache/resecg/fresh-root): the bare
# debootstrap root as a tarball, made again after RESECG_FRESH_MAX_AGE_DAYS
# (default 7) days, each run unpacking an untouched copy of it; and a folder of
# downloaded .deb files bound at the root's /var/cache/apt/archives, so that a
# run downloads only what changed (every package is still installed by the
# project's scripts, from its own list). A debootstrap that is not installed
# is unpacked from `apt-get download debootstrap` into the cache, not
# installed. Logs: the cache's logs/ folder (the last 10 runs).
set -euo pipefail

self=$(readlink -f "$0")
SUITE=bookworm
MIRROR=${RESECG_FRESH_MIRROR:-http://deb.debian.org/debian}
CACHE=${RESECG_FRESH_CACHE:-/var/cache/resecg/fresh-root}
MAX_AGE_DAYS=${RESECG_FRESH_MAX_AGE_DAYS:-7}
SLURM_PORT=16917

say() { echo "[fresh-root $(date +%T)] $*"; }
skip() { echo "SKIP fresh-root check: $*"; exit 77; }
die() { echo "fresh-root: $*" >&2; exit 1; }

# skip_audit TREE SHARED LOGS: a test that skipped for a missing tool is a
# failure here. Allowed: what this machine lacks (a GPU, AVX2, native bf16)
# and, when SHARED is empty (no ../shared), the real-data cases. Reads the
# Release and ASan builds' CTest logs under TREE (every test's output, also
# of those that passed) and LOGS/test.log (./test.sh's output, for whole
# programs CTest skipped); copies what it read into LOGS. Returns 1 on a
# skip a clean machine should not have.
skip_audit() {
  local tree=$1 shared=$2 logs=$3 bad=0 b lt
  local allowed='SKIP: no CUDA device|SKIP: device cuda: the CUDA module libresecg_cuda.so is not installed|SKIPPED, not on this CPU|SKIPPED, no AVX2'
  [[ -z $shared ]] && allowed+='|SKIP real-data tests: '
  for b in build build-asan; do
    lt=$tree/$b/Testing/Temporary/LastTest.log
    [[ -f $lt ]] || continue
    [[ $lt -ef $logs/$b-LastTest.log ]] || cp "$lt" "$logs/$b-LastTest.log"
    if grep -n 'SKIP' "$lt" | grep -Ev "$allowed" >"$logs/$b-skips"; then
      say "FAIL: tests in $b skipped for a reason a clean machine should not have:"
      sed 's/^/    /' "$logs/$b-skips"
      bad=1
    fi
  done
  if [[ -f $logs/test.log ]] && grep -E '\(Skipped\)' "$logs/test.log" | grep -v 'test_cuda' >"$logs/skipped-tests"; then
    say "FAIL: whole test programs skipped:"
    sed 's/^/    /' "$logs/skipped-tests"
    bad=1
  fi
  return $bad
}

# tests/fresh_root.sh --audit TREE LOGS [SHARED]: only the skip audit, on a
# tree that already ran ./test.sh (tests/fresh_root_audit.sh tests it)
if [[ ${1:-} == --audit ]]; then
  [[ $# -ge 3 ]] || { echo "usage: $0 --audit TREE LOGS [SHARED]" >&2; exit 2; }
  if skip_audit "$2" "${4:-}" "$3"; then
    say "skip audit: only the machine's own skips"
    exit 0
  fi
  exit 1
fi

# ============================================================== inner side
# Runs as PID 1 of the new PID namespace, in the new mount namespace:
#   fresh_root.sh --inner ROOT SHARED_DIR_OR_EMPTY ONLY LOG_DIR
if [[ ${1:-} == --inner ]]; then
  R=$2 shared=$3 only=$4 logs=$5
  mounted=()
  inner_cleanup() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
      umount -R "${mounted[i]}" 2>/dev/null || umount -R -l "${mounted[i]}" 2>/dev/null || true
    done
    mounted=()
  }
  trap inner_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
  mnt() { # mnt TARGET mount-args...
    local target=$1
    shift
    mount "$@" "$target"
    mounted+=("$target")
  }
  mnt "$R/proc" -t proc proc
  mnt "$R/sys" -t sysfs -o ro,nosuid,nodev,noexec sysfs
  # the machine's cgroup mounts, read-only, as systemd leaves them on a real
  # install: slurmd 22.05 will not start without its cgroup plugin (v1 or v2,
  # whichever the host has; a fresh cgroup2 mount on a v1 host is "hybrid")
  if mountpoint -q /sys/fs/cgroup; then
    mnt "$R/sys/fs/cgroup" --rbind /sys/fs/cgroup
    for m in $(findmnt -R -n -l -o TARGET "$R/sys/fs/cgroup"); do
      mount -o remount,bind,ro "$m"
    done
  fi
  mnt "$R/dev" -t tmpfs -o mode=0755,size=16m,nosuid tmpfs
  mknod -m 666 "$R/dev/null" c 1 3
  mknod -m 666 "$R/dev/zero" c 1 5
  mknod -m 666 "$R/dev/full" c 1 7
  mknod -m 666 "$R/dev/random" c 1 8
  mknod -m 666 "$R/dev/urandom" c 1 9
  mknod -m 666 "$R/dev/tty" c 5 0
  ln -s /proc/self/fd "$R/dev/fd"
  ln -s /proc/self/fd/0 "$R/dev/stdin"
  ln -s /proc/self/fd/1 "$R/dev/stdout"
  ln -s /proc/self/fd/2 "$R/dev/stderr"
  mkdir "$R/dev/pts" "$R/dev/shm"
  mnt "$R/dev/pts" -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts
  ln -s pts/ptmx "$R/dev/ptmx"
  mnt "$R/dev/shm" -t tmpfs -o mode=1777,size=2g,nosuid,nodev tmpfs
  mnt "$R/var/cache/apt/archives" --bind "$CACHE/archives"
  if [[ -n $shared ]]; then
    mkdir -p "$R/root/shared"
    mnt "$R/root/shared" --bind "$shared"
    mount -o remount,bind,ro "$R/root/shared"
  fi

  # The commands see a new machine's environment: nothing of ours but the
  # Slurm test ports and CI (which the tests read to stay quiet).
  in_root() {
    chroot "$R" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      CI="${CI:-}" RESECG_SLURM_PORT=$SLURM_PORT /bin/bash -c "$1" </dev/null
  }
  fails=0
  for cmd in run test; do
    [[ -z $only || $only == "$cmd" ]] || continue
    say "./$cmd.sh in the fresh root: starting"
    t0=$(date +%s)
    rc=0
    in_root "cd /root/resecg && ./$cmd.sh" 2>&1 | tee "$logs/$cmd.log" || rc=${PIPESTATUS[0]}
    t=$(($(date +%s) - t0))
    echo "$cmd $rc $t" >>"$logs/times"
    if ((rc != 0)); then
      say "FAIL: ./$cmd.sh exited $rc after $((t / 60)) min $((t % 60)) s"
      fails=$((fails + 1))
    else
      say "./$cmd.sh passed in $((t / 60)) min $((t % 60)) s"
    fi
  done
  ((fails == 0))
  exit
fi

# ============================================================== outer side
commit=HEAD only="" keep=0 use_shared=1 drops=()
while (($#)); do
  case $1 in
    --commit) [[ $# -ge 2 ]] || { echo "fresh-root: --commit needs a REV" >&2; exit 2; }; commit=$2; shift 2 ;;
    --drop) [[ $# -ge 2 ]] || { echo "fresh-root: --drop needs a PKG" >&2; exit 2; }; drops+=("$2"); shift 2 ;;
    --only)
      [[ ${2:-} == run || ${2:-} == test ]] || { echo "fresh-root: --only run|test" >&2; exit 2; }
      only=$2; shift 2 ;;
    --no-shared) use_shared=0; shift ;;
    --keep) keep=1; shift ;;
    -h | --help) sed -n '2,/^set -e/{/^set -e/d;s/^# \{0,1\}//;p;}' "$0"; exit 0 ;;
    *) echo "fresh-root: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

src=$(git -C "$(dirname "$self")" rev-parse --show-toplevel 2>/dev/null) ||
  { echo "fresh-root: $(dirname "$self") is not in a git checkout" >&2; exit 2; }
rev=$(git -C "$src" rev-parse --verify -q "$commit^{commit}") ||
  { echo "fresh-root: '$commit' is not a commit of $src" >&2; exit 2; }

[[ $(id -u) -eq 0 ]] || skip "needs root (debootstrap, chroot, mounts)"
for t in chroot unshare mount umount mountpoint findmnt tar wget dpkg-deb; do
  command -v "$t" >/dev/null || skip "$t not found (debootstrap needs wget; the rest are util-linux, tar and dpkg)"
done
unshare --mount --pid --fork --propagation private true 2>/dev/null ||
  skip "cannot make mount and PID namespaces here (unshare failed: a container without CAP_SYS_ADMIN?)"
wget -q -T 20 -t 2 -O /dev/null "$MIRROR/dists/$SUITE/Release" ||
  skip "the package registry $MIRROR does not answer"

mkdir -p "$CACHE/archives/partial" "$CACHE/logs"

# debootstrap: the installed one, else one unpacked from its .deb (not installed)
debootstrap=$(command -v debootstrap || true)
if [[ -z $debootstrap ]]; then
  pkgdir=$CACHE/debootstrap
  if [[ ! -x $pkgdir/usr/sbin/debootstrap ]]; then
    say "debootstrap is not installed: unpacking it from its .deb into $pkgdir"
    dl=$(mktemp -d)
    if ! (cd "$dl" && apt-get download -q debootstrap >/dev/null 2>&1); then
      apt-get update -q >/dev/null 2>&1 || true
      (cd "$dl" && apt-get download -q debootstrap >/dev/null 2>&1) ||
        { rm -rf "$dl"; skip "no debootstrap, and apt-get download debootstrap failed"; }
    fi
    rm -rf "$pkgdir"
    dpkg-deb -x "$dl"/debootstrap_*.deb "$pkgdir"
    rm -rf "$dl"
  fi
  export DEBOOTSTRAP_DIR=$pkgdir/usr/share/debootstrap
  debootstrap=$pkgdir/usr/sbin/debootstrap
fi

# the bare root, cached as a tarball
base=$CACHE/$SUITE-minbase.tar
if [[ -f $base ]] && [[ -z $(find "$base" -mtime +"$MAX_AGE_DAYS") ]]; then
  say "bare $SUITE root: $base ($(date -r "$base" +%F))"
else
  say "debootstrap --variant=minbase $SUITE from $MIRROR"
  t0=$(date +%s)
  tmp=$(mktemp -d /var/tmp/resecg-debootstrap.XXXXXX)
  if ! "$debootstrap" --variant=minbase "$SUITE" "$tmp" "$MIRROR" >"$CACHE/logs/debootstrap.log" 2>&1; then
    tail -n 20 "$CACHE/logs/debootstrap.log"
    rm -rf --one-file-system "$tmp"
    die "debootstrap failed (log: $CACHE/logs/debootstrap.log)"
  fi
  chmod 0755 "$tmp" # mktemp's 0700 would become the root's / and lock out every user but root
  tar --numeric-owner -C "$tmp" -cf "$base.tmp" .
  mv "$base.tmp" "$base"
  rm -rf --one-file-system "$tmp"
  say "bare root made in $(($(date +%s) - t0)) s, cached as $base"
fi

work=$(mktemp -d /var/tmp/resecg-fresh-root.XXXXXX)
R=$work/root
logs=$CACHE/logs/$(date +%Y%m%d-%H%M%S)-${rev:0:10}
mkdir -p "$R" "$logs"
outer_cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  # The mounts lived in the inner namespace only; if any is visible here
  # something is wrong, and rm must not walk into it.
  if grep -q " $work/" /proc/self/mounts; then
    echo "fresh-root: mounts left under $work; not removing it" >&2
  elif ((keep)); then
    echo "fresh-root: root kept in $R"
  else
    rm -rf --one-file-system "$work"
  fi
  exit "$rc"
}
trap outer_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

tar --numeric-owner -xpf "$base" -C "$R"
chmod 0755 "$R"
# apt downloads as _apt into the cache's partial/ (the root's own uid for it)
apt_uid=$(awk -F: '$1 == "_apt" { print $3 }' "$R/etc/passwd")
[[ -n $apt_uid ]] && chown "$apt_uid:0" "$CACHE/archives/partial" && chmod 0700 "$CACHE/archives/partial"
mkdir -p "$R/root/resecg"
git -C "$src" archive --format=tar "$rev" | tar -x -C "$R/root/resecg"
for p in "${drops[@]}"; do
  f=$R/root/resecg/scripts/packages.txt
  awk -v p="$p" '$2 == p { found = 1 } END { exit !found }' "$f" || die "--drop $p: not in scripts/packages.txt"
  awk -v p="$p" '$2 != p' "$f" >"$f.new" && mv "$f.new" "$f"
  say "dropped $p from the exported scripts/packages.txt"
done
# What a Debian installer writes and debootstrap does not: /etc/hosts, and
# the updates and security suites next to the main one.
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' \
  "$(hostname)" >"$R/etc/hosts"
cp /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true
{
  echo "deb $MIRROR $SUITE main"
  echo "deb $MIRROR $SUITE-updates main"
  [[ $MIRROR == */debian ]] && echo "deb ${MIRROR%/debian}/debian-security $SUITE-security main"
} >"$R/etc/apt/sources.list"

shared=""
if ((use_shared)) && [[ -d $src/../shared ]]; then
  shared=$(cd "$src/../shared" && pwd)
fi
say "commit $rev ($(git -C "$src" log -1 --format=%s "$rev" | cut -c1-60)) in $R${shared:+, $shared read-only at /root/shared}"
say "logs: $logs"

rc=0
unshare --mount --pid --fork --kill-child --propagation private -- \
  env CACHE="$CACHE" SLURM_PORT="$SLURM_PORT" bash "$self" --inner "$R" "$shared" "$only" "$logs" || rc=$?
if ((rc == 130 || rc == 143 || rc == 129)); then
  say "interrupted"
  exit "$rc"
fi

skip_audit "$R/root/resecg" "$shared" "$logs" || rc=1

# keep the last 10 runs' logs
ls -1d "$CACHE"/logs/2*/ 2>/dev/null | head -n -10 | xargs -r rm -rf
if [[ -f $logs/times ]]; then
  while read -r cmd crc t; do
    say "$(printf './%-7s exit %d, %d min %02d s' "$cmd.sh" "$crc" $((t / 60)) $((t % 60)))"
  done <"$logs/times"
fi
if ((rc == 0)); then
  say "PASS: the two commands work on a fresh Debian $SUITE root (commit ${rev:0:10})"
else
  say "FAIL: see above and $logs"
fi
exit "$rc"
