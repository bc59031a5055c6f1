#!/usr/bin/env python3
"""The analyst's tools against a running refguardd: a recheck
after new evidence (the referee's device on new accounts, a chargeback)
turns an allow into a deny, says why and is kept as a new version while
the check's replay keeps its bytes; explain lists the rechecks and since
when the parties are linked; feedback errors name the field; runtime list
entries match at once, stop matching at expiry and are purged, and the
log says who and why; lists import; raw list values never reach the
store; a backtest of an edited rule file shows which referrals change
and, with labels, the precision and recall."""

import json
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rgtest  # noqa: E402
from rgtest import check, check_req, eq, observe_req  # noqa: E402

T = rgtest.Suite("test_analyst")
ids = rgtest.Ids("an")
daemon = rgtest.Shared("an")
call, ok = daemon.call, daemon.ok


@T.case("recheck: the referee's device on new accounts turns allow into deny")
def _():
    dev = ids.device()
    rid = ids.id()
    v, raw_check = ok(check_req(rid, {"account": ids.account()},
                                {"account": ids.account(), "device": dev}))
    eq(v["action"], "allow", "the referral looks fine at signup")
    # later: the same device signs up three more referee accounts
    for _ in range(3):
        ok(check_req(ids.id(), {"account": ids.account()},
                     {"account": ids.account(), "device": dev}))
    r, raw = ok({"op": "recheck", "id": rid})
    eq(r["action"], "deny", "recheck action")
    eq(r["version"], 2, "version")
    eq(r["previous"], {"action": "allow", "score": 0, "version": 1},
       "previous")
    eq(r["changed"], True, "changed")
    eq(r["newly_matched"], ["farm.referee_device"], "newly matched")
    eq(r["no_longer_matched"], [], "no longer matched")
    check("farm.referee_device" in rgtest.rule_names(r["reasons"]),
          "the reason is given", raw)
    # verdict: the latest version; check replay: the original bytes
    v2, raw2 = ok({"op": "verdict", "id": rid})
    eq((v2["action"], v2["version"]), ("deny", 2), "verdict is the latest")
    with daemon().client() as c:
        c.send(check_req(rid, {"account": "x"}, {"account": "y"}))
        eq(c.read()[1], raw_check, "check replay: the original bytes")
    # a second recheck with nothing new: unchanged, version 3
    r3, raw = ok({"op": "recheck", "id": rid})
    eq((r3["version"], r3["changed"], r3["previous"]["version"]),
       (3, False, 2), "second recheck")
    # explain: both rechecks, with the counts they saw
    x, raw = ok({"op": "explain", "id": rid})
    eq(x["version"], 3, "explain version")
    eq([c["version"] for c in x["rechecks"]], [2, 3], "rechecks listed")
    eq(x["rechecks"][0]["newly_matched"], ["farm.referee_device"],
       "explain: what changed")
    eq(x["verdict"]["action"], "allow", "explain: the check's verdict")
    rule = [e for e in x["rechecks"][0]["rules"]
            if e["rule"] == "farm.referee_device"][0]
    eq(rule["matched"], True, "recheck rule matched")
    eq(rule["facts"][0]["left"]["value"], 4, "the count it saw")


@T.case("recheck after a chargeback: allow becomes deny, via refguardctl")
def _():
    d = daemon()
    rid, ref = ids.id(), ids.account()
    pm = "pm_card_%d" % ids.next()
    v, _ = ok(check_req(rid, {"account": ids.account()},
                        {"account": ref, "payment": pm}))
    eq(v["action"], "allow", "before")
    rc, out, err = d.ctl("--json", "feedback", "--account", ref, "--label",
                         "chargeback", "--note", "disputed", "--by", "pay")
    eq(rc, 0, "feedback exit status (%s)" % err)
    fb = json.loads(out)
    check(fb["ok"] and fb["identities"] >= 2, "labels the account and its "
          "payment", out)
    st = d.stats()["store"]
    check(st["feedback"] >= 1 and st["labels"] >= fb["identities"],
          "stats count feedback records and labels", st)
    rc, out, err = d.ctl("--json", "recheck", rid)
    eq(rc, 0, "recheck exit status (%s)" % err)
    r = json.loads(out)
    eq((r["action"], r["changed"]), ("deny", True), "recheck")
    eq(r["newly_matched"], ["feedback.confirmed_fraud"], "the reason")
    # the human form says the same: version, previous, changed, the rule
    rc, out, err = d.ctl("verdict", rid)
    check(re.search(r"(?m)^version +2, rechecked at ", out),
          "verdict of a rechecked referral shows its version", out)
    rc, out, err = d.ctl("recheck", rid)
    eq(rc, 0, "human recheck exit status (%s)" % err)
    for want in (r"(?m)^version +3, rechecked at ",
                 r"(?m)^previous +deny, score \d+ \(version 2\)",
                 r"(?m)^changed +no$",
                 r"(?m)^newly matched +-$"):
        check(re.search(want, out), "human recheck lacks %r" % want, out)
    # the label shows in explain: which identity and which feedback
    x, raw = ok({"op": "explain", "id": rid})
    e = [e for e in x["rechecks"][0]["rules"]
         if e["rule"] == "feedback.confirmed_fraud"][0]
    found = [f for f in e["facts"] if f["result"]][0]["found"]
    eq((found["kind"], found["feedback"]), ("account", fb["feedback"]),
       "explain names the labelled identity and its feedback")
    # a new referral paying with the same card is denied at once
    v, _ = ok(check_req(ids.id(), {"account": ids.account()},
                        {"account": ids.account(), "payment": pm}))
    eq(v["action"], "deny", "the card carries the label")


@T.case("recheck as of a time: NDJSON and refguardctl --ts; not before "
        "the referral")
def _():
    d = daemon()
    day = 86400000
    t0 = rgtest.now_ms() - 10 * day
    rid = ids.id()
    ok(check_req(rid, {"account": ids.account()},
                 {"account": ids.account()}, ts=t0))
    at = t0 + 3 * day
    r, raw = ok({"op": "recheck", "id": rid, "ts": at})
    eq(r["rechecked_at"], rgtest.rfc3339(at), "rechecked as of the ts")
    eq(r["version"], 2, "a new version")
    r, raw = ok({"op": "recheck", "id": rid,
                 "ts": rgtest.rfc3339(t0 + 4 * day)})
    eq(r["rechecked_at"], rgtest.rfc3339(t0 + 4 * day), "RFC 3339 ts")
    r, raw = call({"op": "recheck", "id": rid, "ts": t0 - 1})
    rgtest.is_error(r, "bad_request", "ts", raw=raw)
    check("before the referral" in r["error"]["msg"] and
          rgtest.rfc3339(t0) in r["error"]["msg"],
          "the error says the referral's time", raw)
    # the refused one stored nothing: still two rechecks
    x, raw = ok({"op": "explain", "id": rid})
    eq([c["version"] for c in x["rechecks"]], [2, 3], "versions")
    rc, out, err = d.ctl("--json", "recheck", rid, "--ts",
                         str(t0 + 5 * day))
    eq(rc, 0, "refguardctl recheck --ts exit status (%s)" % err)
    eq(json.loads(out)["rechecked_at"], rgtest.rfc3339(t0 + 5 * day),
       "refguardctl --ts as milliseconds")
    rc, out, err = d.ctl("--json", "recheck", "--ts",
                         rgtest.rfc3339(t0 + 6 * day), rid)
    eq(rc, 0, "refguardctl --ts before the id (%s)" % err)
    eq(json.loads(out)["rechecked_at"], rgtest.rfc3339(t0 + 6 * day),
       "refguardctl --ts as RFC 3339")
    rc, out, err = d.ctl("recheck", rid, "--ts", "yesterday")
    eq(rc, 1, "refguardctl --ts of a bad time fails")
    check("ts" in out + err, "the error names ts", out, err)


@T.case("feedback and recheck errors name the problem")
def _():
    for req, code, field in (
            ({"op": "feedback", "id": "an-none", "label": "fraud"},
             "not_found", None),
            ({"op": "feedback", "id": "a", "label": "evil"}, "bad_request",
             "label"),
            ({"op": "feedback", "id": "a", "account": "b", "label": "fraud"},
             "bad_request", "account"),
            ({"op": "feedback", "label": "fraud"}, "bad_request", "id"),
            ({"op": "feedback", "id": "a", "label": "fraud", "note": "x" *
              2000}, "bad_request", "note"),
            ({"op": "recheck", "id": "an-none"}, "not_found", None),
            ({"op": "recheck"}, "bad_request", "id"),
            ({"op": "recheck", "id": "a", "ts": "soon"}, "bad_request",
             "ts"),
            ({"op": "recheck", "id": "a", "at": 1}, "bad_request", "at"),
            ({"op": "list.add", "list": "blocked_emails"}, "bad_request",
             "value"),
            ({"op": "list.add", "list": "no_such", "value": "a"},
             "bad_request", "kind"),
            ({"op": "list.add", "list": "blocked_emails", "value": "nope"},
             "bad_request", "value"),
            ({"op": "list.add", "list": "blocked_emails", "value": "a@b.c",
              "kind": "phone"}, "bad_request", "kind"),
            ({"op": "list.add", "list": "bad name", "value": "a"},
             "bad_request", "list"),
            ({"op": "list.add", "list": "blocked_ips", "value": "10.0.0.0/7"},
             "bad_request", "value"),
            ({"op": "list.add", "list": "blocked_emails", "value": "a@b.c",
              "expires": "2001-01-01T00:00:00Z"}, "bad_request", "expires"),
            ({"op": "list.del", "list": "blocked_emails",
              "value": "nobody@example.org"}, "not_found", None),
            ({"op": "list.log", "limit": 0}, "bad_request", "limit")):
        r, raw = call(req)
        rgtest.is_error(r, code, field, raw=raw)
    # A value without the kind it is listed as says why, as rules do.
    r, raw = call({"op": "list.add", "list": "no_such", "kind": "email.name",
                   "value": "anna1987@example.com"})
    rgtest.is_error(r, "bad_request", "value", raw=raw)
    check("6 letters" in r["error"]["msg"], "the reason given", raw)


@T.case("lists: entries match at once, expire, are purged; the log says who")
def _():
    d = daemon()
    email = "Expiring.%d+x@example.org" % ids.next()
    r, raw = ok({"op": "list.add", "list": "blocked_emails", "value": email,
                 "expires": "3s", "reason": "ticket 12", "by": "ann"})
    eq((r["kind"], r["replaced"], r["members"]), ("email", False, 1),
       "add reply")
    check("expiring" not in raw.decode().lower(),
          "the raw value is not echoed", raw)
    v, raw = ok(check_req(ids.id(), {"account": ids.account()},
                          {"account": ids.account(), "email": email}))
    eq(v["action"], "deny", "listed email denied")
    eq(rgtest.rule_names(v["reasons"]), ["lists.blocked_referee"], "reason")
    g, raw = ok({"op": "list.get", "list": "blocked_emails",
                 "value": email})
    eq((g["found"], g["reason"], g["by"], g["expired"]),
       (True, "ticket 12", "ann", False), "get")
    time.sleep(3.2)
    v, raw = ok(check_req(ids.id(), {"account": ids.account()},
                          {"account": ids.account(), "email": email}))
    eq(v["action"], "allow", "no match once expired")
    # the retention pass purges it (every second) and logs it
    deadline = time.monotonic() + rgtest.IO_TIMEOUT
    while True:
        g, raw = ok({"op": "list.get", "list": "blocked_emails",
                     "value": email})
        if not g["found"] or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    eq(g["found"], False, "purged")
    # a network, a delete, and the log newest first
    ok({"op": "list.add", "list": "blocked_ips", "value": "203.0.113.0/24",
        "reason": "proxy farm", "by": "bob"})
    v, raw = ok(check_req(ids.id(), {"account": ids.account()},
                          {"account": ids.account(), "ip": "203.0.113.77"}))
    eq(v["action"], "deny", "address in a listed network")
    g, raw = ok({"op": "list.get", "list": "blocked_ips",
                 "value": "203.0.113.9"})
    eq((g["found"], g.get("via"), g["cidr"]), (True, "cidr", 24),
       "get of an address in a network")
    rc, out, err = d.ctl("lists", "del", "blocked_ips", "203.0.113.0/24",
                         "--reason", "false positive", "--by", "carol")
    eq(rc, 0, "lists del (%s)" % err)
    v, raw = ok(check_req(ids.id(), {"account": ids.account()},
                          {"account": ids.account(), "ip": "203.0.113.78"}))
    eq(v["action"], "allow", "deleted network")
    rc, out, err = d.ctl("--json", "lists", "log", "--limit", "50")
    eq(rc, 0, "lists log (%s)" % err)
    log = json.loads(out)["entries"]
    eq([(e["list"], e["action"], e["by"], e["reason"]) for e in log[:4]],
       [("blocked_ips", "del", "carol", "false positive"),
        ("blocked_ips", "add", "bob", "proxy farm"),
        ("blocked_emails", "expire", "refguardd", "expired"),
        ("blocked_emails", "add", "ann", "ticket 12")], "log, newest first")
    st = d.stats()["store"]
    # both entries went (one deleted, one expired): no key is left
    check(st["list_log"] >= 4 and st["list_entries"] == 0,
          "stats count list keys and the audit log", st)
    rc, out, err = d.ctl("lists", "log", "--limit", "50")
    rows = [l.split() for l in out.splitlines()]
    eq(rows[0][:6], ["LOG", "TIME", "LIST", "ACTION", "VALUE", "BY"],
       "lists log: a table")
    eq((rows[1][2], rows[1][3], rows[1][5], " ".join(rows[1][6:])),
       ("blocked_ips", "del", "carol", "false positive"),
       "lists log: the newest row")
    rc, out, err = d.ctl("--json", "lists", "log", "blocked_emails")
    check(all(e["list"] == "blocked_emails"
              for e in json.loads(out)["entries"]), "log of one list", out)


@T.case("lists import: values and NDJSON, a summary, bad lines named")
def _():
    d = daemon()
    path = os.path.join(d.dir, "import.txt")
    accts = [ids.account() for _ in range(3)]
    with open(path, "w") as f:
        f.write("# blocked after review\n%s\n\n%s\n" % (accts[0], accts[1]))
        f.write(json.dumps({"value": accts[2], "reason": "own reason"}) +
                "\n")
        f.write(json.dumps({"value": "x", "kind": "bogus"}) + "\n")
    rc, out, err = d.ctl("lists", "import", "blocked_accounts", path,
                         "--reason", "batch", "--by", "dave")
    eq(rc, 1, "exit status with a bad line (%s)" % err)
    check("imported 3 values" in out and "1 failed" in out, "summary", out)
    check("import.txt:6:" in err and "kind" in err, "the bad line", err)
    v, raw = ok(check_req(ids.id(), {"account": accts[2]},
                          {"account": ids.account()}))
    eq(rgtest.rule_names(v["reasons"]), ["lists.blocked_referrer"],
       "imported account denied")
    g, raw = ok({"op": "list.get", "list": "blocked_accounts",
                 "value": accts[2]})
    eq((g["reason"], g["by"]), ("own reason", "dave"), "per-line fields")


@T.case("the store never holds a raw list value")
def _():
    d = daemon()
    secret = "Never.Stored.%d@example.org" % ids.next()
    ok({"op": "list.add", "list": "blocked_emails", "value": secret})
    ok({"op": "list.add", "list": "blocked_domains",
        "value": "raw-domain-%d.example" % ids.next()})
    with open(os.path.join(d.state, "data.mdb"), "rb") as f:
        data = f.read().lower()
    for s in (secret.lower(), b"never.stored".decode(), "raw-domain-"):
        check(s.encode() not in data, "raw value %r in data.mdb" % s)


@T.case("backtest of an edited rule file against the running daemon")
def _():
    d = daemon()
    # fresh referrals: two referees on one device, one labelled fraud
    dev = ids.device()
    a, b = ids.id(), ids.id()
    for rid in (a, b):
        ok(check_req(rid, {"account": ids.account()},
                     {"account": ids.account(), "device": dev}))
    ok({"op": "feedback", "id": a, "label": "fraud", "by": "eve"})
    # the candidate: farm.referee_device at more than 1 account
    cand = os.path.join(d.dir, "cand")
    shutil.rmtree(cand, ignore_errors=True)
    shutil.copytree(rgtest.CLASSIC_RULES_DIR, cand)
    p = os.path.join(cand, "farms.rules")
    with open(p) as f:
        text = f.read()
    text = text.replace("distinct(referee.account, referee.device, 24h) > 3",
                        "distinct(referee.account, referee.device, 24h) > 1")
    with open(p, "w") as f:
        f.write(text)
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "backtest", "--rules",
                               cand, "--state", d.state, "--json",
                               "--samples", "1000"], timeout=60)
    eq(rc, 0, "backtest exit status (%s)" % err)
    bt = json.loads(out)
    changed = [c for c in bt["changes"] if c["from"] == "allow" and
               c["to"] == "deny"]
    check(changed and b in changed[0]["samples"],
          "the second referral on the device would be denied", out)
    check(a not in changed[0]["samples"], "the first would not", out)
    lab = bt["labels"]
    check(lab["positives"] >= 1, "labelled positives counted", out)
    check(isinstance(lab["candidate"]["precision"], float) or
          lab["candidate"]["precision"] is None, "precision given", out)
    check("farm.referee_device" in lab["rules"], "per-rule figures", out)
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "backtest", "--rules",
                               cand, "--state", d.state], timeout=60)
    check("precision" in out and "recall" in out, "text report", out)


if __name__ == "__main__":
    sys.exit(T.main())
