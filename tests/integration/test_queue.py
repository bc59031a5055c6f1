#!/usr/bin/env python3
"""The review queue against a running refguardd, over NDJSON and HTTP:
review verdicts enter it; a listing pages with a cursor that does not
shift while new items arrive; filters; one item with its explanation;
claim and unclaim; decisions (one and many) are feedback that labeled()
rules see, are audited, and survive a restart; errors name the
problem."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rgtest  # noqa: E402
from rgtest import check, check_req, eq  # noqa: E402
from test_http import Http  # noqa: E402

T = rgtest.Suite("test_queue")
ids = rgtest.Ids("q")
daemon = rgtest.Shared("queue", http=True)
call, ok = daemon.call, daemon.ok


def http():
    d = daemon()
    return Http(d, d.conf["http_listen"])


def reviews(n, campaign=None, device=None):
    return rgtest.review_referrals(lambda r: ok(r)[0], ids, n, 70,
                                   campaign=campaign, device=device)[0]


@T.case("review verdicts enter the queue; a cursor page does not shift "
        "while new items arrive")
def _():
    camp = "spring-%d" % ids.next()
    rids = reviews(5, campaign=camp)
    q = {"op": "queue.list", "campaign": camp, "limit": 2}
    r, raw = ok(q)
    eq([i["id"] for i in r["items"]], rids[::-1][:2], "newest first")
    it = r["items"][0]
    eq((it["state"], it["action"], it["score"], it["origin"]),
       ("open", "review", 40, "check"), "the item")
    eq(it["reasons"], ["farm.referee_ip"], "top reasons")
    eq((it["campaign"], it["reward"]), (camp, {"amount": 10,
                                               "currency": "EUR"}),
       "campaign and reward")
    check(isinstance(r["next"], str), "a cursor for the next page", raw)
    # new items arrive (newer): the next page is still the next two
    newer = reviews(2, campaign=camp)
    r2, raw = ok(dict(q, cursor=r["next"]))
    eq([i["id"] for i in r2["items"]], rids[::-1][2:4], "the second page")
    r3, raw = ok(dict(q, cursor=r2["next"]))
    eq([i["id"] for i in r3["items"]], rids[:1], "the last page")
    eq(r3["next"], None, "no page after the last")
    # the first page from the top now starts with the new ones
    r, raw = ok(q)
    eq([i["id"] for i in r["items"]], newer[::-1], "new items on top")
    # the same over HTTP
    h = http()
    r, raw = h.json("POST", "/v1/queue/list", {"campaign": camp,
                                               "limit": 2})
    eq([i["id"] for i in r["items"]], newer[::-1], "HTTP list")
    # filters: by score, by action, by state
    r, raw = ok({"op": "queue.list", "campaign": camp, "sort": "score",
                 "score_min": 40, "limit": 100})
    eq(len(r["items"]), 7, "every item scores 40")
    r, raw = ok({"op": "queue.list", "campaign": camp, "action": "deny"})
    eq(r["items"], [], "none denied")
    r, raw = ok({"op": "queue.list", "campaign": camp, "limit": 100,
                 "rule": "farm.referee_ip"})
    eq(len(r["items"]), 7, "all for one rule")
    r, raw = ok({"op": "queue.list", "campaign": camp,
                 "rule": "farm.referee_device"})
    eq(r["items"], [], "none for another")
    r, raw = ok({"op": "queue.list", "campaign": camp, "state": "decided"})
    eq(r["items"], [], "none decided")
    r, raw = ok({"op": "queue.list", "campaign": camp, "since": "1h",
                 "limit": 100})
    eq(len(r["items"]), 7, "all within the last hour")


@T.case("get, claim, unclaim, decide; decisions label the referee, are "
        "audited and survive a restart")
def _():
    dev = "qdev-%d" % ids.next()
    camp = "claims-%d" % ids.next()
    rids = reviews(3, campaign=camp, device=dev)
    h = http()
    g, raw = h.json("GET", "/v1/queue/" + rids[0])
    eq(g["item"]["id"], rids[0], "HTTP get: the item")
    eq(g["verdict"]["verdict"]["action"], "review", "with its verdict")
    check(any(r["rule"] == "farm.referee_ip" for r in g["verdict"]["rules"]),
          "and its explanation", raw)
    eq(g["history"], [], "no history yet")
    c, raw = ok({"op": "queue.claim", "id": rids[0], "by": "ana"})
    eq((c["item"]["state"], c["item"]["assignee"], c["changed"]),
       ("claimed", "ana", True), "claimed")
    c, raw = ok({"op": "queue.claim", "id": rids[0], "by": "ana"})
    eq(c["changed"], False, "claiming one's own again changes nothing")
    r, raw = call({"op": "queue.claim", "id": rids[0], "by": "bob"})
    rgtest.is_error(r, "conflict", raw=raw)
    check("ana" in r["error"]["msg"], "the error names who holds it", raw)
    r, raw = ok({"op": "queue.list", "state": "claimed", "assignee": "ana",
                 "campaign": camp})
    eq([i["id"] for i in r["items"]], [rids[0]], "claimed by ana")
    r, raw = h.json("POST", "/v1/queue/%s/unclaim" % rids[0], {"by": "ana"})
    eq(r["item"]["state"], "open", "HTTP unclaim")
    ok({"op": "queue.claim", "id": rids[0], "by": "bob"})
    # void one over HTTP, approve two at once over NDJSON
    r, raw = h.json("POST", "/v1/queue/decide", {
        "id": rids[0], "decision": "void", "note": "farm", "by": "bob"})
    eq((r["count"], r["items"][0]["state"], r["items"][0]["decision"]),
       (1, "decided", "void"), "voided")
    r, raw = call({"op": "queue.decide", "id": rids[1], "ids": [rids[1]],
                   "decision": "void", "by": "cy"})
    rgtest.is_error(r, "bad_request", raw=raw)
    check("twice" in r["error"]["msg"], "an id given twice", raw)
    r, raw = ok({"op": "queue.decide", "ids": rids[1:], "decision": "approve",
                 "by": "cy"})
    eq(sorted(i["id"] for i in r["items"]), sorted(rids[1:]), "approved two")
    r, raw = call({"op": "queue.decide", "id": rids[1], "decision": "void",
                   "by": "cy"})
    rgtest.is_error(r, "conflict", raw=raw)
    r, raw = h.json("POST", "/v1/queue/decide", {
        "id": rids[1], "decision": "void", "by": "cy"}, want=409)
    rgtest.is_error(r, "conflict", raw=raw)
    # a decision is feedback: the voided referee's device now denies
    v, raw = ok(check_req(ids.id(), {"account": ids.account()},
                          {"account": ids.account(),
                           "device": {"id": "%s-5" % dev}}))
    eq(v["action"], "deny", "labeled() sees the void")
    check(any(x["rule"] == "feedback.confirmed_fraud" for x in v["reasons"]),
          "the reason is the label", raw)
    v, raw = ok(check_req(ids.id(), {"account": ids.account()},
                          {"account": ids.account(),
                           "device": {"id": "%s-6" % dev}}))
    eq(v["action"], "allow", "an approved referee is not fraud")
    st = daemon().stats()["store"]
    check(st["feedback"] >= 3, "decisions are feedback records", st)
    # after a restart: the decisions and their audit
    daemon().restart()
    g, raw = ok({"op": "queue.get", "id": rids[0]})
    eq((g["item"]["state"], g["item"]["decision"], g["item"]["decided_by"]),
       ("decided", "void", "bob"), "the decision survives a restart")
    eq([(e["op"], e["by"], e["from"], e["to"]) for e in g["history"]],
       [("claim", "ana", "open", "claimed"),
        ("unclaim", "ana", "claimed", "open"),
        ("claim", "bob", "open", "claimed"),
        ("decide", "bob", "claimed", "decided")], "the audit")
    eq((g["history"][3]["decision"], g["history"][3]["note"]),
       ("void", "farm"), "what was decided and why")
    r, raw = ok({"op": "queue.list", "state": "decided", "campaign": camp})
    eq(len(r["items"]), 3, "three decided")
    r, raw = ok({"op": "queue.list", "campaign": camp})
    eq(r["items"], [], "none open")
    # a backtest judges by the decisions: one fraud, two legit
    d = daemon()
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "backtest", "--rules",
                               rgtest.CLASSIC_RULES_DIR, "--state", d.state,
                               "--json"], timeout=60)
    eq(rc, 0, "backtest exit status (%s)" % err)
    lab = json.loads(out)["labels"]
    eq((lab["positives"], lab["legit"]), (1, 2),
       "the backtest counts the decisions as labels")


@T.case("a recheck that raises the action enters the queue")
def _():
    dev = "rdev-%d" % ids.next()
    rid = ids.id()
    v, raw = ok(check_req(rid, {"account": ids.account()},
                          {"account": ids.account(), "device": {"id": dev}}))
    eq(v["action"], "allow", "allowed at first")
    r, raw = call({"op": "queue.get", "id": rid})
    rgtest.is_error(r, "not_found", raw=raw)
    ok({"op": "feedback", "id": rid, "label": "fraud", "by": "t"})
    r, raw = ok({"op": "recheck", "id": rid})
    eq(r["action"], "deny", "the recheck denies")
    g, raw = ok({"op": "queue.get", "id": rid})
    eq((g["item"]["origin"], g["item"]["previous_action"],
        g["item"]["action"]), ("recheck", "allow", "deny"), "queued by it")


@T.case("refguardctl queue: list, get, claim, decide")
def _():
    d = daemon()
    camp = "ctl-%d" % ids.next()
    rids = reviews(3, campaign=camp)
    rc, out, err = d.ctl("queue", "list", "--campaign", camp, "--limit", "2")
    eq(rc, 0, "queue list exit status (%s)" % err)
    for rid in rids[1:]:
        check(rid in out, "the table lists %s" % rid, out)
    check(rids[0] not in out and "more: --cursor t" in out,
          "a page of two, and how to get the next", out)
    check("farm.referee_ip" in out and "10 EUR" in out,
          "reasons and reward in the table", out)
    rc, out, err = d.ctl("--json", "queue", "list", "--campaign", camp,
                         "--sort", "score", "--score-min", "40", "--since",
                         "1d")
    eq(rc, 0, "queue list --json exit status (%s)" % err)
    eq(len(json.loads(out)["items"]), 3, "filters through the CLI")
    rc, out, err = d.ctl("--json", "queue", "claim", rids[0], "--by", "dee")
    eq((rc, json.loads(out)["item"]["assignee"]), (0, "dee"), "claim")
    rc, out, err = d.ctl("queue", "claim", rids[0], "--by", "eve")
    eq(rc, 1, "a conflict is an error (%s)" % out)
    check("dee" in out + err, "it names the holder", out, err)
    rc, out, err = d.ctl("queue", "decide", *rids, "--decision", "approve",
                         "--by", "dee", "--note", "known customers")
    eq(rc, 0, "queue decide exit status (%s)" % err)
    for rid in rids:
        check(rid in out, "the decided table lists %s" % rid, out)
    rc, out, err = d.ctl("--json", "queue", "get", rids[2])
    eq(json.loads(out)["item"]["decision"], "approve", "get")
    for argv in (("queue",), ("queue", "pick"), ("queue", "get"),
                 ("queue", "list", "--by", "x"),
                 ("queue", "claim", "a", "--state", "open"),
                 ("queue", "list", "--limit", "many")):
        rc, out, err = d.ctl(*argv)
        eq(rc, 2, "bad usage %r" % (argv,))


@T.case("decide by filter: the count shown must still match")
def _():
    camp = "bulk-%d" % ids.next()
    rids = reviews(3, campaign=camp)
    f = {"campaign": camp, "score_min": 40}
    r, raw = ok({"op": "queue.list", "limit": 1000, **f})
    eq(len(r["items"]), 3, "three shown")
    reviews(1, campaign=camp)           # one more arrives meanwhile
    req = {"op": "queue.decide", "filter": f, "count": 3,
           "decision": "void", "by": "fay", "note": "ring"}
    r, raw = call(req)
    rgtest.is_error(r, "conflict", raw=raw)
    check("matches 4 items now, not 3" in r["error"]["msg"],
          "the error says how many match now", raw)
    r, raw = ok({"op": "queue.list", "campaign": camp})
    eq(len(r["items"]), 4, "nothing decided")
    body = {k: v for k, v in req.items() if k != "op"}
    r, raw = http().json("POST", "/v1/queue/decide", dict(body, count=4))
    eq(r["count"], 4, "four decided")
    check(set(rids) <= {i["id"] for i in r["items"]}, "the ones shown", raw)
    r, raw = ok({"op": "queue.list", "campaign": camp})
    eq(r["items"], [], "none open")
    # the same through refguardctl
    more = reviews(2, campaign=camp)
    d = daemon()
    rc, out, err = d.ctl("--json", "queue", "decide", "--campaign", camp,
                         "--count", "1", "--decision", "approve", "--by",
                         "fay")
    eq(rc, 1, "a stale count fails (%s)" % out)
    rc, out, err = d.ctl("--json", "queue", "decide", "--campaign", camp,
                         "--count", "2", "--decision", "approve", "--by",
                         "fay")
    eq(rc, 0, "queue decide by filter (%s)" % err)
    eq(sorted(i["id"] for i in json.loads(out)["items"]), sorted(more),
       "the two decided")
    rc, out, err = d.ctl("queue", "decide", "--campaign", camp,
                         "--decision", "approve", "--by", "fay")
    eq(rc, 2, "a filter without --count is a usage error")
    for bad, field in (({"filter": f}, "count"),
                       ({"filter": f, "count": 1, "id": rids[0]}, "filter"),
                       ({"filter": {"sort": "score"}, "count": 1}, "filter.sort"),
                       ({"id": rids[0], "count": 1}, "count")):
        r, raw = call(dict({"op": "queue.decide", "decision": "void",
                            "by": "fay"}, **bad))
        rgtest.is_error(r, "bad_request", field, raw=raw)


@T.case("queue errors name the problem")
def _():
    for req, code, field in (
            ({"op": "queue.list", "state": "shut"}, "bad_request", "state"),
            ({"op": "queue.list", "sort": "oldest"}, "bad_request", "sort"),
            ({"op": "queue.list", "cursor": "s1.2"}, "bad_request",
             "cursor"),
            ({"op": "queue.list", "limit": 0}, "bad_request", "limit"),
            ({"op": "queue.list", "since": "soon"}, "bad_request", "since"),
            ({"op": "queue.list", "what": 1}, "bad_request", "what"),
            ({"op": "queue.get"}, "bad_request", "id"),
            ({"op": "queue.get", "id": "q-none"}, "not_found", None),
            ({"op": "queue.claim", "id": "q-none"}, "bad_request", "by"),
            ({"op": "queue.decide", "id": "q-none", "by": "a"},
             "bad_request", "decision"),
            ({"op": "queue.decide", "id": "q-none", "by": "a",
              "decision": "maybe"}, "bad_request", "decision"),
            ({"op": "queue.decide", "decision": "void", "by": "a"},
             "bad_request", "id"),
            ({"op": "queue.decide", "ids": [], "decision": "void",
              "by": "a"}, "bad_request", "ids"),
            ({"op": "queue.decide", "id": "q-none", "decision": "void",
              "by": "a"}, "not_found", None)):
        r, raw = call(req)
        rgtest.is_error(r, code, field, raw=raw)
    r, raw = ok({"op": "ping"})
    eq(r, {"ok": True}, "still serving")


@T.case("stats and /metrics count the queue by state, across a restart")
def _():
    d = rgtest.Daemon("qcount", rules="classic")
    d.conf["http_listen"] = os.path.join(d.dir, "http.sock")
    d.write_conf()
    d.start()
    daemon.use(d)
    h = http()

    def counts():
        st = d.stats()["store"]
        return (st["queue_open"], st["queue_claimed"], st["queue_decided"])

    eq(counts(), (0, 0, 0), "an empty queue")
    rids = reviews(3)
    eq(counts(), (3, 0, 0), "three review verdicts")
    ok({"op": "queue.claim", "id": rids[0], "by": "ana"})
    eq(counts(), (2, 1, 0), "one claimed")
    ok({"op": "queue.decide", "ids": [rids[0], rids[1]], "decision": "void",
        "by": "ana"})
    eq(counts(), (1, 0, 2), "two decided, one of them claimed before")
    d.restart()
    eq(counts(), (1, 0, 2), "after a restart")
    status, _, body = h("GET", "/metrics")
    eq(status, 200, "/metrics")
    text = body.decode()
    for name, want in (("queue_open", 1), ("queue_claimed", 0),
                       ("queue_decided", 2)):
        line = "refguard_%s %d" % (name, want)
        check(line in text.split("\n"), "/metrics has %r" % line,
              [x for x in text.split("\n") if "queue" in x])
    d.stop()


if __name__ == "__main__":
    sys.exit(T.main())
