#!/usr/bin/env python3
"""Which data refguardd serves with, and how old it is: the ready and
reload log lines, stats.data, `refguardctl stats` and /metrics show every
data set (the GeoIP databases, the disposable list, the rule set's list
files) with its size, its build date (a database's metadata) or
modification time (a list file) and its age; the data updater's last
success (its stamp file); data_max_age marks older sets stale, in stats,
/metrics and a log warning. /metrics also has the build, the process_*
figures and every rule's hit counters from start-up."""

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
# The list files the shipped rules declare, by list name.
SHIPPED_LISTS = {"hosting_asn": "hosting-asn.list",
                 "hosting_org": "hosting-org.list",
                 "free_mail": "free-mail.list"}


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
    for f in SHIPPED_LISTS.values():
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
    eq(sorted(lists), sorted(SHIPPED_LISTS), "list files")
    for name, f in SHIPPED_LISTS.items():
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
    for want in ('refguard_data_built_timestamp_seconds{set="asn",'
                 'kind="geoip",name="asn",path="%s"} %d' % (db, EPOCH),
                 'refguard_data_bytes{set="disposable",kind="disposable",'
                 'name="disposable",path="%s"} %d' % (disp,
                                                      os.path.getsize(disp)),
                 'refguard_data_entries{set="list:hosting_asn",kind="list",'
                 'name="hosting_asn",path="%s"} %d' % (
                     os.path.join(rules, "hosting-asn.list"),
                     lists["hosting_asn"]["entries"])):
        check(want in text, "/metrics lacks %s" % want, text)
    m = re.search(r'refguard_data_age_seconds\{set="disposable",[^}]*\} '
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


STALE_RULE = """rule data.stale_review {
    desc   "the data is older than data_max_age"
    when   data.stale
    action review
    score  1
}
"""


def stale_reasons(d):
    r, raw = d.call(rgtest.check_req(
        "stale-%d" % time.monotonic_ns(), {"account": "st-a"},
        {"account": "st-%d" % time.monotonic_ns()}))
    check("reasons" in r, "check", raw)
    return [h["rule"] for h in r["reasons"]]


def metrics(d):
    rc, text, err = rgtest.run(["curl", "-sS", "--unix-socket",
                                os.path.join(d.dir, "http.sock"),
                                "http://localhost/metrics"])
    eq(rc, 0, "curl /metrics (%s)" % err)
    return text


def wait_log(d, pattern, what):
    """The daemon's log once it holds pattern (it logs before replying)."""
    text = d.stderr()
    check(re.search(pattern, text), what, text)
    return text


@T.case("data_max_age: stale sets and the updater's stamp in stats, "
        "/metrics and the log")
def _():
    d, db, disp, rules, now = setup()
    with open(os.path.join(rules, "zz-stale.rules"), "w") as f:
        f.write(STALE_RULE)
    stamp = os.path.join(d.dir, "last-success")
    d.conf["data_max_age"] = "5d"
    d.conf["data_stamp_file"] = "last-success"     # beside the config
    d.write_conf()
    d.start()
    st = d.stats()["data"]
    eq(st["geoip"][0]["stale"], True, "database built 2026-06-17 stale")
    eq(st["disposable"]["stale"], False, "list 3 days old stale")
    eq([x["stale"] for x in st["lists"]], [True] * len(SHIPPED_LISTS),
       "list files 10 days old stale")
    stale = "asn, " + ", ".join("list " + x["name"] for x in st["lists"])
    eq(st["updater"], {"stamp_file": stamp, "last_success": None,
                       "stale": False}, "updater without a stamp")
    wait_log(d, r'(?m)data older than data_max_age=432000s stale="?%s"?$'
             % re.escape(stale), "no stale data warning")
    text = metrics(d)
    for want in ('refguard_data_stale{set="asn",kind="geoip",name="asn",'
                 'path="%s"} 1' % db,
                 'refguard_data_stale{set="disposable",kind="disposable",'
                 'name="disposable",path="%s"} 0' % disp):
        check(want in text, "/metrics lacks %s" % want, text)
    check("refguard_data_updater_last_success_timestamp_seconds" not in
          text, "an updater success without a stamp", text)

    # The updater succeeds: its stamp; a reload sees it. An old stamp is
    # stale (the updater has been failing), a recent one is not.
    with open(stamp, "w") as f:
        f.write("%d\n" % now)
    os.utime(stamp, (now - 6 * DAY, now - 6 * DAY))
    r, raw = d.call({"op": "reload"})
    check(r.get("ok") is True, "reload", raw)
    eq(d.stats()["data"]["updater"]["stale"], True, "a 6-day-old stamp")
    wait_log(d, r'(?m)stale="?%s, updater"?$' % re.escape(stale),
             "the updater not in the stale warning")
    os.utime(stamp, (now - 60, now - 60))
    r, raw = d.call({"op": "reload"})
    check(r.get("ok") is True, "reload", raw)
    u = d.stats()["data"]["updater"]
    eq((u["last_success"], u["last_success_epoch"], u["stale"]),
       (iso(now - 60), now - 60, False), "updater after a success")
    check(u["age_s"] >= 60, "updater age_s", u)
    check("refguard_data_updater_last_success_timestamp_seconds %d" %
          (now - 60) in metrics(d), "/metrics: the updater's success",
          metrics(d))
    # Rules see it: data.stale while any set is stale.
    check("data.stale_review" in stale_reasons(d), "data.stale false with "
          "stale data", d.stats()["data"])
    d.conf["data_max_age"] = "3650d"
    d.write_conf()
    r, raw = d.call({"op": "reload"})
    check(r.get("ok") is True, "reload", raw)
    check("data.stale_review" not in stale_reasons(d),
          "data.stale true with fresh data", d.stats()["data"])
    check(re.search(r"data fresh again", d.stderr()), "no notice that the "
          "data is fresh again", d.stderr())
    d.stop()


@T.case("/metrics: build_info, process_*, every rule's series from "
        "start-up; promtool accepts it")
def _():
    d, db, disp, rules, now = setup()
    d.start()
    text = metrics(d)
    check(re.search(r'(?m)^refguard_build_info\{version="[^"]+"'
                    r'[^}]*\} 1$', text), "no refguard_build_info", text)
    for m in ("process_cpu_seconds_total", "process_resident_memory_bytes",
              "process_open_fds", "process_max_fds",
              "process_start_time_seconds"):
        got = re.search(r'(?m)^%s ([0-9.e+]+)$' % m, text)
        check(got, "no %s" % m, text)
        check(float(got.group(1)) > 0 or m == "process_cpu_seconds_total",
              "%s is 0" % m, text)
    start = float(re.search(r'(?m)^process_start_time_seconds (\S+)$',
                            text).group(1))
    check(abs(start - time.time()) < 3600, "process_start_time_seconds "
          "is not the start time", start)
    # Before any check, each shipped rule has both series at zero.
    names = set(re.findall(r'(?m)^rule ([A-Za-z0-9_.]+) \{',
                           "".join(open(os.path.join(rules, f)).read()
                                   for f in os.listdir(rules)
                                   if f.endswith(".rules"))))
    check(len(names) > 10, "rule names from the shipped files", names)
    for n in sorted(names):
        for mode in ("enforce", "shadow"):
            want = 'refguard_rule_hits_total{rule="%s",mode="%s"} 0' % (
                n, mode)
            check(want in text, "/metrics lacks %s" % want, text)
    # Timestamps end in _timestamp_seconds.
    for ln in text.splitlines():
        if ln.startswith("# TYPE ") and ("epoch" in ln or
                                          "built_seconds" in ln):
            raise rgtest.Fail("a timestamp not named *_timestamp_seconds: "
                              + ln)
    # The bytes used (a few pages here), not the map (1 GiB by default):
    # compared within one exposition, as commits may move them between two.
    used = int(re.search(r'(?m)^refguard_store_size_bytes (\d+)$',
                         text).group(1))
    mapped = int(re.search(r'(?m)^refguard_store_map_size_bytes (\d+)$',
                           text).group(1))
    check(0 < used < mapped, "refguard_store_size_bytes %d is not the "
          "bytes used (map %d)" % (used, mapped), text)
    promtool = shutil.which("promtool")
    if promtool is not None:
        p = subprocess.run([promtool, "check", "metrics"],
                           input=text.encode(), capture_output=True,
                           timeout=60)
        eq(p.returncode, 0, "promtool check metrics: %s" %
           (p.stdout + p.stderr).decode())
    d.stop()


@T.case("optional data (-PATH): absent at start, read by the reload "
        "after it arrives")
def _():
    tmp = rgtest.mkdtemp("optdata")
    db = build_asn(tmp)
    d = rgtest.Daemon("optdata", rules="empty", conf={
        "geoip_db": "-data/asn.mmdb", "disposable_file": "-data/disp.txt"})
    d.start()
    st = d.stats()["data"]
    eq((st["geoip"], st["disposable"]), ([], None), "before the data")
    os.makedirs(os.path.join(d.dir, "data"))
    shutil.copy(db, os.path.join(d.dir, "data", "asn.mmdb"))
    with open(os.path.join(d.dir, "data", "disp.txt"), "w") as f:
        f.write("mailinator.com\n")
    r, raw = d.call({"op": "reload"})
    check(r.get("ok") is True, "reload", raw)
    st = d.stats()["data"]
    eq([g["path"] for g in st["geoip"]],
       [os.path.join(d.dir, "data", "asn.mmdb")], "databases after reload")
    eq(st["disposable"]["entries"], 1, "disposable list after reload")
    d.stop()


@T.case("no data: data=none, or only the system's time zones")
def _():
    d = rgtest.Daemon("nodata", rules="empty").start()
    st = d.stats()["data"]
    eq((st["geoip"], st["disposable"], st["lists"]), ([], None, []),
       "stats.data")
    if os.path.exists("/usr/share/zoneinfo/zone.tab"):
        check(re.search(r'data="time_zones zone\.tab \(\d+ entries, [^)]+\)"',
                        ready_line(d.stderr())), "ready line", d.stderr())
        eq(st["time_zones"]["path"], "/usr/share/zoneinfo/zone.tab",
           "stats.data.time_zones")
        check(st["time_zones"]["entries"] > 300, "zones", st["time_zones"])
        check("stale" not in st["time_zones"], "time zones are undated",
              st["time_zones"])
    else:
        check("data=none" in ready_line(d.stderr()), "ready line",
              d.stderr())
        eq(st["time_zones"], None, "stats.data.time_zones")
    d.stop()


def zoneinfo(path, tab):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "zone.tab"), "w") as f:
        f.write(tab)
    # zone1970.tab says Asia/Kolkata serves one country: its alias follows.
    with open(os.path.join(path, "zone1970.tab"), "w") as f:
        f.write("IN\t+2232+08822\tAsia/Kolkata\n")
    with open(os.path.join(path, "tzdata.zi"), "w") as f:
        f.write("L Asia/Kolkata Asia/Calcutta\n")


@T.case("phone.country and device.model in explain and the graph, kept "
        "in the record across a restart; none for +1, a national number or "
        "a browser")
def _():
    d = rgtest.Daemon("phonecc", rules="empty")
    d.start()
    ua = {"pc1": ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36",
                  "Dalvik/2.1.0 (Linux; U; Android 11; SM-M135FU "
                  "Build/BP1A.250305.019)"),
          "pc2": ("Dalvik/2.1.0 (Linux; U; Android 11)", "MyApp/1.0")}
    for rid, a, b in (("pc1", "+44 7700 900123", "+234 803 225 1151"),
                      ("pc2", "+1 (305) 968-4595", "0803 225 1151")):
        v, raw = d.call({"op": "check", "id": rid,
                         "referrer": {"account": "r-" + rid, "phone": a,
                                      "device": {"ua": ua[rid][0]}},
                         "referee": {"account": "e-" + rid, "phone": b,
                                     "device": {"ua": ua[rid][1]}}})
        check("error" not in v, "check", raw)

    def facts():
        out = []
        for rid in ("pc1", "pc2"):
            e, eraw = d.call({"op": "explain", "id": rid})
            check("error" not in e, "explain", eraw)
            out.append(tuple(e["event"][p].get(f)
                             for f in ("phone.country", "device.model")
                             for p in ("referrer", "referee")))
        g, graw = d.call({"op": "graph", "id": "pc1"})
        check("error" not in g, "graph", graw)
        out.append(sorted((i["kind"], i["parties"][0],
                           i["facts"].get("country"), i["facts"].get("model"))
                          for i in g["identities"]
                          if i["kind"] in ("phone", "phone.block", "device")))
        return out

    want = [("GB", "NG", None, "sm-m135fu"), (None, None, None, None),
            [("device", "referee", None, "sm-m135fu"),
             ("device", "referrer", None, None),
             ("phone", "referee", "NG", None),
             ("phone", "referrer", "GB", None),
             ("phone.block", "referee", "NG", None),
             ("phone.block", "referrer", "GB", None)]]
    eq(facts(), want, "the calling codes' countries, none for +1 or a "
       "number without its +; the app's model, none for a browser")
    d.stop()
    d.start()
    eq(facts(), want, "the same from the stored record")
    d.stop()


@T.case("zoneinfo_dir: device.tz_country in explain and the record; a bad "
        "one stops the start, and a reload keeps the old with the reason")
def _():
    tmp = rgtest.mkdtemp("zones")
    zi = os.path.join(tmp, "zi")
    zoneinfo(zi, "DE\t+5230+01322\tEurope/Berlin\n"
             "IN\t+2232+08822\tAsia/Kolkata\n")
    d = rgtest.Daemon("zones", rules="empty", conf={"zoneinfo_dir": zi})
    d.start()
    st = d.stats()["data"]
    eq((st["time_zones"]["path"], st["time_zones"]["entries"]),
       (os.path.join(zi, "zone.tab"), 3), "stats.data.time_zones")
    check("time_zones zone.tab (3 entries" in ready_line(d.stderr()),
          "ready line", d.stderr())

    def explain(rid, tz_referrer, tz_referee):
        req = {"op": "check", "id": rid,
               "referrer": {"account": "r-" + rid, "device":
                            {"ua": "Mozilla/5.0 A", "tz": tz_referrer}},
               "referee": {"account": "e-" + rid, "device":
                           {"ua": "Mozilla/5.0 B", "tz": tz_referee}}}
        v, raw = d.call(req)
        check("error" not in v, "check", raw)
        e, eraw = d.call({"op": "explain", "id": rid})
        check("error" not in e, "explain", eraw)
        return e["event"]

    ev = explain("z1", "Asia/Calcutta", "europe/berlin")
    eq((ev["referrer"].get("device.tz_country"),
        ev["referee"].get("device.tz_country")), ("IN", "DE"),
       "device.tz_country of an alias and of a zone in another case")
    ev = explain("z2", "UTC", "Mars/Base")
    eq((ev["referrer"].get("device.tz_country"),
        ev["referee"].get("device.tz_country")), (None, None),
       "no country for UTC or an unknown zone")

    # A broken zone.tab: the reload says so and keeps serving the old.
    zoneinfo(zi, "DE Europe/Berlin\n")
    r, raw = d.call({"op": "reload"})
    check(b"zone.tab:1: not a zone table line" in raw, "reload names it", raw)
    ev = explain("z3", "Asia/Calcutta", "Europe/Berlin")
    eq(ev["referee"].get("device.tz_country"), "DE", "the old data kept")
    d.stop()

    # At start the same file stops the daemon, naming it.
    d2 = rgtest.Daemon("zones2", rules="empty", conf={"zoneinfo_dir": zi})
    rc, err = d2.run_to_exit()
    check(rc != 0 and "zone.tab:1: not a zone table line" in err,
          "start refused with the reason", rc, err)


if __name__ == "__main__":
    sys.exit(T.main())
