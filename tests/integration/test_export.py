#!/usr/bin/env python3
"""Export and import carry what analysts and reviewers did, exactly:
feedback on a referral and on an account, the labels it put on
identities, runtime list entries (a value, a network, one with an
expiry) and the list log, the review queue's items (open, claimed,
decided) with their history. A store imported from an export answers
queue.list, queue.get, list.get, list.log, labeled() rules, backtest and
stats as the exporting one did; with --since (a renumbered store) the
records move with their events, and a queue item whose event is left out
is counted, never dropped silently. test_ctl.py covers events and
verdicts."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rgtest  # noqa: E402
from rgtest import check, check_req, eq, rule_names  # noqa: E402

T = rgtest.Suite("test_export")
ids = rgtest.Ids("xa")
DAY = 86400 * 1000
STORE_KEYS = ("events", "verdicts", "feedback", "labels", "list_entries",
              "list_log", "queue_open", "queue_claimed", "queue_decided")


def ok(d, req):
    return d.ok(req)


def reviews(d, n, device=None, ts=None):
    return rgtest.review_referrals(lambda r: ok(d, r)[0], ids, n, 72,
                                   campaign="c-exp", device=device, ts=ts,
                                   amount=12.5)[0]


def export(d, *extra):
    p = os.path.join(d.dir, "exp-%d.ndjson" % ids.next())
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "-c", d.conf_path,
                               "export", "-o", p] + list(extra), timeout=120)
    eq(rc, 0, "export exit status (stderr %r)" % err)
    lines = [json.loads(x) for x in open(p).read().split("\n") if x]
    return p, lines, err


def imported(d, p):
    """A daemon on a fresh state dir the export p was imported into."""
    d2 = rgtest.Daemon("xaimp", rules="classic")
    err = d2.import_from(d, p)
    return d2.start(), err


def backtest(d, *args):
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "backtest", "--json",
                               "--rules", rgtest.CLASSIC_RULES_DIR,
                               "--state", d.state] + list(args), timeout=60)
    eq(rc, 0, "backtest exit status (stderr %s)" % rgtest.short(err))
    bt = json.loads(out)
    # the figures, not the speed nor the events before --since scanned
    for k in ("seconds", "events_per_sec", "referrals_per_sec", "events",
              "last_seq"):
        del bt[k]
    return bt


def queue_all(d):
    out = {}
    for state in ("open", "claimed", "decided"):
        r, raw = ok(d, {"op": "queue.list", "state": state, "limit": 1000})
        out[state] = r["items"]
    return out


def without_seqs(o):
    """A reply without the event seqs (renumbered): item numbers, the
    explained event's seq."""
    if isinstance(o, dict):
        return {k: without_seqs(v) for k, v in o.items()
                if k not in ("item", "seq") or not isinstance(v, int)}
    if isinstance(o, list):
        return [without_seqs(v) for v in o]
    return o


def first_diff(a, b, path=""):
    """Where a and b differ first (for a readable failure), or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            d = first_diff(a.get(k), b.get(k), path + "." + str(k))
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_diff(x, y, "%s[%d]" % (path, i))
            if d:
                return d
        return None
    return None if a == b else "%s: %r != %r" % (path, a, b)


def same(got, want, what):
    d = first_diff(got, want)
    check(d is None, "%s differs" % what, d)


def store_stats(d):
    st = d.stats()["store"]
    return {k: st[k] for k in STORE_KEYS}


@T.case("a round trip keeps feedback, labels, lists, the list log and the "
        "review queue: the imported store answers the same", timeout=240)
def _():
    d = rgtest.Daemon("xaexp", rules="classic").start()
    dev = "xa-dev-%d" % ids.next()
    rids = reviews(d, 4, device=dev)
    # claimed, unclaimed, claimed again; claimed; voided; approved
    ok(d, {"op": "queue.claim", "id": rids[0], "by": "ana"})
    ok(d, {"op": "queue.unclaim", "id": rids[0], "by": "ana"})
    ok(d, {"op": "queue.claim", "id": rids[0], "by": "bob"})
    ok(d, {"op": "queue.claim", "id": rids[1], "by": "ana"})
    ok(d, {"op": "queue.decide", "id": rids[2], "decision": "void",
           "note": "farm \u00e9", "by": "bob"})
    ok(d, {"op": "queue.decide", "id": rids[3], "decision": "approve",
           "by": "cy"})
    # feedback on a referral and on an account
    fr = ids.id()
    fr_dev = "xa-fr-%d" % ids.next()
    ok(d, check_req(fr, {"account": ids.account()},
                    {"account": ids.account(), "device": {"id": fr_dev}}))
    ok(d, {"op": "feedback", "id": fr, "label": "fraud", "by": "t",
           "note": "stolen card"})
    acct = ids.account()
    ok(d, check_req(ids.id(), {"account": ids.account()},
                    {"account": acct, "email": "xa.acct@example.org"}))
    ok(d, {"op": "feedback", "account": acct, "label": "chargeback",
           "by": "t"})
    # lists: a value, a network with an expiry, a string; one deleted
    email = "Blocked.%d@Example.org" % ids.next()
    ok(d, {"op": "list.add", "list": "blocked_emails", "value": email,
           "reason": "ticket 7", "by": "ann"})
    ok(d, {"op": "list.add", "list": "blocked_ips", "value": "198.18.4.0/26",
           "expires": "2d", "reason": "proxy farm", "by": "bob"})
    ok(d, {"op": "list.add", "list": "blocked_domains",
           "value": "xa-spam.example", "by": "bob"})
    ok(d, {"op": "list.add", "list": "blocked_emails",
           "value": "gone@example.org", "by": "ann"})
    ok(d, {"op": "list.del", "list": "blocked_emails",
           "value": "gone@example.org", "by": "ann", "reason": "oops"})
    # a check after the labels: denied by them
    after = ids.id()
    v, raw = ok(d, check_req(after, {"account": ids.account()},
                             {"account": ids.account(),
                              "device": {"id": fr_dev}}))
    eq(v["action"], "deny", "labeled() sees the feedback")
    st1 = store_stats(d)
    check(st1["feedback"] >= 4 and st1["labels"] > 0 and
          st1["list_entries"] > 0 and st1["list_log"] == 5,
          "the exporting store holds the records", st1)
    eq((st1["queue_open"], st1["queue_claimed"], st1["queue_decided"]),
       (0, 2, 2), "queue counts")

    p, lines, err = export(d)
    eq(lines[0]["refguard_export"], 3, "export version")
    end = lines[-1]
    eq({k: end[k] for k in ("feedback", "listlog", "queue",
                            "queue_dropped")},
       {"feedback": st1["feedback"], "listlog": 5, "queue": 4,
        "queue_dropped": 0}, "end line counts")
    eq(end["labels"], st1["labels"], "labels exported")
    hist = sum(len(d.call({"op": "queue.get", "id": rid})[0]["history"])
               for rid in rids)
    eq(sum(1 for x in lines if "queuelog" in x and "end" not in x), hist,
       "queue log lines")
    for raw in (email, "198.18.4", "xa-spam.example", "stolen card"):
        check(raw not in open(p).read(), "raw %r in the export" % raw)

    d2, err = imported(d, p)
    check("feedback" in err and "queue" in err,
          "the import summary counts the records", err)
    # the queue, item by item and by state, with its history
    eq(queue_all(d2), queue_all(d), "queue.list in every state")
    for rid in rids:
        eq(d2.call({"op": "queue.get", "id": rid})[1],
           d.call({"op": "queue.get", "id": rid})[1], "queue.get " + rid)
    # lists
    for lst, val in (("blocked_emails", email), ("blocked_ips",
                                                 "198.18.4.7"),
                     ("blocked_ips", "198.18.4.0/26"),
                     ("blocked_domains", "xa-spam.example"),
                     ("blocked_emails", "gone@example.org")):
        q = {"op": "list.get", "list": lst, "value": val}
        eq(d2.call(q)[1], d.call(q)[1], "list.get %s %s" % (lst, val))
    q = {"op": "list.log", "limit": 1000}
    eq(d2.call(q)[1], d.call(q)[1], "list.log")
    eq(store_stats(d2), st1, "stats store counters")
    # export of the imported store: the same but the header's time
    p2, lines2, _ = export(d2)
    eq(lines2[1:], lines[1:], "the re-export differs")
    # the rules see the same labels and lists; backtest the same figures
    same(backtest(d2), backtest(d), "backtest")
    for req in (
            check_req("xa-n1", {"account": ids.account()},
                      {"account": ids.account(), "device": {"id": fr_dev}}),
            check_req("xa-n2", {"account": ids.account()},
                      {"account": ids.account(),
                       "device": {"id": "%s-7" % dev}}),
            check_req("xa-n3", {"account": ids.account()},
                      {"account": acct}),
            check_req("xa-n4", {"account": ids.account()},
                      {"account": ids.account(), "ip": "198.18.4.33"}),
            check_req("xa-n5", {"account": ids.account()},
                      {"account": ids.account(),
                       "email": "x@xa-spam.example"})):
        r1, _ = d.call(dict(req))
        r2, _ = d2.call(dict(req))
        eq((r2["action"], rule_names(r2["reasons"])),
           (r1["action"], rule_names(r1["reasons"])), req["id"])
        eq(r2["action"], "deny", req["id"] + " denied by a label or list")
    d2.stop()
    d.stop()


@T.case("--since: a renumbered store keeps its records on the same "
        "events; queue items of events left out are counted",
        timeout=240)
def _():
    d = rgtest.Daemon("xasince", rules="classic").start()
    old = rgtest.now_ms() - 10 * DAY
    old_rids = reviews(d, 2, ts=old)           # left out by --since 5d
    ok(d, {"op": "queue.claim", "id": old_rids[0], "by": "ana"})
    ok(d, {"op": "feedback", "id": old_rids[1], "label": "legit",
           "by": "t"})
    dev = "xs-dev-%d" % ids.next()
    rids = reviews(d, 3, device=dev)
    # referee device dev-5 before the void, dev-6 after: the label
    # counts from the decision on, in the backtest's replay
    before = ids.id()
    ok(d, check_req(before, {"account": ids.account()},
                    {"account": ids.account(),
                     "device": {"id": "%s-5" % dev}}))
    ok(d, {"op": "queue.claim", "id": rids[1], "by": "bob"})
    ok(d, {"op": "queue.decide", "id": rids[0], "decision": "void",
           "by": "bob", "note": "ring"})
    after = ids.id()
    v, raw = ok(d, check_req(after, {"account": ids.account()},
                             {"account": ids.account(),
                              "device": {"id": "%s-5" % dev}}))
    eq(v["action"], "deny", "labeled() after the void")
    ok(d, {"op": "list.add", "list": "blocked_ips", "value": "198.18.9.0/28",
           "by": "ann"})
    cut = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                        time.gmtime((rgtest.now_ms() - 5 * DAY) // 1000))
    p, lines, err = export(d, "--since", cut)
    end = lines[-1]
    eq((end["queue"], end["queue_dropped"]), (3, 2),
       "items exported and left out")
    check("2 queue items" in err, "export says what it left out", err)
    d2, err = imported(d, p)
    s1, s2 = d.stats()["store"], d2.stats()["store"]
    eq(s2["last_seq"], s1["last_seq"] - 7, "renumbered: 7 events left out")
    eq((s2["queue_open"], s2["queue_claimed"], s2["queue_decided"]),
       (1, 1, 1), "queue counts")
    eq((s2["feedback"], s2["labels"], s2["list_log"]),
       (s1["feedback"], s1["labels"], s1["list_log"]),
       "feedback, labels and lists are kept whole")
    for rid in rids:
        r1, _ = d.call({"op": "queue.get", "id": rid})
        r2, _ = d2.call({"op": "queue.get", "id": rid})
        eq(r2["item"]["item"], r1["item"]["item"] - 7, "item renumbered")
        same(without_seqs(r2), without_seqs(r1), "queue.get " + rid)
    for rid in old_rids:
        r, raw = d2.call({"op": "queue.get", "id": rid})
        rgtest.is_error(r, "not_found", raw=raw)
    # the label counts from the same event on: the backtest of the same
    # events replays the same verdicts
    b1, b2 = backtest(d, "--since", cut), backtest(d2, "--since", cut)
    same(b2, b1, "backtest of the exported events")
    r1, _ = d.call(check_req("xs-n1", {"account": ids.account()},
                             {"account": ids.account(),
                              "device": {"id": "%s-6" % dev}}))
    r2, _ = d2.call(check_req("xs-n1", {"account": ids.account()},
                              {"account": ids.account(),
                               "device": {"id": "%s-6" % dev}}))
    eq((r2["action"], rule_names(r2["reasons"])),
       (r1["action"], rule_names(r1["reasons"])), "a new check")
    d2.stop()
    d.stop()


@T.case("import checks the analyst records and the end line's counts")
def _():
    d = rgtest.Daemon("xabad", rules="classic").start()
    rids = reviews(d, 1)
    ok(d, {"op": "queue.claim", "id": rids[0], "by": "ana"})
    ok(d, {"op": "list.add", "list": "blocked_emails", "value": "a@b.org"})
    p, lines, err = export(d)
    d.stop()
    text = open(p).read().split("\n")
    tmp = rgtest.mkdtemp("xabadimp")

    def imp(name, lines):
        f = os.path.join(tmp, name + ".ndjson")
        with open(f, "w") as fh:
            fh.write("\n".join(lines))
        return rgtest.run([rgtest.REFGUARDCTL, "import", "--state",
                           os.path.join(tmp, name), f])
    q = [i for i, x in enumerate(text) if x.startswith('{"queue":')][0]
    # a line left out: the end line's count says so
    rc, out, err = imp("missing", text[:q] + text[q + 2:])
    eq(rc, 1, "a queue item left out (stderr %r)" % err)
    check("end line counts 1 queue" in err, "names the count", err)
    # a queue item whose event is not in the file
    bad = list(text)
    bad[q] = bad[q].replace('{"queue":', '{"queue":9', 1)
    rc, out, err = imp("noevent", bad)
    eq(rc, 1, "an item without its event (stderr %r)" % err)
    check("not in the file" in err and ":%d:" % (q + 1) in err,
          "names the line and the problem", err)
    # a claimed item turned decided without a decision: not an item the
    # daemon writes
    bad = list(text)
    item = json.loads(bad[q])
    eq(item["state"], "claimed", "the exported item's state")
    item["state"] = "decided"
    bad[q] = json.dumps(item)
    rc, out, err = imp("nodecision", bad)
    eq(rc, 1, "a decided item without a decision (stderr %r)" % err)
    check("not an item refguard writes" in err, "says why", err)
    # analyst records before an event
    ev = [i for i, x in enumerate(text) if x.startswith('{"event":')][-1]
    moved = text[:ev] + [text[q]] + text[ev:q] + text[q + 1:]
    rc, out, err = imp("order", moved)
    eq(rc, 1, "a record before an event (stderr %r)" % err)
    # a version 1 file (no analyst records) still imports
    v1 = [x for x in text if x and not any(x.startswith('{"%s"' % k) for k in
          ("feedback", "label", "list", "listlog", "queue", "queuelog"))]
    h, e = json.loads(v1[0]), json.loads(v1[-1])
    h["refguard_export"] = 1
    e = {k: e[k] for k in ("end", "events", "verdicts", "meta")}
    v1[0], v1[-1] = json.dumps(h), json.dumps(e)
    rc, out, err = imp("v1", v1 + [""])
    eq(rc, 0, "a version 1 file (stderr %r)" % err)


if __name__ == "__main__":
    sys.exit(T.main())
