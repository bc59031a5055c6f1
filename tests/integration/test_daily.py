#!/usr/bin/env python3
"""The daily counters (stats.daily, refguardctl daily): every check's
action and the rules it matched (enforcing and shadow apart) on the day
of its own time, exact; replays not counted again; a recheck that
changes the action counted as from>to on the day it was rechecked as of;
retention deleting the days that ended before its bound; the counters
still there after a restart; an import rebuilding them from the export;
the same over HTTP; errors name the field."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rgtest  # noqa: E402
from rgtest import check, check_req, eq, is_error  # noqa: E402
from test_http import Http  # noqa: E402

T = rgtest.Suite("test_daily")
ids = rgtest.Ids("dy")
DAY = 86400 * 1000
NOW = rgtest.now_ms()
TODAY = NOW // DAY * DAY
RECENT = max(NOW - 60000, TODAY)     # today, before now

RULES = """
rule d.deny {
    when   campaign == "deny"
    action deny
    score  100
}
rule d.review {
    when   campaign == "review"
    action review
    score  50
}
rule d.watch {
    mode   shadow
    when   campaign == "deny" or campaign == "watch"
    action deny
    score  100
}
rule d.busy {
    when   campaign == "busy" and count(referral, referrer.account, 30d) > 2
    action deny
    score  100
}
"""


def daemon(tag, retention="30d"):
    d = rgtest.Daemon(tag)
    rules = os.path.join(d.dir, "rules")
    os.makedirs(rules)
    with open(os.path.join(rules, "d.rules"), "w") as f:
        f.write(RULES)
    d.conf["rules"] = rules
    d.conf["retention"] = retention
    d.conf["http_listen"] = os.path.join(d.dir, "http.sock")
    d.write_conf()
    return d


def day(ms):
    return rgtest.rfc3339(ms // DAY * DAY)[:10]


def checks(d, camp, ts, n, referrer=None):
    out = []
    for i in range(n):
        rid = ids.id()
        v, raw = d.ok(check_req(rid, {"account": referrer or ids.account()},
                                {"account": ids.account()}, ts=ts + i,
                                campaign=camp))
        out.append((rid, raw, v))
    return out


def daily(d, **f):
    r, raw = d.ok(dict({"op": "stats.daily"}, **f))
    check(r.get("ok") is True and isinstance(r.get("days"), list),
          "stats.daily reply", raw)
    return {x["day"]: x for x in r["days"]}


def traffic(d):
    """Three days of known traffic: what stats.daily must say of it."""
    d3, d1 = TODAY - 3 * DAY + 3600 * 1000, TODAY - DAY + 7200 * 1000
    checks(d, "deny", d3, 2)
    checks(d, "review", d3 + 10, 1)
    checks(d, "plain", d3 + 20, 4)
    checks(d, "watch", d1, 3)
    checks(d, "deny", d1 + 10, 1)
    checks(d, "review", RECENT, 2)
    return {
        day(d3): {"actions": {"allow": 4, "review": 1, "deny": 2},
                  "rules": {"d.deny": 2, "d.review": 1},
                  "shadow": {"d.watch": 2}},
        day(d1): {"actions": {"allow": 3, "deny": 1},
                  "rules": {"d.deny": 1},
                  "shadow": {"d.watch": 4}},
        day(RECENT): {"actions": {"review": 2},
                           "rules": {"d.review": 2}},
    }


def rechecks(d, want):
    """A recheck that changes the action (allow>deny, counted on the day
    it was rechecked as of) and one that does not; want updated."""
    ref = ids.account()
    first = checks(d, "busy", TODAY - 2 * DAY, 1, referrer=ref)[0]
    eq(first[2]["action"], "allow", "the first of a busy referrer")
    checks(d, "busy", TODAY - 2 * DAY + 100, 2, referrer=ref)
    r, raw = d.ok({"op": "recheck", "id": first[0], "ts": RECENT + 200})
    eq((r["previous"]["action"], r["action"]), ("allow", "deny"),
       "the recheck")
    r, raw = d.ok({"op": "recheck", "id": first[0], "ts": RECENT + 300})
    eq(r["changed"], False, "a second recheck")
    want[day(TODAY - 2 * DAY)] = {"actions": {"allow": 2, "deny": 1},
                                  "rules": {"d.busy": 1}}
    want[day(RECENT)]["rechecks"] = {"allow>deny": 1}


def same(got, want, what):
    g = {k: {gk: gv for gk, gv in v.items() if gk != "day"}
         for k, v in got.items()}
    eq(g, want, what)


@T.case("checks on several days are counted exactly, by their own time; "
        "replays are not; rechecks that change the action are; the "
        "counters survive a restart; over HTTP and refguardctl")
def _():
    d = daemon("daily").start()
    want = traffic(d)
    same(daily(d), want, "the counters")
    # replays: the same ids again change nothing
    rid = ids.id()
    v, raw = d.ok(check_req(rid, {"account": ids.account()},
                            {"account": ids.account()}, ts=RECENT + 100,
                            campaign="deny"))
    for _ in range(3):
        eq(d.ok(check_req(rid, {"account": ids.account()},
                          {"account": ids.account()}, ts=RECENT + 100,
                          campaign="deny"))[1], raw, "a replay")
    t = want[day(RECENT)]
    t["actions"]["deny"] = 1
    t["rules"]["d.deny"] = 1
    t["shadow"] = {"d.watch": 1}
    same(daily(d), want, "one new check, three replays")
    rechecks(d, want)
    same(daily(d), want, "after the rechecks")
    # filters
    got = daily(d, since=TODAY - DAY, kinds=["actions"])
    eq(sorted(got), sorted(k for k in want if k >= day(TODAY - DAY)),
       "since")
    for k, v in got.items():
        eq(sorted(v), ["actions", "day"], "kinds actions only")
    got = daily(d, rule="d.deny", until=rgtest.rfc3339(TODAY - DAY),
                kinds=["rules"])
    eq({k: v.get("rules") for k, v in got.items()},
       {day(TODAY - 3 * DAY): {"d.deny": 2}, day(TODAY - DAY): {"d.deny": 1}},
       "one rule, until")
    # errors
    for f, bad in (("since", "yesterday"), ("kinds", ["hits"]),
                   ("kinds", "actions"), ("rule", 5)):
        r, raw = d.call({"op": "stats.daily", f: bad})
        is_error(r, "bad_request", f, raw)
    # HTTP: the same reply
    r, raw = Http(d, d.conf["http_listen"]).json("POST", "/v1/stats/daily",
                                                 {"since": "30d"})
    same({x["day"]: x for x in r["days"]}, want, "over HTTP")
    # restart: durable
    d.restart()
    same(daily(d), want, "after a restart")
    # refguardctl daily
    rc, out, err = d.ctl("daily", "--since", "30d")
    eq(rc, 0, "refguardctl daily (stderr %r)" % err)
    line = [x.split() for x in out.splitlines() if x.startswith(
        day(TODAY - 3 * DAY))]
    check(["%s" % day(TODAY - 3 * DAY), "4", "1", "2", "0"] in line,
          "the day's actions row", out)
    check([day(TODAY - 3 * DAY), "d.watch", "shadow", "2"] in line,
          "a shadow rule's row", out)
    rc, out, err = d.ctl("--json", "daily", "--rule", "d.review")
    eq(rc, 0, "refguardctl --json daily")
    check('"d.review":2' in out and "d.deny" not in out, "--rule", out)
    d.stop()


@T.case("retention deletes the days that ended before its bound")
def _():
    d = daemon("dailyret", retention="30d").start()
    old, mid = TODAY - 20 * DAY + 1000, TODAY - 5 * DAY + 1000
    checks(d, "deny", old, 2)
    checks(d, "deny", mid, 3)
    eq(sorted(daily(d)), [day(old), day(mid)], "before")
    d.stop()
    d.conf["retention"] = "10d"
    d.write_conf()
    d.start()
    d.wait_stats(lambda s: s["store"]["expired"] >= 2, "the retention pass")
    got = daily(d)
    eq(sorted(got), [day(mid)], "the old day is gone")
    eq(got[day(mid)]["rules"], {"d.deny": 3}, "the newer day is whole")
    d.stop()


@T.case("import rebuilds the counters from the export, rechecks "
        "included", timeout=120)
def _():
    d = daemon("dailyexp").start()
    want = traffic(d)
    rechecks(d, want)
    same(daily(d), want, "before the export")
    d.stop()
    p = os.path.join(d.dir, "export.ndjson")
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "-c", d.conf_path,
                               "export", "-o", p], timeout=120)
    eq(rc, 0, "export (stderr %r)" % err)
    d2 = daemon("dailyimp")
    d2.import_from(d, p)
    d2.start()
    same(daily(d2), want, "after the import")
    d2.stop()


if __name__ == "__main__":
    sys.exit(T.main())
