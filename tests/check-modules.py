#!/usr/bin/env python3
"""The module graph of refguard's sources, from their object files.

Usage: check-modules.py OBJ...

A module is a source file; A depends on B when A's object file uses a
symbol B's defines (nm). Prints every circle (strongly connected group of
more than one module) and fails unless each lies inside one package, whose
files are one module split for size: rules.c with rules_*.c, ident.c with
ident_*.c, store.c with store_*.c (sharing store_int.h), cluster.c with
cluster_*.c (sharing cluster_int.h), and the program refguardctl.c with its
commands in ctl_*.c (its command table names their handlers; they use its
helpers).
"""

import os
import subprocess
import sys

PACKAGES = ("rules", "ident", "store", "cluster", "ctl")


def symbols(obj):
    out = subprocess.run(["nm", "--defined-only", "-g", obj],
                         capture_output=True, text=True, check=True).stdout
    defined = {l.split()[-1] for l in out.splitlines() if l.strip()}
    out = subprocess.run(["nm", "-u", obj], capture_output=True, text=True,
                         check=True).stdout
    used = {l.split()[-1] for l in out.splitlines() if l.strip()}
    return defined, used


def module(obj):
    return os.path.basename(obj)[:-2]


def package(mod):
    if mod == "refguardctl":
        return "ctl"
    for p in PACKAGES:
        if mod == p or mod.startswith(p + "_"):
            return p
    return None


def circles(graph):
    """Tarjan's strongly connected components of size > 1."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main(objs):
    if not objs:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    defs, uses = {}, {}
    for o in objs:
        d, u = symbols(o)
        uses[module(o)] = u
        for s in d:
            defs[s] = module(o)
    graph = {m: {defs[s] for s in u if s in defs and defs[s] != m}
             for m, u in uses.items()}
    bad = 0
    for comp in circles(graph):
        pkgs = {package(m) for m in comp}
        ok = len(pkgs) == 1 and None not in pkgs
        print("%s circle: %s" % ("package" if ok else "FAIL",
                                 " <-> ".join(comp)))
        if not ok:
            for m in comp:
                print("  %s uses %s" % (m, ", ".join(
                    sorted(graph[m] & set(comp)))))
            bad += 1
    print("%d modules, %d circles across modules" % (len(graph), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
