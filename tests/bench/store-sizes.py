#!/usr/bin/env python3
"""Where a refguard store's bytes go, per stored event.

    tests/bench/store-sizes.py STATE_DIR [--no-payload]

Reads the LMDB environment in STATE_DIR (data.mdb) with lmdb-utils'
mdb_stat (pages per named database) and mdb_dump (key and value bytes,
unless --no-payload), and prints for each database: entries, branch,
leaf and overflow pages, its bytes on disk and per stored event, the
average key and value, and how full its leaf pages are (not shown for a database
of sorted duplicates, whose keys are stored once, nor one with values
on overflow pages). "free" is the
pages LMDB keeps for reuse, "unused" the file past the last page used.
"dup subtrees" is the pages of the sorted duplicates' sub-databases
(an identity with more entries than a sub-page holds has a B-tree of its
own), which mdb_stat counts in no database: with sorted duplicates, a
database's own row leaves them out. Safe beside a running daemon (a read
transaction); prints figures, it is not a test.
"""
import argparse
import re
import subprocess
import sys


def mdb_stat(state):
    out = subprocess.run(["mdb_stat", "-a", "-e", "-f", state], check=True,
                         capture_output=True, text=True).stdout
    env, dbs, cur, free = {}, {}, None, 0
    for line in out.splitlines():
        m = re.match(r"Status of (.*)$", line)
        if m:
            cur = m.group(1)
            dbs[cur] = {}
            continue
        m = re.match(r"\s+(.*?): (\d+)$", line)
        if not m:
            continue
        k, v = m.group(1), int(m.group(2))
        if cur is None:
            env[k] = v
            if k == "Free pages":
                free = v
        else:
            dbs[cur][k] = v
    return env, dbs, free


def payload(state, name):
    """Key and value bytes of one database, from mdb_dump's hex lines."""
    p = subprocess.Popen(["mdb_dump", "-s", name, state],
                         stdout=subprocess.PIPE, text=True, bufsize=1 << 20)
    kb = vb = 0
    body, iskey, dups = False, True, False
    for line in p.stdout:
        if not body:
            body = line.startswith("HEADER=END")
            dups = dups or line.startswith("duplicates=1")
            continue
        if line.startswith("DATA=END"):
            break
        n = (len(line) - 2) // 2    # " hex\n"
        if iskey:
            kb += n
        else:
            vb += n
        iskey = not iskey
    p.wait()
    return kb, vb, dups


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("state", help="the state directory (holds data.mdb)")
    ap.add_argument("--no-payload", action="store_true",
                    help="pages only: skip reading every key and value")
    a = ap.parse_args()

    env, dbs, free = mdb_stat(a.state)
    psize = env["Page size"]
    used = env["Number of pages used"]
    maxp = env["Max pages"]
    events = dbs.get("events", {}).get("Entries", 0)
    per = max(events, 1)
    print("store %s: %d events, %d pages of %d bytes used (%.1f MiB), "
          "%d free" % (a.state, events, used, psize, used * psize / 2**20,
                       free))
    hdr = "%-14s %9s %7s %8s %8s %11s %9s %7s %7s %6s" % (
        "database", "entries", "branch", "leaf", "overflow", "bytes",
        "B/event", "key", "value", "fill")
    print(hdr)
    tot = 0
    rows = sorted(dbs.items(), key=lambda kv: -(
        kv[1].get("Branch pages", 0) + kv[1].get("Leaf pages", 0) +
        kv[1].get("Overflow pages", 0)))
    for name, d in rows:
        if name == "Main DB":
            continue
        pages = d["Branch pages"] + d["Leaf pages"] + d["Overflow pages"]
        tot += pages
        if d["Entries"] == 0:
            continue
        b = pages * psize
        key = val = fill = ""
        if not a.no_payload:
            kb, vb, dups = payload(a.state, name)
            n = d["Entries"]
            key = "%.1f" % (kb / n)
            val = "%.1f" % (vb / n)
            # a leaf node: 8-byte header + key + value (or a page number
            # for an overflowed value) + a 2-byte pointer; page header 16
            # sorted duplicates (identities): the key once per identity,
            # entries packed in sub-pages: the per-node formula is wrong
            if d["Leaf pages"] and not dups and not d["Overflow pages"]:
                leafb = n * 10 + kb + vb
                fill = "%.0f%%" % (100.0 * leafb / (d["Leaf pages"] *
                                                   (psize - 16)))
        print("%-14s %9d %7d %8d %8d %11d %9.1f %7s %7s %6s" % (
            name, d["Entries"], d["Branch pages"], d["Leaf pages"],
            d["Overflow pages"], b, b / per, key, val, fill))
    # What no database's counts hold: the free pages, LMDB's two meta
    # pages and the main database (the names), and the sub-databases of
    # sorted duplicates: a key whose duplicates outgrow a sub-page
    # (identities: ~150 entries) gets a B-tree of its own, whose pages
    # LMDB counts in that key's node, not in the database's figures.
    main = dbs.get("Main DB", {})
    own = 2 + sum(main.get(k, 0) for k in
                  ("Branch pages", "Leaf pages", "Overflow pages"))
    subdb = used - tot - free - own
    for name, n in (("dup subtrees", subdb), ("free", free),
                    ("LMDB's own", own)):
        print("%-14s %9s %7s %8s %8s %11d %9.1f" % (
            name, "", "", "", "", n * psize, n * psize / per))
    print("%-14s %9s %7s %8s %8s %11d %9.1f" % (
        "total used", "", "", "", "", used * psize, used * psize / per))
    del maxp
    return 0


if __name__ == "__main__":
    sys.exit(main())
