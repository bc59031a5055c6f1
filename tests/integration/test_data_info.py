#!/usr/bin/env python3
"""Which data refguardd serves with, and how old it is: the ready and
reload log lines, stats.data, `refguardctl stats` and /metrics show every
data set (the GeoIP databases, the disposable list, the rule set's list
files) with its size, its build date (a database's metadata) or
modification time (a list file) and its age."""

import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rgtest  # noqa: E402
from rgtest import check, eq  # noqa: E402

T = rgtest.Suite("test_data_info")
EPOCH = 1781722800              # 2026-06-17T19:00:00Z
DAY = 86400


def build_asn(tmp):
    if subprocess.run(["perl", "-MMaxMind::DB::Writer::Tree", "-e1"],
                      stderr=subprocess.DEVNULL).returncode != 0:
        raise rgtest.Skip("libmaxmind-db-writer-perl missing")
    out = os.path.join(tmp, "asn.mmdb")
    rc, _, err = rgtest.run(["perl", os.path.join(
        rgtest.SRCDIR, "contrib", "asn2mmdb.pl"), "-e", str(EPOCH), out,
        os.path.join(rgtest.FIXTURES, "asn-ipv4.csv")], timeout=120)
    eq(rc, 0, "asn2mmdb.pl (%s)" % err)
    return out


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def setup():
    """A daemon with the ASN database, a disposable list modified three
    days ago and the shipped rules whose list files are ten days old."""
    tmp = rgtest.mkdtemp("data")
    db = build_asn(tmp)
    now = int(time.time())
    disp = os.path.join(tmp, "disposable.txt")
    shutil.copy(os.path.join(rgtest.FIXTURES, "disposable.txt"), disp)
    os.utime(disp, (now - 3 * DAY, now - 3 * DAY))
    rules = os.path.join(tmp, "rules.d")
    shutil.copytree(rgtest.RULES_DIR, rules)
    for f in ("hosting-asn.list", "hosting-org.list"):
        os.utime(os.path.join(rules, f), (now - 10 * DAY, now - 10 * DAY))
    d = rgtest.Daemon("data", rules=rules, conf={
        "geoip_db": db, "disposable_file": disp})
    d.conf["http_listen"] = os.path.join(d.dir, "http.sock")
    d.write_conf()
    return d, db, disp, rules, now


def ready_line(text, word="ready"):
    lines = [ln for ln in text.splitlines() if (" %s " % word) in ln or
             ln.split(": ", 1)[-1].startswith(word + " ")]
    check(lines, "no %s line in the log" % word, text)
    return lines[-1]


@T.case("ready line, stats, refguardctl stats and /metrics show each data "
        "set with its size, date and age")
def _():
    d, db, disp, rules, now = setup()
    d.start()
    t0 = int(time.time())
    st = d.stats()["data"]
    t1 = int(time.time())

    # stats.data
    g = st["geoip"]
    eq(len(g), 1, "databases")
    eq(g[0]["bytes"], os.path.getsize(db), "database bytes")
    eq(g[0]["build_epoch"], EPOCH, "build_epoch")
    eq(g[0]["built"], "2026-06-17T19:00:00Z", "database built")
    check(t0 - EPOCH <= g[0]["age_s"] <= t1 - EPOCH, "database age_s",
          g[0])
    dd = st["disposable"]
    eq(dd["entries"], 6, "disposable entries")
    eq(dd["bytes"], os.path.getsize(disp), "disposable bytes")
    eq(dd["mtime"], now - 3 * DAY, "disposable mtime")
    eq(dd["built"], iso(now - 3 * DAY), "disposable built")
    check(t0 - now + 3 * DAY <= dd["age_s"] <= t1 - now + 3 * DAY,
          "disposable age_s", dd)
    lists = {x["name"]: x for x in st["lists"]}
    eq(sorted(lists), ["hosting_asn", "hosting_org"], "list files")
    for name, f in (("hosting_asn", "hosting-asn.list"),
                    ("hosting_org", "hosting-org.list")):
        p = os.path.join(rules, f)
        x = lists[name]
        eq(x["path"], p, name + " path")
        eq(x["bytes"], os.path.getsize(p), name + " bytes")
        eq(x["mtime"], now - 10 * DAY, name + " mtime")
        eq(x["entries"], sum(1 for ln in open(p) if ln.strip() and
                             not ln.lstrip().startswith("#")),
           name + " entries")

    # the ready line
    line = ready_line(d.stderr())
    for want in (r'asn asn\.mmdb \(\d+(\.\d)? KiB, built 2026-06-17, '
                 r'\d+d old\)',
                 r'disposable disposable\.txt \(6 entries, \d+ B, '
                 r'modified \d{4}-\d\d-\d\d, 3d old\)',
                 r'list hosting_asn hosting-asn\.list \(%d entries, '
                 r'[0-9.]+ KiB, modified [0-9-]+, 10d old\)'
                 % lists["hosting_asn"]["entries"]):
        check(re.search(want, line), "ready line lacks %r" % want, line)

    # refguardctl stats, for people
    rc, out, err = d.ctl("stats")
    eq(rc, 0, "refguardctl stats (%s)" % err)
    for want in (r'(?m)^  asn +- +\d+(\.\d)? KiB +2026-06-17 +\d+d +' +
                 re.escape(db) + '$',
                 r'(?m)^  disposable +6 +\d+ B +\S+ +3d +' +
                 re.escape(disp) + '$',
                 r'(?m)^  list hosting_org +%d +' %
                 lists["hosting_org"]["entries"]):
        check(re.search(want, out), "refguardctl stats lacks %r" % want,
              out)

    # /metrics
    rc, text, err = rgtest.run(["curl", "-sS", "--unix-socket",
                                os.path.join(d.dir, "http.sock"),
                                "http://localhost/metrics"])
    eq(rc, 0, "curl /metrics (%s)" % err)
    for want in ('refguard_data_built_seconds{kind="geoip",name="asn",'
                 'path="%s"} %d' % (db, EPOCH),
                 'refguard_data_bytes{kind="disposable",name="disposable",'
                 'path="%s"} %d' % (disp, os.path.getsize(disp)),
                 'refguard_data_entries{kind="list",name="hosting_asn",'
                 'path="%s"} %d' % (os.path.join(rules, "hosting-asn.list"),
                                    lists["hosting_asn"]["entries"])):
        check(want in text, "/metrics lacks %s" % want, text)
    m = re.search(r'refguard_data_age_seconds\{kind="disposable",[^}]*\} '
                  r'(\d+)', text)
    check(m and int(m.group(1)) >= 3 * DAY, "/metrics disposable age",
          text)
    d.stop()


@T.case("a reload shows the data it loaded")
def _():
    d, db, disp, rules, now = setup()
    d.start()
    new = disp + ".new"
    with open(new, "w") as f:
        f.write("a.example\nb.example\n")
    os.utime(new, (now - 2 * DAY, now - 2 * DAY))
    os.rename(new, disp)
    r, raw = d.call({"op": "reload"})
    check(r.get("ok") is True, "reload", raw)
    line = ready_line(d.stderr(), "reloaded")
    check(re.search(r'disposable disposable\.txt \(2 entries, 20 B, '
                    r'modified [0-9-]+, 2d old\)', line),
          "reloaded line lacks the new list", line)
    dd = d.stats()["data"]["disposable"]
    eq((dd["entries"], dd["mtime"]), (2, now - 2 * DAY), "stats after reload")
    d.stop()


@T.case("no data: data=none")
def _():
    d = rgtest.Daemon("nodata", rules="empty").start()
    check("data=none" in ready_line(d.stderr()), "ready line", d.stderr())
    st = d.stats()["data"]
    eq((st["geoip"], st["disposable"], st["lists"]), ([], None, []),
       "stats.data")
    d.stop()


if __name__ == "__main__":
    sys.exit(T.main())
