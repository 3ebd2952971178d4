#!/usr/bin/env bash
# bench/gpu_pack.sh [BUILD_DIR [PACK_DIR]] - prepares what bench/gpu_proof.sh needs on a
# GPU host that has nvcc, CMake and PyTorch (cuDNN and cuBLAS inside its
# wheels) but none of the CPU side's Debian packages: into .device/proof/
# (git-ignored), the portable Release binaries built here (resecg,
# test_cuda), the shared libraries they need beyond the C/C++ runtime
# (oneDNN, XGBoost, FFTW, libuv, libyaml, libcsv, ...; xz-compressed), the
# CinC 2017 tarball from ../shared when it exists, and the commit (PACK_DIR
# to put it elsewhere). The CUDA
# module is not packed: gpu_proof.sh builds it there, against that host's
# cuDNN and cuBLAS (cmake -S core/nn/cuda). Prints the sizes: the working tree
# and the pack travel together, 64 MiB at most.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
pack=${2:-.device/proof}
[[ -x $build/resecg && -x $build/tests/test_cuda ]] || {
  echo "gpu_pack: $build/resecg or $build/tests/test_cuda missing (build first: scripts/setup.sh $build)" >&2
  exit 1
}
grep -q 'RESECG_NATIVE:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null && {
  echo "gpu_pack: $build is a -march=native build; the GPU host's CPU may differ: use the portable default" >&2
  exit 1
}
rm -rf "$pack"
mkdir -p "$pack/bin" "$pack/lib"
cp "$build/resecg" "$build/tests/test_cuda" "$pack/bin/"
# every library the two need, except the C and C++ runtime the host has
skip='^(linux-vdso|ld-linux|libc\.|libm\.|libpthread|libdl\.|librt\.|libgcc_s|libstdc\+\+)'
for lib in $(ldd "$pack/bin/resecg" "$pack/bin/test_cuda" | awk '$2 == "=>" && $3 ~ /^\// { print $1 "|" $3 }' | sort -u); do
  name=${lib%%|*} path=${lib#*|}
  [[ $name =~ $skip ]] && continue
  xz -6 -T2 -c "$(readlink -f "$path")" >"$pack/lib/$name.xz"
done
if [[ -f ../shared/data/cinc17/training2017.tar.xz ]]; then
  mkdir -p "$pack/data"
  cp ../shared/data/cinc17/training2017.tar.xz "$pack/data/"
else
  echo "gpu_pack: ../shared/data/cinc17/training2017.tar.xz not found: the proof will skip the Table 1 sweep" >&2
fi
have_git=0
command -v git >/dev/null && git rev-parse --git-dir >/dev/null 2>&1 && have_git=1
if ((have_git)); then
  { git rev-parse HEAD; git status --porcelain --untracked-files=no | head -20; } >"$pack/COMMIT"
else
  echo "unknown (not a git checkout)" >"$pack/COMMIT"
fi
ls -l "$pack"/bin "$pack"/lib "$pack"/data 2>/dev/null | awk 'NF > 5 { printf "  %8.1f MiB  %s\n", $5 / 1048576, $NF }' || true # no data/ without ../shared
total=$(du -sb "$pack" | cut -f1)
if ((have_git)); then
  tree=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
  untracked=$(git ls-files -z --others --exclude-standard | xargs -0 -r du -cb 2>/dev/null | tail -1 | cut -f1)
else # an export (tests/fresh_root.sh): the whole tree but what .gitignore leaves
  # out (build folders, results/ from ./run.sh, the CinC data), as du patterns:
  # an anchored "/a/b/" becomes "./a/b", any other line matches a name anywhere
  excl=()
  while IFS= read -r pat; do
    [[ -z $pat || $pat == '#'* || $pat == '!'* ]] && continue
    pat=${pat%/} pat=${pat//\*\*/*}
    if [[ $pat == /* ]]; then excl+=("--exclude=.$pat"); else excl+=("--exclude=$pat"); fi
  done < <(cat .gitignore 2>/dev/null)
  tree=$(du -sb "${excl[@]}" --exclude=./.device . | cut -f1)
  untracked=0
fi
all=$((total + tree + ${untracked:-0}))
awk -v p="$pack" -v t="$total" -v tr="$tree" -v u="${untracked:-0}" -v a="$all" 'BEGIN { m = 1048576
  printf "gpu_pack: %s: %.1f MiB; with the working tree (%.1f MiB tracked, %.1f MiB untracked) %.1f MiB of the 64 MiB that travel\n", p, t / m, tr / m, u / m, a / m }'
if ((all > 64 * 1048576)); then
  echo "gpu_pack: over 64 MiB: it would not travel" >&2
  exit 1
fi
