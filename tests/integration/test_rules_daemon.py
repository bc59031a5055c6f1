#!/usr/bin/env python3
"""The shipped rules (rules/*.rules) in a running refguardd: scripted
histories (observe, then checks) give exactly the expected actions,
scores and reasons; a clean referral is allowed with no reasons; rules
reload on SIGHUP and on the reload op, and a broken rule file (or one
whose embedded tests fail) keeps the old set serving and says why."""

import json
import os
import re
import shutil
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rgtest  # noqa: E402
from rgtest import check, check_req, eq, observe_req, rule_names, \
    verdict_shape  # noqa: E402

T = rgtest.Suite("test_rules_daemon")
ids = rgtest.Ids("rd")
D = {}

# Event time: near now (retention refuses old events, and the future
# beyond a day); each request one second after the previous one.
CLOCK = [rgtest.now_ms() - 20 * 3600 * 1000]


def tick(step_ms=1000):
    CLOCK[0] += step_ms
    return CLOCK[0]


def daemon():
    if "d" not in D or not D["d"].alive():
        d = rgtest.Daemon("rules", rules="classic", conf={"disposable_file": os.path.join(
            rgtest.FIXTURES, "disposable.txt")})
        d.persistent = True
        D["d"] = d.start()
    return D["d"]


LAPTOP, LAPTOP2, PHONE, FARM = rgtest.LAPTOP, rgtest.LAPTOP2, rgtest.PHONE, rgtest.FARM


def send(reqs):
    """Send requests (pipelined, with a ts each) and return replies."""
    for r in reqs:
        r.setdefault("ts", tick())
    with daemon().client(timeout=60) as c:
        out = c.pipeline(reqs)
    eq(len(out), len(reqs), "number of replies")
    res = []
    for q, raw in zip(reqs, out):
        v = json.loads(raw)
        check("error" not in v, "request %s failed" % rgtest.short(
            rgtest.jdump(q), 200), raw)
        if q["op"] == "check":
            verdict_shape(v, raw)
        res.append((v, raw))
    return res


def expect(vr, action, reasons, score=None, shadow=None, includes=None):
    v, raw = vr
    eq(v["action"], action, "action of %s (%s)" % (v["id"], raw.decode()))
    if reasons is not None:
        eq(rule_names(v["reasons"]), sorted(reasons), "reasons of %s (%s)"
           % (v["id"], raw.decode()))
    if includes is not None:
        missing = set(includes) - set(rule_names(v["reasons"]))
        check(not missing, "reasons of %s lack %s" % (v["id"], missing),
              raw)
    if score is not None:
        eq(v["score"], score, "score of %s" % v["id"])
    if shadow is not None:
        eq(rule_names(v["shadow"]), sorted(shadow), "shadow of %s" % v["id"])
    # Each reason carries the rule's action and score.
    for h in v["reasons"]:
        check(h["action"] in ("review", "deny"), "reason action", raw)
    if reasons is not None and v["reasons"]:
        eq(v["score"], sum(h["score"] for h in v["reasons"]),
           "score is the sum of the reasons' scores (%s)" % v["id"])


def acct():
    return ids.account()


@T.case("clean referral: allow, no reasons")
def _():
    r = send([check_req(ids.id(), {
        "account": acct(), "email": "alice.clean@example.org",
        "ip": ids.ip(), "device": ids.device(), "phone": "+1 202 555 0101"},
        {"account": acct(), "email": "bob.clean@example.net", "ip": ids.ip(),
         "device": ids.device(), "phone": "+1 202 555 0199",
         "payment": "pm_clean_%d" % ids.next()},
        campaign="spring", reward={"amount": 10, "currency": "EUR"})])
    expect(r[0], "allow", [], score=0, shadow=[])


@T.case("same device now: deny self_referral.same_device")
def _():
    r = send([check_req(ids.id(), {"account": acct(), "device": LAPTOP},
                        {"account": acct(), "device": LAPTOP})])
    expect(r[0], "deny", ["self_referral.same_device"], score=100)


@T.case("same device in history (observe login, then check)")
def _():
    a, b, c = acct(), acct(), acct()
    r = send([observe_req("login", a, device=LAPTOP),
              check_req(ids.id(), {"account": a, "device": PHONE},
                        {"account": b, "device": LAPTOP}),
              # a third account with no history on the laptop: no link
              check_req(ids.id(), {"account": c, "device": PHONE},
                        {"account": acct(), "device": LAPTOP})])
    expect(r[1], "deny", ["self_referral.same_device"], score=100)
    expect(r[2], "allow", [])


@T.case("same app install id (observe signup, then check)")
def _():
    a = acct()
    inst = "sdk-%d" % ids.next()
    r = send([observe_req("signup", a, device={"id": inst,
                                               "ua": "RefApp/2.1"}),
              check_req(ids.id(), {"account": a},
                        {"account": acct(), "device": {
                            "id": inst, "ua": "RefApp/2.2"}})])
    expect(r[1], "deny", ["self_referral.same_device_id"], score=100)


@T.case("normalized email: Jane.Doe+x@gmail.com vs janedoe@googlemail.com")
def _():
    n = ids.next()
    r = send([check_req(ids.id(), {"account": acct(),
                                   "email": "Jane.Doe%d+x@gmail.com" % n},
                        {"account": acct(),
                         "email": "janedoe%d@googlemail.com" % n}),
              # different mailboxes at gmail: no link
              check_req(ids.id(), {"account": acct(),
                                   "email": "jane.doe%d@gmail.com" % n},
                        {"account": acct(),
                         "email": "john.doe%d@gmail.com" % n})])
    expect(r[0], "deny", ["self_referral.same_email"], score=100)
    expect(r[1], "allow", [])


@T.case("email in history (observe update, then check)")
def _():
    n = ids.next()
    a, b = acct(), acct()
    r = send([observe_req("update", b, email="j.d%d@googlemail.com" % n),
              check_req(ids.id(), {"account": a,
                                   "email": "JD%d@gmail.com" % n},
                        {"account": b, "email": "other%d@example.org" % n})])
    expect(r[1], "deny", ["self_referral.same_email"])


@T.case("shared payment: referrer's card (observe purchase, then check)")
def _():
    a = acct()
    pm = "pm_fpr_%d" % ids.next()
    r = send([observe_req("purchase", a, payment=pm),
              check_req(ids.id(), {"account": a},
                        {"account": acct(), "payment": pm})])
    expect(r[1], "deny", ["self_referral.same_payment"], score=100)


@T.case("one card for 3 referee accounts: farm.shared_payment")
def _():
    pm = "pm_card_%d" % ids.next()
    r = send([check_req(ids.id(), {"account": acct()},
                        {"account": acct(), "payment": pm})
              for _ in range(3)])
    expect(r[0], "allow", [])
    expect(r[1], "allow", [])
    expect(r[2], "deny", ["farm.shared_payment"], score=100)


@T.case("same phone: review; with a fuzzy device too: deny by score")
def _():
    n = ids.next()
    ph = "+44 7700 9%05d" % n
    r = send([check_req(ids.id(), {"account": acct(), "phone": ph},
                        {"account": acct(), "phone": ph}),
              # two review signals (60 + 40) reach the deny threshold
              check_req(ids.id(), {"account": acct(), "phone": ph + "1",
                                   "device": LAPTOP},
                        {"account": acct(), "phone": ph + "1",
                         "device": LAPTOP2})])
    expect(r[0], "review", ["self_referral.same_phone"], score=60)
    expect(r[1], "deny", ["self_referral.same_phone",
                          "self_referral.fuzzy_device"], score=100)
    check(all(h["action"] == "review" for h in r[1][0]["reasons"]),
          "both reasons are reviews", r[1][1])


@T.case("fuzzy device: review; with a shared IP in history: deny")
def _():
    a = acct()
    ip = ids.ip()
    r = send([check_req(ids.id(), {"account": acct(), "ip": ids.ip(),
                                   "device": LAPTOP},
                        {"account": acct(), "ip": ids.ip(),
                         "device": LAPTOP2}),
              observe_req("login", a, ip=ip),
              check_req(ids.id(), {"account": a, "ip": ids.ip(),
                                   "device": LAPTOP},
                        {"account": acct(), "ip": ip, "device": LAPTOP2})])
    expect(r[0], "review", ["self_referral.fuzzy_device"], score=40)
    expect(r[2], "deny", ["self_referral.fuzzy_device",
                          "self_referral.ip_and_fuzzy_device"], score=140)


@T.case("same IP: shadow only, the verdict stays allow")
def _():
    ip = ids.ip()
    r = send([check_req(ids.id(), {"account": acct(), "ip": ip},
                        {"account": acct(), "ip": ip})])
    expect(r[0], "allow", [], score=0, shadow=["self_referral.same_ip"])


@T.case("referrer velocity: hourly, daily, extreme", timeout=90)
def _():
    ref = acct()
    reqs = [check_req(ids.id(), {"account": ref}, {"account": acct()})
            for _ in range(201)]
    r = send(reqs)
    expect(r[9], "allow", [])
    expect(r[10], "review", ["velocity.referrer_hourly"], score=30)
    expect(r[49], "review", ["velocity.referrer_hourly"], score=30)
    expect(r[50], "review", ["velocity.referrer_hourly",
                             "velocity.referrer_daily"], score=80)
    expect(r[199], "review", None, score=80)
    expect(r[200], "deny", ["velocity.referrer_hourly",
                            "velocity.referrer_daily",
                            "velocity.referrer_daily_extreme"], score=180)
    # another referrer at the same moment is not affected
    r2 = send([check_req(ids.id(), {"account": acct()},
                         {"account": acct()})])
    expect(r2[0], "allow", [])


@T.case("hourly window slides in event time")
def _():
    ref = acct()
    reqs = []
    for _ in range(11):
        reqs.append(check_req(ids.id(), {"account": ref},
                              {"account": acct()}, ts=tick(7 * 60 * 1000)))
    r = send(reqs)
    expect(r[10], "allow", [])


@T.case("device farm: 4 referee accounts on one device")
def _():
    dev = dict(FARM, canvas="farm%d" % ids.next())
    r = send([check_req(ids.id(), {"account": acct()},
                        {"account": acct(), "device": dev})
              for _ in range(4)])
    expect(r[2], "allow", [])
    expect(r[3], "deny", ["farm.referee_device"], score=100)


@T.case("one referee IP: farm.referee_ip after 5")
def _():
    ip = ids.ip()
    r = send([check_req(ids.id(), {"account": acct()},
                        {"account": acct(), "ip": ip}) for _ in range(6)])
    expect(r[4], "allow", [])
    expect(r[5], "review", ["farm.referee_ip"], score=40)


@T.case("rings: mutual referral denied, a loop of 4 reviewed")
def _():
    a, b, c, e = acct(), acct(), acct(), acct()
    r = send([check_req(ids.id(), {"account": a}, {"account": b}),
              check_req(ids.id(), {"account": b}, {"account": a})])
    expect(r[0], "allow", [])
    expect(r[1], "deny", ["ring.mutual"], score=100)
    a = acct()
    r = send([check_req(ids.id(), {"account": a}, {"account": b}),
              check_req(ids.id(), {"account": b}, {"account": c}),
              check_req(ids.id(), {"account": c}, {"account": e}),
              check_req(ids.id(), {"account": e}, {"account": a})])
    expect(r[2], "allow", [])
    expect(r[3], "review", ["ring.cycle"], score=60)


@T.case("disposable referee email (disposable_file): review")
def _():
    n = ids.next()
    r = send([check_req(ids.id(), {"account": acct(),
                                   "email": "ann%d@example.org" % n},
                        {"account": acct(),
                         "email": "x%d@mailinator.com" % n}),
              check_req(ids.id(), {"account": acct()},
                        {"account": acct(),
                         "email": "y%d@a.b.wildcard-disposable.net" % n}),
              check_req(ids.id(), {"account": acct()},
                        {"account": acct(),
                         "email": "z%d@upper-case.EXAMPLE" % n}),
              check_req(ids.id(), {"account": acct()},
                        {"account": acct(), "email": "w%d@example.com" % n})])
    expect(r[0], "review", ["network.disposable_email"], score=50)
    expect(r[1], "review", ["network.disposable_email"], score=50)
    expect(r[2], "review", ["network.disposable_email"], score=50)
    expect(r[3], "allow", [])


@T.case("explain names the rules that matched")
def _():
    r = send([check_req(ids.id(), {"account": acct(), "device": LAPTOP},
                        {"account": acct(), "device": LAPTOP})])
    rid = r[0][0]["id"]
    e, raw = daemon().call({"op": "explain", "id": rid})
    check("error" not in e and isinstance(e.get("rules"), list),
          "explain", raw)
    check("self_referral.same_device" in raw.decode(),
          "explain does not mention the matched rule", raw)
    check("device" in e["event"].get("shared", []),
          "explain event.shared lacks device", raw)


@T.case("anonymous IP (GeoIP test DB): shadow only")
def _():
    db = os.path.join(os.environ.get("TESTDATA", ""), "mmdb",
                      "GeoIP2-Anonymous-IP-Test.mmdb")
    if not os.environ.get("TESTDATA") or not os.path.exists(db):
        raise rgtest.Skip("no $TESTDATA/mmdb/GeoIP2-Anonymous-IP-Test.mmdb")
    d = rgtest.Daemon("geo", rules="classic", conf={"geoip_db": db}).start()
    with d.client() as c:
        v, raw = c.call(check_req("geo-1", {"account": "g-a",
                                            "ip": "81.2.69.160"},
                                  {"account": "g-b", "ip": "1.2.3.4"}))
    verdict_shape(v, raw)
    expect((v, raw), "allow", [], shadow=["network.anonymous_ip"])
    d.stop()


# ---- reload -----------------------------------------------------------

def farm_ip_rule_set(dirpath, limit):
    """Set farm.referee_ip's threshold ("> 5" shipped) in dirpath."""
    p = os.path.join(dirpath, "farms.rules")
    s = open(p).read()
    new, n = re.subn(r"(count\(referral, referee\.ip, 24h\) > )\d+",
                     r"\g<1>%d" % limit, s)
    check(n == 1, "farms.rules: no farm.referee_ip condition to edit")
    with open(p, "w") as f:
        f.write(new)


def ip_burst(d, n):
    """n referrals from one fresh referee IP; the last verdict."""
    ip = ids.ip()
    reqs = [check_req(ids.id(), {"account": acct()},
                      {"account": acct(), "ip": ip}, ts=tick())
            for _ in range(n)]
    with d.client() as c:
        out = c.pipeline(reqs)
    eq(len(out), n, "replies")
    v = json.loads(out[-1])
    verdict_shape(v, out[-1])
    return v, out[-1]


@T.case("reload: SIGHUP and the reload op swap in an edited rule set",
        timeout=60)
def _():
    d0 = rgtest.Daemon("reload", rules="classic")
    rdir = os.path.join(d0.dir, "rules.d")
    shutil.copytree(rgtest.CLASSIC_RULES_DIR, rdir)
    d0.conf["rules"] = "rules.d"        # relative to the config file
    d0.write_conf()
    d = d0.start()
    st0 = d.stats()["ruleset"]
    h0 = st0["hash"]
    eq(st0.get("last_reload_error"), None, "last_reload_error at start")
    v, raw = ip_burst(d, 5)
    expect((v, raw), "allow", [])
    eq(v["ruleset"], h0, "verdict ruleset before reload")

    # SIGHUP: farm.referee_ip from "> 5" to "> 4"
    farm_ip_rule_set(rdir, 4)
    d.signal(signal.SIGHUP)
    st = d.wait_stats(lambda s: s["ruleset"]["hash"] != h0,
                      "ruleset hash unchanged after SIGHUP")
    h1 = st["ruleset"]["hash"]
    eq(st["ruleset"]["last_reload_error"], None, "last_reload_error")
    v, raw = ip_burst(d, 5)
    expect((v, raw), "review", ["farm.referee_ip"], score=40)
    eq(v["ruleset"], h1, "verdict ruleset after SIGHUP")

    # the reload op: "> 3"
    farm_ip_rule_set(rdir, 3)
    r, rraw = d.call({"op": "reload"})
    check(r.get("ok") is True and "error" not in r, "reload op", rraw)
    h2 = r.get("ruleset")
    check(isinstance(h2, str) and h2 not in (h0, h1),
          "reload op reply names no new ruleset", rraw)
    eq(d.stats()["ruleset"]["hash"], h2, "stats ruleset after reload op")
    v, raw = ip_burst(d, 4)
    expect((v, raw), "review", ["farm.referee_ip"], score=40)
    eq(v["ruleset"], h2, "verdict ruleset after reload op")
    # back to the shipped text: back to the shipped hash
    farm_ip_rule_set(rdir, 5)
    r, rraw = d.call({"op": "reload"})
    eq(r.get("ruleset"), h0, "hash of the shipped text again")
    d.stop()


@T.case("reload: a broken rule file keeps the old set and says where",
        timeout=60)
def _():
    d0 = rgtest.Daemon("badreload", rules="classic")
    rdir = os.path.join(d0.dir, "rules.d")
    shutil.copytree(rgtest.CLASSIC_RULES_DIR, rdir)
    d0.conf["rules"] = rdir
    d0.write_conf()
    d = d0.start()
    h0 = d.stats()["ruleset"]["hash"]
    fails0 = d.stats()["ruleset"]["reload_failures"]

    # a typo in farms.rules
    path = os.path.join(rdir, "farms.rules")
    lines = open(path).read().split("\n")
    for i, l in enumerate(lines):
        if l.strip().startswith("when") and "referee.ip," in l:
            lines[i] = l.replace("when", "wen", 1)
            break
    with open(path, "w") as f:
        f.write("\n".join(lines))
    lineno = i + 1
    d.signal(signal.SIGHUP)
    st = d.wait_stats(lambda s: s["ruleset"]["reload_failures"] > fails0,
                      "no reload failure counted after SIGHUP")
    rs = st["ruleset"]
    eq(rs["hash"], h0, "ruleset hash after a failed reload")
    err = rs.get("last_reload_error") or ""
    check(re.search(r"farms\.rules:%d:\d+: " % lineno, err),
          "last_reload_error has no farms.rules:%d:COL" % lineno, err)
    check(d.alive(), "daemon died on a broken reload")
    # the old set keeps serving
    v, raw = ip_burst(d, 6)
    expect((v, raw), "review", ["farm.referee_ip"])
    eq(v["ruleset"], h0, "verdict ruleset after a failed reload")

    # the reload op reports the error too
    r, rraw = d.call({"op": "reload"})
    check(isinstance(r.get("error"), dict), "reload op gave no error", rraw)
    check(re.search(r"farms\.rules:%d:\d+:" % lineno,
                    r["error"].get("msg", "")),
          "reload op error has no file:line:col", rraw)
    eq(r.get("ruleset"), h0, "reload op error names the serving set")
    eq(d.stats()["ruleset"]["hash"], h0, "hash after reload op failure")

    # a set whose own tests fail is refused as well ("> 6" breaks the
    # farm.referee_ip test, which expects a review after 6)
    shutil.copy(os.path.join(rgtest.CLASSIC_RULES_DIR, "farms.rules"), path)
    farm_ip_rule_set(rdir, 6)
    r, rraw = d.call({"op": "reload"})
    check(isinstance(r.get("error"), dict) and
          "farm.referee_ip" in r["error"].get("msg", ""),
          "a set failing its own tests was not refused by name", rraw)
    eq(d.stats()["ruleset"]["hash"], h0, "hash after failing tests")

    # fixed: the error clears
    shutil.copy(os.path.join(rgtest.CLASSIC_RULES_DIR, "farms.rules"), path)
    d.signal(signal.SIGHUP)
    st = d.wait_stats(lambda s: s["ruleset"]["last_reload_error"] is None,
                      "last_reload_error not cleared by a good reload")
    eq(st["ruleset"]["hash"], h0, "hash of the shipped set")

    # a broken configuration file on reload: same story, FILE:LINE
    good = open(d.conf_path).read()
    with open(d.conf_path, "a") as f:
        f.write("log_level = shouty\n")
    r, rraw = d.call({"op": "reload"})
    check(isinstance(r.get("error"), dict) and re.search(
        r"refguard\.conf:%d: " % (good.count("\n") + 1),
        r["error"].get("msg", "")), "reload with a broken config", rraw)
    eq(d.stats()["ruleset"]["hash"], h0, "hash after a bad config")
    check(d.alive(), "daemon died on a bad config reload")
    d.write_conf(good)
    r, rraw = d.call({"op": "reload"})
    check(r.get("ok") is True, "reload after fixing the config", rraw)
    d.stop()


if __name__ == "__main__":
    sys.exit(T.main())
