#!/usr/bin/env python3
"""contrib/asn2mmdb.pl, the ASN database builder of contrib/fetch-data.sh:
from the small CSV fixtures (tests/fixtures/asn-ipv*.csv, in the
@ip-location-db/asn layout) it writes a database that refguardd reads as
an ASN database (geo.asn and geo.as_org in explain, the database in
stats); a truncated, short or wrong input is refused with a message
naming the problem, and the database already in place is left as it
was (same inode, same bytes) with no temporary file beside it."""

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rgtest  # noqa: E402
from rgtest import check, check_req, eq  # noqa: E402

T = rgtest.Suite("test_geo_asn")
BUILDER = os.path.join(rgtest.SRCDIR, "contrib", "asn2mmdb.pl")
CSV4 = os.path.join(rgtest.FIXTURES, "asn-ipv4.csv")
CSV6 = os.path.join(rgtest.FIXTURES, "asn-ipv6.csv")
EPOCH = 1781722800      # 2026-06-17T19:00:00Z, the fixture's "data date"


def have_writer():
    return subprocess.run(["perl", "-MMaxMind::DB::Writer::Tree", "-e1"],
                          stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def build(out, *inputs, extra=()):
    """Run the builder: (exit status, stderr)."""
    if not have_writer():
        raise rgtest.Skip("perl MaxMind::DB::Writer::Tree missing (Debian: "
                          "libmaxmind-db-writer-perl)")
    rc, _, err = rgtest.run(["perl", BUILDER] + list(extra) + [out] +
                            list(inputs), timeout=120)
    return rc, err


def built(tmp):
    out = os.path.join(tmp, "asn.mmdb")
    rc, err = build(out, CSV4, CSV6, extra=["-m", "2", "-e", str(EPOCH),
                                            "-c", "5.61.0.1=64496",
                                            "-c", "2a0e:1000::1=64504"])
    eq(rc, 0, "asn2mmdb.pl exit status (stderr: %s)" % err)
    eq(err, "", "asn2mmdb.pl stderr on success")
    return out


def geo(party):
    return {k: v for k, v in party.items() if k.startswith("geo.")}


@T.case("the built database gives geo.asn and geo.as_org through "
        "refguardd", timeout=300)
def _():
    tmp = rgtest.mkdtemp("asn")
    db = built(tmp)
    eq(sorted(f for f in os.listdir(tmp)), ["asn.mmdb"], "files written")
    d = rgtest.Daemon("asn", conf={"geoip_db": db}).start()
    cases = [
        # (referrer ip, referee ip, referrer geo, referee geo)
        ("5.61.5.20", "5.61.1.7",
         {"geo.asn": 64498, "geo.as_org": "Müller Netz GmbH"},
         {"geo.asn": 64497, "geo.as_org": 'Example "Quoted", Inc.'}),
        # a range that is not a CIDR; an empty organisation
        ("5.61.5.17", "5.61.8.9",
         {"geo.asn": 64498, "geo.as_org": "Müller Netz GmbH"},
         {"geo.asn": 64499}),
        # overlapping rows: the later one wins where they overlap
        ("214.95.0.1", "215.0.0.1",
         {"geo.asn": 64501, "geo.as_org": "Overlapped Wide"},
         {"geo.asn": 64502, "geo.as_org": "Overlapping Narrow"}),
        # IPv6; IPv4-mapped IPv6 folds to IPv4
        ("2a0e:1000::5", "::ffff:5.61.0.9",
         {"geo.asn": 64504, "geo.as_org": "Example Six"},
         {"geo.asn": 64496, "geo.as_org": "Example Hosting Ltd"}),
        # not in the data; a private address is never looked up
        ("5.62.0.1", "10.1.0.1", {}, {}),
    ]
    for i, (a, b, ga, gb) in enumerate(cases):
        rid = "asn-%d" % i
        v, raw = d.call(check_req(rid, {"account": "a-%d" % i, "ip": a},
                                  {"account": "b-%d" % i, "ip": b}))
        check("error" not in v, "check", raw)
        e, raw = d.call({"op": "explain", "id": rid})
        check("error" not in e, "explain", raw)
        eq(geo(e["event"]["referrer"]), ga, "referrer geo of %s" % a)
        eq(geo(e["event"]["referee"]), gb, "referee geo of %s" % b)
    st = d.stats()["data"]["geoip"]
    eq(len(st), 1, "databases in stats")
    eq(st[0]["database_type"], "ip-location-db-ASN", "database_type")
    eq(st[0]["facts"], ["asn"], "facts the database is used for")
    eq(st[0]["build_epoch"], EPOCH, "build_epoch (-e)")
    d.stop()


def refused(extra, inputs, want, tmp, db):
    before = open(db, "rb").read()
    ino = os.stat(db).st_ino
    rc, err = build(db, *inputs, extra=extra)
    eq(rc, 1, "exit status for %s (stderr: %s)" % (want, err))
    check(want in err and err.startswith("asn2mmdb.pl: "),
          "message should say %r" % want, err)
    eq(os.stat(db).st_ino, ino, "inode of the database in place")
    check(open(db, "rb").read() == before,
          "the database in place was changed")
    eq(sorted(os.listdir(tmp)), ["asn.mmdb", "in"], "files left")


# Ten builder runs: perl and its Moose-based writer start slowly on a
# busy machine.
@T.case("truncated, short, malformed or wrong input is refused; the old "
        "database stays", timeout=600)
def _():
    tmp = rgtest.mkdtemp("asnbad")
    db = built(tmp)
    src = os.path.join(tmp, "in")
    os.mkdir(src)
    text = open(CSV4, "rb").read()

    def write(name, data):
        p = os.path.join(src, name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    # cut in the middle of the last line, and at the end of a line but
    # without the newline
    cut = write("cut.csv", text[:text.rindex(b"\n", 0, len(text) - 1) + 9])
    refused(["-m", "2"], [cut], "the file is truncated", tmp, db)
    nonl = write("nonl.csv", text[:-1])
    refused(["-m", "2"], [nonl], "does not end with a newline", tmp, db)
    # too few rows: a download cut at a line boundary
    refused(["-m", "100"], [CSV4, CSV6], "fewer than 100", tmp, db)
    empty = write("empty.csv", b"")
    refused([], [empty], "0 rows", tmp, db)
    bad = write("bad.csv", b"5.61.0.0,5.61.0.255,64496,Example\n"
                b"5.61.1.0,not-an-address,64497,X\n")
    refused([], [bad], "bad.csv:2: not-an-address is not an IPv4 or IPv6 "
            "address", tmp, db)
    rev = write("rev.csv", b"5.61.1.0,5.61.0.255,64497,X\n")
    refused([], [rev], "rev.csv:1: range ends before it starts", tmp, db)
    asn0 = write("asn0.csv", b"5.61.1.0,5.61.1.255,0,X\n")
    refused([], [asn0], "AS number 0 out of range", tmp, db)
    latin = write("latin.csv", b"5.61.1.0,5.61.1.255,64497,M\xfcller\n")
    refused([], [latin], "organisation is not valid UTF-8", tmp, db)
    # the known-address check (fetch-data.sh passes real ones)
    refused(["-c", "5.61.0.1=64497"], [CSV4, CSV6],
            "5.61.0.1: the database written says AS64496, expected "
            "AS64497", tmp, db)
    refused(["-c", "5.62.0.1=64497"], [CSV4], "says ASnone", tmp, db)
    shutil.rmtree(src)


if __name__ == "__main__":
    sys.exit(T.main())
