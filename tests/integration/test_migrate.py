#!/usr/bin/env python3
"""A store written by refguard of store schema 3 or 4 (tests/fixtures/
schema3 and schema4: kept by schema3/make-fixture.py, run with that
refguard) opens with today's: its identity index and account links are
converted in place at start-up, and every referral's verdict, explain
and recheck as of a fixed time (which reads the converted history) are
the very lines the old refguard answered; a new check then stores its
explain in the new form and explains it. A read-only tool refuses the
old layout until then; an export of the converted store imports into a
new one that explains every referral the same."""

import json
import lzma
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rgtest  # noqa: E402
from rgtest import check, eq  # noqa: E402

T = rgtest.Suite("test_migrate")
# Both were made with schema3's rules (make-fixture.py).
RULES = os.path.join(rgtest.FIXTURES, "schema3", "rules")


def fixture_daemon(schema):
    fix = os.path.join(rgtest.FIXTURES, "schema%d" % schema)
    with lzma.open(os.path.join(fix, "expected.json.xz"), "rt") as f:
        want = json.load(f)
    d = rgtest.Daemon("migrate", rules=RULES, conf={
        "disposable_file": os.path.join(rgtest.FIXTURES, "disposable.txt"),
        "retention": "0"})
    os.makedirs(d.state, mode=0o700)
    with lzma.open(os.path.join(fix, "data.mdb.xz"), "rb") as z, \
            open(os.path.join(d.state, "data.mdb"), "wb") as f:
        f.write(z.read())
    with open(os.path.join(d.state, "secret"), "wb") as f:
        f.write(bytes.fromhex(want["secret"]))
    os.chmod(os.path.join(d.state, "secret"), 0o600)
    return d, want


def refuses_old_layout(schema):
    d, _ = fixture_daemon(schema)
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "-c", d.conf_path,
                               "export", "-o", os.path.join(d.dir, "x")])
    check(rc != 0, "export of a schema %d store fails" % schema, rc, out)
    check("older layout" in err and "start refguardd" in err,
          "it says why and what to do", err)


@T.case("a read-only open refuses schema 3's layout, saying how to convert")
def _():
    refuses_old_layout(3)


@T.case("a read-only open refuses schema 4's layout, saying how to convert")
def _():
    refuses_old_layout(4)


def converts(schema):
    d, want = fixture_daemon(schema)
    d.start()
    log = d.stderr()
    check("identity index converted from schema %d" % schema in log and
          "account links converted from schema %d" % schema in log,
          "start-up converts", log)
    answers = want["answers"]
    check(len(answers) > 100, "the fixture has its referrals", len(answers))
    with d.client(timeout=60) as c:
        for rid, w in sorted(answers.items()):
            eq(c.call({"op": "verdict", "id": rid})[1].decode(),
               w["verdict"], "verdict %s" % rid)
            eq(c.call({"op": "explain", "id": rid})[1].decode(),
               w["explain"], "explain %s" % rid)
        for rid, w in sorted(answers.items()):
            eq(c.call({"op": "recheck", "id": rid,
                       "ts": want["recheck_ts"]})[1].decode(),
               w["recheck"], "recheck %s" % rid)
        # A new check: its explain in the new form, read back.
        r, _ = c.call(rgtest.check_req(
            "mig-new", {"account": "u3"}, {"account": "mig-b"},
            ts=want["recheck_ts"] - 10 * 86400000))
        check("action" in r, "a new check", r)
        e, _ = c.call({"op": "explain", "id": "mig-new"})
        check(isinstance(e.get("rules"), list) and len(e["rules"]) > 5,
              "its explain", e)
    st = d.stats()
    check(st["store"]["index_entries"] > 1000, "the index is there", st)
    d.stop()
    # Opened again: nothing left to convert; a read-only tool now works.
    d.start()
    check("converted" not in d.stderr(), "converted once", d.stderr())
    d.stop()
    dump = os.path.join(d.dir, "x")
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "-c", d.conf_path,
                               "export", "-o", dump])
    eq(rc, 0, "export after conversion: %s" % err)
    # The other way to a new store: export, import (explains packed as a
    # check packs them); the same verdicts and explains.
    d2 = rgtest.Daemon("migrate-imp", rules=d.rules, conf=d.conf)
    os.makedirs(d2.state, mode=0o700)
    with open(os.path.join(d2.state, "secret"), "wb") as f:
        f.write(bytes.fromhex(want["secret"]))
    os.chmod(os.path.join(d2.state, "secret"), 0o600)
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "import", "--state",
                               d2.state, dump], timeout=120)
    eq(rc, 0, "import: %s" % err)
    d2.start()
    with d2.client(timeout=60) as c:
        for rid, w in sorted(want["answers"].items()):
            eq(c.call({"op": "explain", "id": rid})[1].decode(),
               w["explain"], "explain %s after import" % rid)
    d2.stop()


@T.case("conversion from schema 3 at start: every verdict, explain and "
        "recheck the same", timeout=120)
def _():
    converts(3)


@T.case("conversion from schema 4 at start: every verdict, explain and "
        "recheck the same", timeout=120)
def _():
    converts(4)


if __name__ == "__main__":
    sys.exit(T.main())
