#!/usr/bin/env python3
"""Stored verdicts as a listing (verdicts.list, refguardctl verdicts):
newest first with each verdict's fields; filters by time, action, rule
and campaign; a cursor page that does not shift while new checks arrive;
the same over HTTP; CSV that Python's csv module reads back (quoting, a
formula guard) and NDJSON for scripts; read from the store when the
daemon is down; errors name the field."""

import csv
import io
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rgtest  # noqa: E402
from rgtest import check, check_req, eq  # noqa: E402
from test_http import Http  # noqa: E402

T = rgtest.Suite("test_verdicts")
ids = rgtest.Ids("vl")
DAY = 86400 * 1000
NOW = rgtest.now_ms()
NETS = []               # the /24s review() used
daemon = rgtest.Shared("verdicts", http=True)
ok = daemon.ok


def allow(camp, ts, rid=None, reward=None):
    rid = rid or ids.id()
    extra = {"campaign": camp}
    if reward is not None:
        extra["reward"] = reward
    v, _ = ok(check_req(rid, {"account": ids.account()},
                        {"account": ids.account()}, ts=ts,
                        **extra))
    eq(v["action"], "allow", "an unrelated pair")
    return rid


def burst(camp, ts, n, shared, want, what):
    """n referrals a millisecond apart, new accounts each, the referees
    sharing what shared says; the last one's action is want. Its id."""
    for i in range(n):
        rid = ids.id()
        v, _ = ok(check_req(rid, {"account": ids.account()},
                            dict(shared, account=ids.account()),
                            ts=ts + i, campaign=camp))
    eq(v["action"], want, what)
    return rid


def review(camp, ts):
    """The sixth referral from one referee address in a day: review."""
    n = len(NETS)
    NETS.append(n)
    ip = "100.%d.%d.9" % (72 + n // 256, n % 256)   # a /24 of its own
    return burst(camp, ts, 6, {"ip": ip}, "review",
                 "the sixth from one address")


def deny(camp, ts):
    """A fourth referee account on one device within a day: deny."""
    return burst(camp, ts, 4, {"device": ids.device()}, "deny",
                 "the fourth account on one device")


def listing(**filters):
    r, raw = ok(dict({"op": "verdicts.list"}, **filters))
    for k, t in (("verdicts", list), ("count", int), ("scanned", int),
                 ("corrupt", int)):
        check(isinstance(r.get(k), t), "reply field %r" % k, raw)
    eq(r["count"], len(r["verdicts"]), "count")
    return r


def all_pages(**filters):
    out, cursor = [], None
    while True:
        f = dict(filters)
        if cursor:
            f["cursor"] = cursor
        r = listing(**f)
        out += r["verdicts"]
        cursor = r["next"]
        if cursor is None:
            return out


def scenario():
    """A campaign of its own: allows 10, 3 (two, rewarded) and 1 days ago,
    a review 2 days ago, a deny 5 days ago. Returns (campaign, {what: id}).
    """
    camp = "vl-camp-%d" % ids.next()
    s = {"old": allow(camp, NOW - 10 * DAY)}
    s["deny"] = deny(camp, NOW - 5 * DAY)
    s["review"] = review(camp, NOW - 2 * DAY)
    s["dime"] = allow(camp, NOW - 3 * DAY - 1,
                      reward={"amount": 0.1, "currency": "USD"})
    s["mid"] = allow(camp, NOW - 3 * DAY,
                     reward={"amount": 12.5, "currency": "EUR"})
    s["new"] = allow(camp, NOW - DAY)
    return camp, s


@T.case("verdicts.list: newest stored first, each verdict's fields")
def _():
    camp, s = scenario()
    r = listing(campaign=camp)
    got = [v["id"] for v in r["verdicts"]]
    eq(got[0], s["new"], "the newest stored first")
    eq(got[1], s["mid"], "then the one before")
    eq(got[-1], s["old"], "the first stored last")
    eq(len(got), 1 + 4 + 6 + 1 + 1 + 1, "every referral of the campaign")
    eq(r["next"], None, "one page")
    mid = r["verdicts"][1]
    eq(sorted(mid), sorted(["id", "seq", "ts", "action", "score", "version",
                            "reasons", "referrer", "referee", "campaign",
                            "reward"]), "an item's fields")
    eq(mid["reward"], {"amount": 12.5, "currency": "EUR"}, "the reward")
    eq(mid["campaign"], camp, "the campaign")
    eq(mid["ts"], rgtest.rfc3339(NOW - 3 * DAY), "the referral's own time")
    for k in ("referrer", "referee"):
        check(isinstance(mid[k], str) and len(mid[k]) == 12 and
              all(c in "0123456789abcdef" for c in mid[k]),
              "%s: a short hash, never the account" % k, mid)
    check(mid["referrer"] != mid["referee"], "two accounts", mid)
    # the verdict the daemon answers for the id is the same
    v, _ = ok({"op": "verdict", "id": s["review"]})
    rv = [x for x in r["verdicts"] if x["id"] == s["review"]][0]
    eq((rv["action"], rv["score"], rv["version"]),
       (v["action"], v["score"], 1), "action, score and version")
    eq(rv["reasons"], [h["rule"] for h in v["reasons"]][:3], "top reasons")
    eq(r["verdicts"][0]["reward"], None, "no reward: null")


@T.case("filters: since/until (the referrals' times), action, rule")
def _():
    camp, s = scenario()
    got = [v["id"] for v in listing(campaign=camp, since="4d")["verdicts"]]
    eq(got[:2], [s["new"], s["mid"]], "since 4d ago")
    check(s["review"] in got and s["old"] not in got and
          s["deny"] not in got, "since: by the referral's time", got)
    got = [v["id"] for v in listing(campaign=camp, since=NOW - 6 * DAY,
                                    until=rgtest.rfc3339(NOW - 4 * DAY))[
        "verdicts"]]
    eq(len(got), 4, "the deny scenario's four, between 6 and 4 days ago")
    eq(got[0], s["deny"], "its deny the newest")
    r = listing(campaign=camp, action="review")
    eq([v["id"] for v in r["verdicts"]], [s["review"]], "action review")
    r = listing(campaign=camp, action="deny", rule="farm.referee_device")
    eq([v["id"] for v in r["verdicts"]], [s["deny"]], "action and rule")
    eq(listing(campaign=camp, rule="no.such_rule")["verdicts"], [],
       "a rule that never matched")
    eq(listing(campaign="vl-none")["verdicts"], [], "another campaign")


@T.case("a cursor page does not shift while new checks are stored")
def _():
    camp = "vl-page-%d" % ids.next()
    first = [allow(camp, NOW - 60000 + i) for i in range(5)]
    p1 = listing(campaign=camp, limit=2)
    eq([v["id"] for v in p1["verdicts"]], first[::-1][:2], "page 1")
    check(isinstance(p1["next"], str), "a next cursor", p1)
    later = allow(camp, NOW - 1000)             # stored after page 1
    p2 = listing(campaign=camp, limit=2, cursor=p1["next"])
    eq([v["id"] for v in p2["verdicts"]], first[::-1][2:4],
       "page 2 goes on where page 1 ended")
    p3 = listing(campaign=camp, limit=2, cursor=p2["next"])
    eq([v["id"] for v in p3["verdicts"]], first[:1], "the last page")
    eq(p3["next"], None, "the end")
    eq([v["id"] for v in all_pages(campaign=camp, limit=1)],
       [later] + first[::-1], "one at a time, everything once")


@T.case("errors name the field")
def _():
    for req, field in (({"cursor": "t12.3"}, "cursor"),
                       ({"cursor": "v"}, "cursor"),
                       ({"action": "maybe"}, "action"),
                       ({"limit": 0}, "limit"), ({"limit": 1001}, "limit"),
                       ({"since": "yesterday"}, "since"),
                       ({"state": "open"}, "state")):
        r, raw = daemon().call(dict({"op": "verdicts.list"}, **req))
        rgtest.is_error(r, "bad_request", field, raw)
    eq(daemon().call({"op": "ping"})[0], {"ok": True}, "still serving")


@T.case("HTTP: POST /v1/verdicts/list is the same listing")
def _():
    camp, s = scenario()
    d = daemon()
    r, raw = Http(d, d.conf["http_listen"]).json("POST", "/v1/verdicts/list",
                         {"campaign": camp, "action": "deny"})
    eq([v["id"] for v in r["verdicts"]], [s["deny"]], "over HTTP")
    eq(r, listing(campaign=camp, action="deny"), "the NDJSON reply")


def ctl(*args):
    rc, out, err = daemon().ctl("verdicts", *args)
    check(rc == 0, "refguardctl verdicts %s: exit %d" % (" ".join(args), rc),
          out, err)
    return out, err


@T.case("refguardctl verdicts --format csv: RFC 4180, read back by csv")
def _():
    camp, s = scenario()
    s["ten"] = allow(camp, NOW - 3 * DAY + 1,
                     reward={"amount": 10, "currency": "USD"})
    odd = allow(camp, NOW - 1000, rid='vl "odd", id\u00e9')
    formula = allow(camp, NOW - 900, rid="=HYPERLINK(\"x\")")
    out, _ = ctl("--campaign", camp, "--format", "csv")
    check(out.endswith("\r\n") and "\n" not in out.replace("\r\n", ""),
          "records end with CRLF", out)
    rows = list(csv.reader(io.StringIO(out, newline="")))
    eq(rows[0], ["id", "ts", "action", "score", "version", "reasons",
                 "referrer", "referee", "campaign", "reward_amount",
                 "reward_currency"], "the header")
    want = listing(campaign=camp)["verdicts"]
    eq(len(rows), 1 + len(want), "one row a verdict")
    eq(rows[1][0], "'=HYPERLINK(\"x\")", "a formula is never one in a sheet")
    eq(rows[2][0], odd, "quotes and commas come back whole")
    by_id = dict((r[0], r) for r in rows[1:])
    m = by_id[s["mid"]]
    eq(m[1:5], [rgtest.rfc3339(NOW - 3 * DAY), "allow", "0", "1"],
       "ts, action, score, version")
    eq(m[8:], [camp, "12.5", "EUR"], "campaign and reward")
    eq(by_id[s["dime"]][9:], ["0.1", "USD"], "an amount as it was given")
    eq(by_id[s["ten"]][9:], ["10", "USD"], "a whole amount without an "
       "exponent")
    d = by_id[s["deny"]]
    eq(d[2], "deny", "the deny")
    check("farm.referee_device" in d[5].split(" "), "its reasons", d)
    w = [v for v in want if v["id"] == s["deny"]][0]
    eq((d[6], d[7]), (w["referrer"], w["referee"]), "short hashes")
    eq(by_id["'" + formula][8], camp, "the formula's row")


@T.case("--format ndjson, --since 7d --action review, --limit, the table")
def _():
    camp, s = scenario()
    out, _ = ctl("--campaign", camp, "--format", "ndjson")
    lines = out.splitlines()
    items = [json.loads(x) for x in lines]
    eq(items, listing(campaign=camp)["verdicts"], "a verdict a line")
    out, _ = ctl("--since", "7d", "--action", "review", "--campaign", camp,
                 "--format", "ndjson")
    eq([json.loads(x)["id"] for x in out.splitlines()], [s["review"]],
       "since 7d, reviews only")
    out, _ = ctl("--since", "4d", "--campaign", camp, "--format", "ndjson",
                 "--limit", "2")
    eq([json.loads(x)["id"] for x in out.splitlines()],
       [s["new"], s["mid"]], "the limit")
    out, _ = ctl("--campaign", camp, "--until", "4d", "--rule",
                 "farm.referee_device", "--json")
    eq([json.loads(x)["id"] for x in out.splitlines()], [s["deny"]],
       "--json: NDJSON; --until and --rule")
    out, _ = ctl("--campaign", camp, "--action", "deny")
    check(out.splitlines()[0].split()[:3] == ["ID", "TIME", "ACTION"] and
          s["deny"] in out.splitlines()[1], "a table by default", out)
    out, _ = ctl("--campaign", "vl-none")
    eq(out, "no verdicts match\n", "an empty table")
    rc, out, err = daemon().ctl("verdicts", "--format", "xml")
    eq(rc, 2, "a bad format is a usage error")
    check("--format" in err, "it says which option", err)


@T.case("the daemon stopped: refguardctl reads the store (-c, --state), "
        "not with -s alone")
def _():
    camp, s = scenario()
    d = daemon()
    want = listing(campaign=camp)["verdicts"]
    d.stop()
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "-c", d.conf_path,
                               "verdicts", "--campaign", camp, "--format",
                               "ndjson"], cwd=d.dir)
    eq(rc, 0, "exit status (stderr: %s)" % err)
    check("reading the store" in err, "it says where it reads", err)
    eq([json.loads(x) for x in out.splitlines()], want,
       "what the daemon listed")
    # a socket named alone says nothing of a store: no guess
    rc, out, err = d.ctl("verdicts", "--campaign", camp)
    eq((rc, out), (3, ""), "-s alone, the daemon down (stderr %r)" % err)
    check("cannot connect" in err, "it says why", err)
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "verdicts", "--state",
                               d.state, "--campaign", camp, "--action",
                               "review", "--format", "csv"])
    eq(rc, 0, "--state: exit status (stderr: %s)" % err)
    rows = list(csv.reader(io.StringIO(out, newline="")))
    eq([r[0] for r in rows[1:]], [s["review"]], "--state DIR")


if __name__ == "__main__":
    sys.exit(T.main())
