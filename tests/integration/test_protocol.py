#!/usr/bin/env python3
"""The NDJSON protocol against a running refguardd (DESIGN.md, "Wire
protocol"): verdict shape, pipelining and order, idempotent ids, strict
request errors that keep the connection, line and connection limits,
verdict / explain / observe / stats."""

import json
import os
import re
import resource
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rgtest  # noqa: E402
from rgtest import Client, Closed, check, check_req, eq, is_error, \
    verdict_shape  # noqa: E402

T = rgtest.Suite("test_protocol")
ids = rgtest.Ids("p")
D = {}  # the shared daemon (started by the first case)


def daemon():
    if "d" not in D or not D["d"].alive():
        D["d"] = rgtest.Daemon("proto")
        D["d"].persistent = True        # shared by the cases below
        D["d"].start()
    return D["d"]


def clean_check(rid=None, ts=None):
    return check_req(rid or ids.id(),
                     {"account": ids.account(), "ip": ids.ip(),
                      "device": ids.device()},
                     {"account": ids.account(), "ip": ids.ip(),
                      "device": ids.device()}, ts=ts)


@T.case("ping")
def _():
    d = daemon()
    with d.client() as c:
        r, raw = c.call({"op": "ping"})
        eq(r, {"ok": True}, "ping reply")


@T.case("check returns a full verdict")
def _():
    d = daemon()
    ts = rgtest.now_ms() - 3600 * 1000
    req = clean_check("p-first-1", ts=ts)
    req["campaign"] = "spring"
    req["reward"] = {"amount": 10, "currency": "EUR"}
    with d.client() as c:
        v, raw = c.call(req)
    verdict_shape(v, raw)
    eq(v["id"], "p-first-1", "verdict id")
    eq(v["action"], "allow", "clean referral action")
    eq(v["reasons"], [], "clean referral reasons")
    check(re.match(r"^[0-9a-f]{8,}$", v["ruleset"]) is not None,
          "ruleset is not a hex hash", raw)
    st = d.stats()
    eq(v["ruleset"], st["ruleset"]["hash"], "verdict ruleset vs stats")
    # ts: the event's own time, given as Unix ms, echoed as RFC 3339.
    import datetime
    want = datetime.datetime.fromtimestamp(
        ts / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    check(v["ts"].startswith(want), "verdict ts is not the event's "
          "time %s" % want, raw)
    # RFC 3339 ts with an offset
    v2, raw2 = d.call(check_req("p-first-2", {"account": ids.account()},
                                {"account": ids.account()},
                                ts=rgtest.now_ms() - 60000))
    verdict_shape(v2, raw2)


@T.case("a reason names the score group it counts in; the score adds "
        "each group up to its cap")
def _():
    d = daemon()
    r, raw = d.call({"op": "rules"})
    groups = {e["rule"]: (e["group"], e.get("group_cap"))
              for e in r["rules"] if "group" in e}
    check(groups.get("self_referral.same_phone", ("",))[0] == "household",
          "the shipped set has a household group", raw)
    # The referee gives the referrer's phone and a form of its Gmail
    # address: household evidence and a rule that counts alone.
    n = ids.next()
    phone = "+44 7700 900%03d" % (n % 1000)
    v, raw = d.call(check_req(ids.id(), {"account": ids.account(),
                                         "phone": phone,
                                         "email": "jo.grp%d@gmail.com" % n},
                              {"account": ids.account(), "phone": phone,
                               "email": "jogrp%d@googlemail.com" % n}))
    verdict_shape(v, raw)
    names = rgtest.rule_names(v["reasons"])
    check("self_referral.same_phone" in names and
          "self_referral.same_email" in names, "the two rules fired", raw)
    sums, alone = {}, 0
    for h in v["reasons"]:
        eq(h.get("group"), groups.get(h["rule"], (None,))[0],
           "the group of reason %s, as the rules op lists it" % h["rule"])
        if "group" in h:
            sums[h["group"]] = sums.get(h["group"], 0) + h["score"]
        else:
            alone += h["score"]
    caps = {g: c for g, c in groups.values()}
    want = alone + sum(min(s, caps[g]) if caps[g] is not None else s
                       for g, s in sums.items())
    eq(v["score"], want, "the score: ungrouped reasons plus each group "
       "up to its cap")
    rc, out, err = d.ctl("verdict", v["id"])
    eq(rc, 0, "refguardctl verdict exit status (%s)" % err)
    row = [l for l in out.splitlines()
           if l.split()[:1] == ["self_referral.same_phone"]]
    check(len(row) == 1 and "(household)" in row[0], "refguardctl names "
          "a reason's group", out)


@T.case("pipelined burst of 10,000 checks, replies in order", timeout=120)
def _():
    d = daemon()
    base = rgtest.now_ms() - 7200 * 1000
    n = 10000
    reqs = []
    for i in range(n):
        reqs.append(check_req("burst-%05d" % i,
                              {"account": "burst-r-%d" % (i % 997)},
                              {"account": "burst-e-%d" % i},
                              ts=base + i))
    with d.client(timeout=60) as c:
        out = c.pipeline(reqs)
        eq(len(out), n, "number of replies")
        for i, raw in enumerate(out):
            v = json.loads(raw)
            if v.get("id") != "burst-%05d" % i or "error" in v:
                raise rgtest.Fail("reply %d out of order or failed: %s" %
                                  (i, rgtest.short(raw)))
        # the connection still serves
        r, raw = c.call({"op": "ping"})
        eq(r, {"ok": True}, "ping after the burst")


@T.case("repeated id returns the stored verdict, counts nothing")
def _():
    d = daemon()
    req = clean_check(ts=rgtest.now_ms() - 1000)
    with d.client() as c:
        v1, raw1 = c.call(req)
        verdict_shape(v1, raw1)
        ev1 = d.stats()["store"]["events"]
        # the same id again: even with other content, the stored answer
        again = dict(req)
        again["referee"] = dict(req["referrer"])
        again["referee"]["account"] = ids.account()
        v2, raw2 = c.call(req)
        v3, raw3 = c.call(again)
        eq(raw2, raw1, "verdict bytes on a repeated id")
        eq(raw3, raw1, "verdict bytes on a repeated id with other content")
        st = d.stats()
        eq(st["store"]["events"], ev1, "store.events after repeats")
        check(st["checks"]["replayed"] >= 2, "checks.replayed not counted",
              json.dumps(st["checks"]))


# Each bad request: (name, line, code, field or None for "no field").
def bad_requests():
    ok_ref = {"account": ids.account()}
    ok_ree = {"account": ids.account()}
    now = rgtest.now_ms()
    return [
        ("malformed JSON", '{"op":"check","id":"x",', "bad_json", None),
        ("not an object", '[1,2,3]', "bad_request", None),
        ("referee.ip as number", rgtest.jdump(check_req(
            ids.id(), ok_ref, {"account": ids.account(), "ip": 12345})),
         "bad_request", "referee.ip"),
        ("referee.ip not an address", rgtest.jdump(check_req(
            ids.id(), ok_ref, {"account": ids.account(), "ip": "1.2.3"})),
         "bad_request", "referee.ip"),
        ("missing id", rgtest.jdump({"op": "check", "referrer": ok_ref,
                                     "referee": ok_ree}),
         "bad_request", "id"),
        ("missing referrer", rgtest.jdump({"op": "check", "id": ids.id(),
                                           "referee": ok_ree}),
         "bad_request", "referrer"),
        ("missing referee account", rgtest.jdump(check_req(
            ids.id(), ok_ref, {"email": "a@example.org"})),
         "bad_request", "referee.account"),
        ("unknown op", '{"op":"chekc","id":"x"}', "unknown_op", "op"),
        ("missing op", '{"id":"x"}', "bad_request", "op"),
        ("unknown party field", rgtest.jdump(check_req(
            ids.id(), ok_ref, {"account": ids.account(),
                               "emial": "a@example.org"})),
         "bad_request", "referee.emial"),
        ("unknown top-level field", rgtest.jdump(dict(check_req(
            ids.id(), ok_ref, ok_ree), refferer={})),
         "bad_request", "refferer"),
        ("empty line", "", "bad_request", None),
        ("invalid ts", rgtest.jdump(check_req(
            ids.id(), ok_ref, ok_ree, ts="yesterday")), "bad_request", "ts"),
        ("ts as boolean", rgtest.jdump(check_req(
            ids.id(), ok_ref, ok_ree, ts=True)), "bad_request", "ts"),
        ("ts before the retention horizon", rgtest.jdump(check_req(
            ids.id(), ok_ref, ok_ree, ts=now - 400 * 86400 * 1000)),
         "bad_request", "ts"),
        ("ts far in the future", rgtest.jdump(check_req(
            ids.id(), ok_ref, ok_ree, ts=now + 30 * 86400 * 1000)),
         "bad_request", "ts"),
        ("observe without kind", rgtest.jdump(
            {"op": "observe", "account": ids.account()}),
         "bad_request", "kind"),
        ("observe bad kind", rgtest.jdump(
            {"op": "observe", "kind": "referral", "account": ids.account()}),
         "bad_request", "kind"),
        ("verdict without id", '{"op":"verdict"}', "bad_request", "id"),
        ("duplicate key", '{"op":"ping","op":"ping"}', "bad_json", None),
        ("control character in id", rgtest.jdump(check_req(
            "a\nb", ok_ref, ok_ree)), "bad_request", "id"),
        ("id too long", rgtest.jdump(check_req(
            "i" * 5000, ok_ref, ok_ree)), "bad_request", "id"),
        ("deep nesting", "[" * 30000, "bad_json", None),
        ("NUL byte", b'{"op":"ping"}\x00', "bad_json", None),
        ("invalid UTF-8", b'{"op":"check","id":"\xff\xfe"}', "bad_json",
         None),
        ("device attribute as object", rgtest.jdump(check_req(
            ids.id(), ok_ref, {"account": ids.account(),
                               "device": {"ua": {"x": 1}}})),
         "bad_request", "referee.device.ua"),
        ("self-referral by account", rgtest.jdump(check_req(
            ids.id(), {"account": "same-acct"}, {"account": "same-acct"})),
         "bad_request", "referee.account"),
    ]


@T.case("bad requests get an error naming the field; connection lives")
def _():
    d = daemon()
    fails = []
    with d.client() as c:
        for name, line, code, field in bad_requests():
            try:
                c.send(line)
                r, raw = c.read()
                e = is_error(r, code, raw=raw)
                if field is not None:
                    check(e.get("field") == field,
                          "expected field %r" % field, raw)
                # The same connection then serves a valid request.
                v, raw2 = c.call(clean_check(ts=rgtest.now_ms() - 5000))
                verdict_shape(v, raw2)
            except (rgtest.Fail, Closed, OSError) as ex:
                fails.append("%s: %s" % (name, ex))
                c.close()
                c.__init__(d.sock)
    check(not fails, "%d of %d bad requests mishandled:\n    %s" % (
        len(fails), len(bad_requests()), "\n    ".join(fails)))
    st = d.stats()
    check(st["errors"]["bad_request"] > 0 and st["errors"]["bad_json"] > 0
          and st["errors"]["unknown_op"] > 0, "errors not counted in stats",
          json.dumps(st["errors"]))


@T.case("error replies echo a readable id")
def _():
    d = daemon()
    r, raw = d.call(check_req("p-echo-1", {"account": ids.account()},
                              {"account": ids.account(), "ip": 7}))
    is_error(r, "bad_request", "referee.ip", raw)
    eq(r.get("id"), "p-echo-1", "id echoed in the error")


@T.case("oversize line: line_too_long, then the connection closes")
def _():
    d = rgtest.Daemon("maxline", conf={"max_line": "4k"}).start()
    with d.client() as c:
        v, raw = c.call(clean_check(ts=rgtest.now_ms() - 1000))
        verdict_shape(v, raw)
        big = {"op": "check", "id": "big", "referrer": {"account": "a"},
               "referee": {"account": "b"}, "campaign": "x" * 10000}
        c.send(big)
        r, raw = c.read()
        is_error(r, "line_too_long", raw=raw)
        check(c.at_eof(), "connection still open after line_too_long")
    # a line just under the limit is fine; the daemon still serves
    with d.client() as c:
        r, raw = c.call({"op": "ping"})
        eq(r, {"ok": True}, "ping on a new connection")
        # no newline at all: the limit applies to a partial line too
        c.send_raw(b"{" + b" " * 9000)
        r, raw = c.read()
        is_error(r, "line_too_long", raw=raw)
        check(c.at_eof(), "connection still open after a partial "
              "oversize line")
    st = d.stats()
    eq(st["errors"]["line_too_long"], 2, "stats errors.line_too_long")
    d.stop()


@T.case("1,000 concurrent connections all served", timeout=120)
def _():
    d = daemon()
    n = 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 100:
        want = min(hard, n + 200) if hard != resource.RLIM_INFINITY \
            else n + 200
        if want < n + 100:
            raise rgtest.Skip("file descriptor limit %d too low" % hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    conns = []
    try:
        for i in range(n):
            conns.append(Client(d.sock, timeout=30))
        base = rgtest.now_ms() - 600 * 1000
        for i, c in enumerate(conns):
            c.send(check_req("conc-%04d" % i, {"account": "conc-r-%d" % i},
                             {"account": "conc-e-%d" % i}, ts=base + i))
        st = d.stats()
        check(st["connections"] >= n, "stats.connections below %d" % n,
              st["connections"])
        for i, c in enumerate(conns):
            v, raw = c.read()
            check(v.get("id") == "conc-%04d" % i and "error" not in v,
                  "connection %d reply" % i, raw)
    finally:
        for c in conns:
            c.close()


@T.case("connections beyond max_connections get too_many_connections")
def _():
    d = rgtest.Daemon("maxconn", conf={"max_connections": 5}).start()
    conns = [Client(d.sock) for _ in range(5)]
    try:
        for c in conns:     # all five accepted and served
            r, raw = c.call({"op": "ping"})
            eq(r, {"ok": True}, "ping within the limit")
        extra = Client(d.sock)
        try:
            r, raw = extra.read()
        except Closed:
            raise rgtest.Fail("6th connection closed without an error line")
        is_error(r, "too_many_connections", raw=raw)
        check(extra.at_eof(rgtest.IO_TIMEOUT), "6th connection not closed")
        extra.close()
        # one leaves: once the daemon has seen it go, room for another
        conns.pop().close()
        d.wait_stats(lambda st: st["connections"] == 4, "the closed "
                     "connection uncounted", via=conns[0])
        c = Client(d.sock)
        r, raw = c.call({"op": "ping"})
        eq(r, {"ok": True}, "a ping on the connection that took its place")
        conns.append(c)
        st = conns[0].call({"op": "stats"})[0]
        check(st["connections_refused"] >= 1, "connections_refused not "
              "counted", json.dumps(st)[:300])
    finally:
        for c in conns:
            c.close()
    d.stop()


@T.case("verdict: stored verdict bytes, not_found for an unknown id")
def _():
    d = daemon()
    with d.client() as c:
        v, raw = c.call(clean_check(ts=rgtest.now_ms() - 2000))
        verdict_shape(v, raw)
        r, raw2 = c.call({"op": "verdict", "id": v["id"]})
        eq(raw2, raw, "verdict op bytes")
        r, raw3 = c.call({"op": "verdict", "id": "p-no-such-id"})
        is_error(r, "not_found", raw=raw3)
        eq(r.get("id"), "p-no-such-id", "id echoed in not_found")
        r, raw4 = c.call({"op": "explain", "id": "p-no-such-id"})
        is_error(r, "not_found", raw=raw4)
        r, raw5 = c.call({"op": "ping"})
        eq(r, {"ok": True}, "ping after not_found")


@T.case("observe returns ok and a growing seq")
def _():
    d = daemon()
    acct = ids.account()
    with d.client() as c:
        r1, raw1 = c.call(rgtest.observe_req(
            "login", acct, ts=rgtest.now_ms() - 5000, ip=ids.ip(),
            email="someone@example.org", device=ids.device()))
        check(r1.get("ok") is True and isinstance(r1.get("seq"), int),
              "observe reply", raw1)
        eq(sorted(r1), ["ok", "seq"], "observe reply keys")
        r2, raw2 = c.call(rgtest.observe_req("signup", ids.account()))
        check(r2.get("ok") is True and r2.get("seq", 0) > r1["seq"],
              "second observe seq", raw2)
        for kind in ("purchase", "payout", "update"):
            r, raw = c.call(rgtest.observe_req(kind, acct,
                                               payment="pm_x_%s" % kind))
            check(r.get("ok") is True, "observe %s" % kind, raw)


@T.case("explain: verdict + facts, no raw email/IP/phone")
def _():
    d = daemon()
    raw_vals = {
        "Pii.Person+tag@gmail.com", "piiperson@gmail.com",
        "pii.person@gmail.com", "piiperson", "Pii.Person",
        "81.2.69.160", "81.2.69.161", "+44 7700 900123", "447700900123",
        "7700900123", "7700 900123", "pm_fpr_secret12", "sdk-secret-77",
        "other.person@example.org",
    }
    req = check_req(ids.id(), {
        "account": ids.account(), "email": "Pii.Person+tag@gmail.com",
        "ip": "81.2.69.160", "phone": "+44 7700 900123",
        "device": {"id": "sdk-secret-77", "ua": "Mozilla/5.0 PiiTest",
                   "tz": "Europe/London"}},
        {"account": ids.account(), "email": "other.person@example.org",
         "ip": "81.2.69.161", "payment": "pm_fpr_secret12",
         "phone": "+44 7700 900123"}, ts=rgtest.now_ms() - 3000)
    with d.client() as c:
        v, raw = c.call(req)
        verdict_shape(v, raw)
        e, eraw = c.call({"op": "explain", "id": req["id"]})
    check("error" not in e, "explain failed", eraw)
    eq(e.get("id"), req["id"], "explain id")
    eq(json.dumps(e.get("verdict"), separators=(",", ":")).encode(),
       json.dumps(json.loads(raw), separators=(",", ":")).encode(),
       "explain's verdict")
    check(isinstance(e.get("event"), dict), "explain has no event facts",
          eraw)
    ev = e["event"]
    for k in ("seq", "ts", "referrer", "referee"):
        check(k in ev, "explain event lacks %r" % k, eraw)
    check("email" in ev["referrer"].get("identities", []),
          "referrer identities lack email", eraw)
    eq(ev["referee"].get("email.domain"), "example.org",
       "referee email.domain")
    check("phone" in ev.get("shared", []), "shared identities lack phone",
          eraw)
    check(isinstance(e.get("rules"), list), "explain has no rules facts",
          eraw)
    low = eraw.decode("utf-8", "replace").lower()
    leaked = sorted(s for s in raw_vals if s.lower() in low)
    check(not leaked, "explain leaks raw identifiers %s" % leaked, eraw)
    # nor does the stored verdict
    leaked = sorted(s for s in raw_vals if s.lower() in
                    raw.decode().lower())
    check(not leaked, "verdict leaks raw identifiers %s" % leaked, raw)


@T.case("stats: requests, checks, store and ruleset")
def _():
    d = daemon()
    st = d.stats()
    for k in ("requests", "checks", "store", "ruleset", "errors",
              "connections"):
        check(k in st, "stats lacks %r" % k, json.dumps(st)[:500])
    for op in ("ping", "check", "observe", "verdict", "explain", "stats"):
        check(isinstance(st["requests"].get(op), int),
              "stats.requests.%s" % op, json.dumps(st["requests"]))
    check(st["requests"]["check"] >= 10000, "requests.check too low",
          st["requests"]["check"])
    for a in ("allow", "review", "deny", "replayed"):
        check(isinstance(st["checks"].get(a), int), "stats.checks.%s" % a,
              json.dumps(st["checks"]))
    for k in ("events", "verdicts"):
        check(isinstance(st["store"].get(k), int), "stats.store.%s" % k,
              json.dumps(st["store"]))
    check(st["store"]["verdicts"] >= 10000, "store.verdicts too low",
          st["store"]["verdicts"])
    eq(st["store"].get("sync"), "full", "store.sync")
    check(isinstance(st["ruleset"].get("hash"), str) and
          st["ruleset"].get("rules", 0) > 0, "stats.ruleset",
          json.dumps(st["ruleset"]))
    eq(st["ruleset"].get("last_reload_error"), None,
       "ruleset.last_reload_error")
    d.stop()


@T.case("half-close after a pipelined burst: every reply still comes",
        timeout=60)
def _():
    d = daemon()
    n = 5000
    base = rgtest.now_ms() - 1800 * 1000
    payload = "".join(rgtest.jdump(check_req(
        "hc-%d" % i, {"account": "hc-r-%d" % (i % 50)},
        {"account": "hc-e-%d" % i}, ts=base + i)) + "\n"
        for i in range(n)).encode()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(d.sock)
    import threading
    t = threading.Thread(target=lambda: (s.sendall(payload),
                                         s.shutdown(socket.SHUT_WR)),
                         daemon=True)
    t.start()
    data = bytearray()
    while True:
        b = s.recv(1 << 16)
        if not b:
            break
        data += b
    t.join(10)
    s.close()
    got = bytes(data).split(b"\n")
    eq(got[-1], b"", "trailing newline")
    got = got[:-1]
    eq(len(got), n, "replies after SHUT_WR")
    for i in (0, n // 2, n - 1):
        eq(json.loads(got[i]).get("id"), "hc-%d" % i, "reply %d" % i)


@T.case("a client that leaves with requests in flight harms no one",
        timeout=60)
def _():
    d = daemon()
    base = rgtest.now_ms() - 1700 * 1000
    for round_ in range(5):
        c = Client(d.sock)
        c.send_raw("".join(rgtest.jdump(check_req(
            "gone-%d-%d" % (round_, i), {"account": "gone-r"},
            {"account": "gone-e-%d-%d" % (round_, i)},
            ts=base + round_ * 3000 + i)) + "\n" for i in range(3000)))
        c.close()
    with d.client() as c:
        r, raw = c.call({"op": "ping"})
        eq(r, {"ok": True}, "ping after abandoned bursts")
        # what was read was stored whole: the first of each burst
        r, raw = c.call({"op": "verdict", "id": "gone-0-0"})
        check(r.get("id") == "gone-0-0" or
              r.get("error", {}).get("code") == "not_found",
              "verdict of an abandoned request", raw)
    check(d.alive(), "daemon died")


@T.case("a client that does not read is paused; others are served",
        timeout=60)
def _():
    d = rgtest.Daemon("slow", conf={"max_pipeline": 8,
                                    "max_outbuf": "4k"}).start()
    n = 3000
    base = rgtest.now_ms() - 1600 * 1000
    slow = Client(d.sock, timeout=30)
    import threading
    payload = "".join(rgtest.jdump(check_req(
        "slow-%d" % i, {"account": "slow-r-%d" % i},
        {"account": "slow-e-%d" % i}, ts=base + i)) + "\n"
        for i in range(n)).encode()
    t = threading.Thread(target=lambda: slow.sock.sendall(payload),
                         daemon=True)
    t.start()
    # the slow client reads nothing meanwhile: the daemon pauses it
    d.wait_stats(lambda st: st["replies"]["paused"] == 1,
                 "the client that reads nothing paused")
    with d.client(timeout=10) as c:
        for i in range(20):
            r, raw = c.call({"op": "ping"})
            eq(r, {"ok": True}, "ping while another client stalls")
        st = c.call({"op": "stats"})[0]
    check(st["requests"]["check"] < n, "the daemon read every request of "
          "a client that reads no replies (no back-pressure)",
          st["requests"]["check"])
    for i in range(n):
        v, raw = slow.read()
        if v.get("id") != "slow-%d" % i:
            raise rgtest.Fail("slow client reply %d: %s" % (
                i, rgtest.short(raw)))
    t.join(10)
    # every reply read: the daemon counts it paused no more
    d.wait_stats(lambda st: st["replies"]["paused"] == 0,
                 "the slow client no longer paused once it read its replies")
    slow.close()
    d.stop()


@T.case("idle_timeout closes idle connections only")
def _():
    import select
    d = rgtest.Daemon("idle", conf={"idle_timeout": "2s"}).start()
    idle = Client(d.sock)
    busy = Client(d.sock)
    # busy pings every 0.1 s (1.9 s to spare) until the daemon closes the
    # idle one: no bound on when, only on what
    while not select.select([idle.sock], [], [], 0.1)[0]:
        r, raw = busy.call({"op": "ping"})
        eq(r, {"ok": True}, "ping on a busy connection")
    r, raw = busy.call({"op": "ping"})
    eq(r, {"ok": True}, "ping on the busy connection after the idle one's "
       "close")
    check(idle.at_eof(rgtest.IO_TIMEOUT), "idle connection answered but "
          "not closed")
    check(b"idle_timeout" in bytes(idle.buf), "no idle_timeout error line",
          bytes(idle.buf))
    idle.close()
    busy.close()
    st = d.stats()
    eq(st["errors"].get("idle_timeout"), 1, "stats errors.idle_timeout")
    d.stop()


@T.case("TERM with idle and half-sent connections exits promptly")
def _():
    d = rgtest.Daemon("termidle").start()
    conns = [Client(d.sock) for _ in range(5)]
    conns[0].send_raw('{"op":"pi')      # half a line
    r, raw = conns[1].call({"op": "ping"})
    # the daemon has them all, the half line read or not
    d.wait_stats(lambda st: st["connections"] == 6, "5 connections and "
                 "the one asking")
    d.stop()
    # nothing was owed to them: the drain ended as soon as it looked, not
    # when it gave up on them after 30 s
    check("gave up waiting" not in d.stderr(), "the drain waited for idle "
          "clients", d.stderr()[-1000:])
    for c in conns:
        check(c.at_eof(rgtest.IO_TIMEOUT), "connection not closed at exit")
        c.close()


@T.case("TERM with connections still in the listen queue: each gets an "
        "answer or a stopping error, never a reset or silence")
def _():
    import signal
    d = rgtest.Daemon("termq").start()
    # Stopped, the daemon accepts nothing: the connections wait in the
    # listen queue when it sees TERM.
    os.kill(d.proc.pid, signal.SIGSTOP)
    socks = []
    try:
        for k in range(20):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(20)
            s.connect(d.sock)
            s.sendall(b'{"op":"ping"}\n')
            socks.append(s)
        d.signal(signal.SIGTERM)
    finally:
        os.kill(d.proc.pid, signal.SIGCONT)
    d.wait(0)
    outcomes = {}
    for k, s in enumerate(socks):
        data = b""
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
        except ConnectionResetError:
            raise rgtest.Fail("connection %d was reset, not refused "
                              "(after %r)" % (k, data))
        s.close()
        check(data != b"", "connection %d closed without a word" % k)
        if True:
            v = json.loads(data.split(b"\n")[0])
            if "error" in v:
                is_error(v, "stopping", raw=data)
                what = "stopping"
            else:
                eq(v, {"ok": True}, "a ping answered")
                what = "answered"
        outcomes[what] = outcomes.get(what, 0) + 1
    check(not os.path.exists(d.sock), "the socket file is left behind")
    print("     %s" % ", ".join("%d %s" % (n, w) for w, n in
                                sorted(outcomes.items())))


@T.case("CRLF line endings and a last line without newline")
def _():
    d = rgtest.Daemon("crlf").start()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(rgtest.IO_TIMEOUT)
    s.connect(d.sock)
    s.sendall(b'{"op":"ping"}\r\n{"op":"ping"}')
    s.shutdown(socket.SHUT_WR)
    data = b""
    while True:
        b = s.recv(4096)
        if not b:
            break
        data += b
    s.close()
    eq(data, b'{"ok":true}\n{"ok":true}\n', "replies")
    d.stop()


@T.case("a line of exactly max_line bytes, with LF or CRLF, is served")
def _():
    d = rgtest.Daemon("maxcrlf", conf={"max_line": "4k"}).start()

    def ping(n):
        """A ping line of exactly n bytes (no newline)."""
        return b'{"op":"ping"' + b" " * (n - 13) + b"}"

    with d.client() as c:
        for end in (b"\n", b"\r\n"):
            c.send_raw(ping(4096) + end)
            r, raw = c.read()
            eq(r, {"ok": True}, "a 4096-byte line ended by %r" % end)
        # the CR and the LF in separate writes: the CR waits for its LF
        c.send_raw(ping(4096) + b"\r")
        c.send_raw(b"\n")
        r, raw = c.read()
        eq(r, {"ok": True}, "a 4096-byte line, CR and LF apart")
        # one byte more is too long, whatever ends it
        c.send_raw(ping(4097) + b"\r\n")
        r, raw = c.read()
        is_error(r, "line_too_long", raw=raw)
    eq(d.stats()["errors"]["line_too_long"], 1, "stats errors.line_too_long")
    d.stop()


if __name__ == "__main__":
    sys.exit(T.main())
