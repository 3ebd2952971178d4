#!/usr/bin/env python3
"""The structure figures issue 19 asks to measure before and after, as one
command anyone can re-run from the repository root:

    scripts/structure.py [--top N] [--root DIR]
    scripts/structure.py --cycles [--root DIR]   (exit 1 on an include cycle)

- the largest C files (lines);
- the longest functions (lines from the opening to the closing brace, for
  definitions written as this code base writes them: the signature, then
  "{" alone on its line, then "}" alone at the end);
- include cycles between modules (x.c and x.h are one module; A -> B when a
  file of A includes "B.h"), each cycle printed once.

Tests (tests/) are counted apart: they may be long, cycles may not.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # --root changes it
DIRS = ["core", "runner", "reports", "cli", "bench", "tests"]


def c_files():
    for d in DIRS:
        for base, _, names in os.walk(os.path.join(ROOT, d)):
            for n in sorted(names):
                if n.endswith((".c", ".h", ".cu")):
                    yield os.path.relpath(os.path.join(base, n), ROOT)


def functions(path):
    """(name, first line, length) of each top-level function definition."""
    lines = open(os.path.join(ROOT, path), errors="replace").read().split("\n")
    out, start, name = [], None, None
    for i, line in enumerate(lines):
        if start is None and line == "{" and i > 0:
            # the signature ends on the previous line; its name is the last
            # identifier before the first "(" of the signature's first line
            j = i - 1
            while j > 0 and not re.match(r"^[A-Za-z_]", lines[j]):
                j -= 1
            m = re.search(r"([A-Za-z_][A-Za-z_0-9]*)\s*\(", lines[j])
            if m and "=" not in lines[j].split("(")[0]:
                start, name = i, m.group(1)
        elif start is not None and line == "}":
            out.append((name, start + 1, i - start + 1))
            start = None
    return out


def module(path):
    return os.path.splitext(path)[0]


def include_graph(files):
    by_base = {}
    for f in files:
        if f.endswith(".h"):
            by_base.setdefault(os.path.basename(f), []).append(f)
    graph = {}
    for f in files:
        if f.startswith("tests/"):
            continue
        text = open(os.path.join(ROOT, f), errors="replace").read()
        for inc in re.findall(r'^#include "([^"]+)"', text, re.M):
            cands = by_base.get(os.path.basename(inc), [])
            # the header beside the includer first, then any of that name
            here = os.path.normpath(os.path.join(os.path.dirname(f), inc))
            target = here if here in cands else (cands[0] if cands else None)
            if target and module(target) != module(f) and not target.startswith("tests/"):
                graph.setdefault(module(f), set()).add(module(target))
    return graph


def cycles(graph):
    """Elementary cycles, each once (Johnson would do; the graph is small)."""
    found, seen = [], set()

    def walk(start, node, path, on_path):
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                cyc = path[:]
                key = frozenset(cyc)
                if key not in seen:
                    seen.add(key)
                    found.append(cyc)
            elif nxt not in on_path and nxt > start and len(path) < 6:
                on_path.add(nxt)
                walk(start, nxt, path + [nxt], on_path)
                on_path.discard(nxt)

    for s in sorted(graph):
        walk(s, s, [s], {s})
    return found


def main():
    global ROOT
    top, only_cycles = 12, False
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a == "--top" and args:
            top = int(args.pop(0))
        elif a == "--root" and args:
            ROOT = os.path.abspath(args.pop(0))
        elif a == "--cycles":
            only_cycles = True
        else:
            sys.exit(f"usage: {sys.argv[0]} [--top N] [--root DIR] [--cycles]")
    if only_cycles:
        cyc = cycles(include_graph(list(c_files())))
        for c in cyc:
            print("include cycle: " + " -> ".join(c + [c[0]]))
        print(f"include cycles between modules: {len(cyc)}")
        return 1 if cyc else 0
    files = list(c_files())
    sizes = []
    funcs = []
    for f in files:
        n = open(os.path.join(ROOT, f), errors="replace").read().count("\n")
        sizes.append((n, f))
        if f.endswith((".c", ".cu")):
            for name, line, length in functions(f):
                funcs.append((length, f"{f}:{line}", name))
    prod = lambda p: not p.startswith("tests/")
    print(f"largest files (lines), not counting tests/:")
    for n, f in sorted((s for s in sizes if prod(s[1])), reverse=True)[:top]:
        print(f"  {n:6d}  {f}")
    long_prod = sorted((x for x in funcs if prod(x[1])), reverse=True)
    print(f"longest functions, not counting tests/ "
          f"({sum(1 for x in long_prod if x[0] > 100)} over 100 lines, "
          f"{sum(1 for x in long_prod if x[0] > 120)} over 120):")
    for length, where, name in long_prod[:top]:
        print(f"  {length:6d}  {name}  ({where})")
    cyc = cycles(include_graph(files))
    print(f"include cycles between modules: {len(cyc)}")
    for c in cyc:
        print("  " + " -> ".join(c + [c[0]]))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `| head`
        sys.exit(0)
