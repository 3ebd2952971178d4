#!/usr/bin/env bash
# tests/include_cycles_check.sh SRC - no include cycle between modules (x.c
# and x.h are one module; A -> B when a file of A includes "B.h"), as
# scripts/structure.py --cycles finds them. First the checker itself on
# small trees: one with a two-module and one with a three-module cycle must
# fail naming them, one without must pass; then the source tree.
set -euo pipefail
src=$1
check=$src/scripts/structure.py
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
mk() { # mk ROOT FILE INCLUDES...: FILE under ROOT including each "INCLUDE"
  local root=$1 f=$2
  shift 2
  mkdir -p "$(dirname "$root/$f")"
  : >"$root/$f"
  for i in "$@"; do printf '#include "%s"\n' "$i" >>"$root/$f"; done
}
# a two-cycle (a.c -> b.h, b.h -> a.h) and a three-cycle in other folders
mk "$tmp/bad" core/x/a.h
mk "$tmp/bad" core/x/a.c x/a.h x/b.h
mk "$tmp/bad" core/x/b.h x/a.h
mk "$tmp/bad" runner/p.h q.h
mk "$tmp/bad" runner/q.c r.h
mk "$tmp/bad" runner/q.h
mk "$tmp/bad" runner/r.h p.h
# the same files without the back edges; tests/ may include anything
mk "$tmp/good" core/x/a.h
mk "$tmp/good" core/x/a.c x/a.h x/b.h
mk "$tmp/good" core/x/b.h
mk "$tmp/good" runner/p.h q.h
mk "$tmp/good" runner/q.h
mk "$tmp/good" runner/r.h p.h
mk "$tmp/good" tests/t.h ../core/x/a.h
mk "$tmp/good" core/x/c.h ../../tests/t.h
# expect ROOT WANT_RC OK_TEXT [PATTERN...]: the checker on ROOT exits WANT_RC
# and prints every PATTERN; FAIL with its output otherwise
expect() {
  local root=$1 want=$2 ok=$3 rc=0 out pat
  shift 3
  out=$(python3 "$check" --cycles --root "$root") || rc=$?
  local good=$((rc == want))
  for pat in "$@"; do grep -qF -- "$pat" <<<"$out" || good=0; done
  if ((good)); then
    echo "ok: $ok: exit $rc${out:+ ($(tail -1 <<<"$out"))}"
  else
    echo "FAIL: $ok: exit $rc (want $want):"
    echo "$out" | sed 's/^/    /'
    fail=1
  fi
}
expect "$tmp/bad" 1 "a tree with a two- and a three-module cycle" \
  'core/x/a -> core/x/b -> core/x/a' 'runner/p -> runner/q -> runner/r -> runner/p'
expect "$tmp/good" 0 "the same tree without the back edges"
expect "$src" 0 "the source tree"
exit $fail
