#!/usr/bin/env python3
"""refguardctl backtest against a running refguardd: replaying the stored
referrals through the same rules reproduces every stored verdict and every
rule's hit count exactly (the proof that a backtest sees what the live
check saw, with every rule evaluated: --no-reuse), the detection
primitives' included; a lowered threshold changes exactly the expected
referrals; reusing the stored outcome of unchanged rules gives the report
of a full replay, and never for verdicts another rule set gave;
--since/--until select by event time; bad rules, a missing store or a
missing secret fail with exit 1 and say why (and the secret is never
created)."""

import json
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rgtest  # noqa: E402
from rgtest import check, check_req, eq, observe_req  # noqa: E402

T = rgtest.Suite("test_backtest")
ids = rgtest.Ids("bt")
D = {}
HOUR = 3600 * 1000
DAY = 24 * HOUR

# Two batches in event time: "old" 20 h ago, "new" 2 h ago.
CLOCK = {"old": rgtest.now_ms() - 20 * HOUR, "new": rgtest.now_ms() - 2 * HOUR}
SENT = {}           # referral id -> (batch, reply dict)
VELOCITY = []       # the velocity referrer's check ids, in order

LAPTOP, LAPTOP2, PHONE, FARM = rgtest.LAPTOP, rgtest.LAPTOP2, rgtest.PHONE, rgtest.FARM


def daemon():
    if "d" not in D or not D["d"].alive():
        d = rgtest.Daemon("bt", rules="classic", conf={"disposable_file": os.path.join(
            rgtest.FIXTURES, "disposable.txt")})
        d.persistent = True
        D["d"] = d.start()
    return D["d"]


def send(batch, reqs):
    for r in reqs:
        CLOCK[batch] += 1000
        r["ts"] = CLOCK[batch]
    with daemon().client(timeout=60) as c:
        out = c.pipeline(reqs)
    eq(len(out), len(reqs), "number of replies")
    res = []
    for q, raw in zip(reqs, out):
        v = json.loads(raw)
        check("error" not in v, "request failed", raw)
        if q["op"] == "check":
            SENT[v["id"]] = (batch, v)
        res.append(v)
    return res


def acct():
    return ids.account()


def backtest(*args, rules=None, expect=0, state=None):
    d = state or daemon()
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "backtest", "--rules",
                               rules or rgtest.CLASSIC_RULES_DIR, "--state", d.state]
                              + list(args), timeout=60)
    eq(rc, expect, "backtest exit status (stderr: %s)" % rgtest.short(err))
    return out, err


def backtest_json(*args, rules=None, state=None):
    out, err = backtest("--json", *args, rules=rules, state=state)
    lines = out.splitlines()
    eq(len(lines), 1, "one JSON line")
    return json.loads(lines[0])


def hits_of(replies):
    """Per-rule {enforce, shadow} counts from verdict replies."""
    h = {}
    for v in replies:
        for key, field in (("enforce", "reasons"), ("shadow", "shadow")):
            for r in v[field]:
                e = h.setdefault(r["rule"], {"enforce": 0, "shadow": 0})
                e[key] += 1
    return h


def nonzero(hits):
    return {k: v for k, v in hits.items() if v["enforce"] or v["shadow"]}


def rules_hash(rules):
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "rules", "check", rules],
                              timeout=60)
    eq(rc, 0, "rules check (%s)" % rgtest.short(err))
    return re.search(r"^ruleset (\w+):", out, re.M).group(1)


def edited_rules(dst, edits, src=None):
    """A copy of src (the classic rules) with text replaced: {file: [(old,
    new)]}."""
    shutil.copytree(src or rgtest.CLASSIC_RULES_DIR, dst, dirs_exist_ok=True)
    for name, subs in edits.items():
        p = os.path.join(dst, name)
        text = open(p).read()
        for old, new in subs:
            check(old in text, "%s holds %r" % (name, old))
            text = text.replace(old, new)
        with open(p, "w") as f:
            f.write(text)
    return dst


VELOCITY_RULE = "count(referral, referrer.account, 1h) > 10"


@T.case("scripted history: observes and checks that trigger rules")
def _():
    a = acct()
    pm = "pm_card_%d" % ids.next()
    ph = "+44 7700 9%05d" % ids.next()
    ip = ids.ip()
    reqs = [
        # same device now, and in history
        check_req(ids.id(), {"account": acct(), "device": LAPTOP},
                  {"account": acct(), "device": LAPTOP}),
        observe_req("login", a, device=PHONE),
        check_req(ids.id(), {"account": a, "device": LAPTOP},
                  {"account": acct(), "device": PHONE}),
        # same phone: review; same IP: shadow
        check_req(ids.id(), {"account": acct(), "phone": ph},
                  {"account": acct(), "phone": ph}),
        check_req(ids.id(), {"account": acct(), "ip": ip},
                  {"account": acct(), "ip": ip}),
        # fuzzy device
        check_req(ids.id(), {"account": acct(), "device": LAPTOP},
                  {"account": acct(), "device": LAPTOP2}),
    ]
    # one card, three referee accounts: the third is a farm
    reqs += [check_req(ids.id(), {"account": acct()},
                       {"account": acct(), "payment": pm})
             for _ in range(3)]
    # one device, four referee accounts
    reqs += [check_req(ids.id(), {"account": acct()},
                       {"account": acct(), "device": FARM})
             for _ in range(4)]
    # clean referrals
    reqs += [check_req(ids.id(), {"account": acct(), "ip": ids.ip(),
                                  "device": ids.device()},
                       {"account": acct(), "ip": ids.ip(),
                        "device": ids.device()}) for _ in range(5)]
    r = send("old", reqs)
    # a referrer with 15 referrals in a quarter hour: 11th on, review
    ref = acct()
    vel = [check_req(ids.id(), {"account": ref}, {"account": acct()})
           for _ in range(15)]
    VELOCITY.extend(q["id"] for q in vel)
    rv = send("old", vel)
    eq([v["action"] for v in rv], ["allow"] * 10 + ["review"] * 5,
       "velocity actions")
    acts = set(v["action"] for v in r if "action" in v)
    eq(acts, {"allow", "review", "deny"}, "all three actions occur")
    # the newer batch: clean, and one self-referral
    send("new", [check_req(ids.id(), {"account": acct()},
                           {"account": acct()}) for _ in range(3)] +
         [check_req(ids.id(), {"account": acct(), "device": LAPTOP},
                    {"account": acct(), "device": LAPTOP})])
    names = set(hits_of(v for _, v in SENT.values()))
    for want in ("self_referral.same_device", "self_referral.same_phone",
                 "self_referral.same_ip", "farm.shared_payment",
                 "farm.referee_device", "velocity.referrer_hourly"):
        check(want in names, "the history triggers %s" % want, names)


@T.case("same rules, daemon running: every stored verdict reproduced")
def _():
    d = daemon()
    bt = backtest_json()
    check(d.alive(), "the daemon still runs")
    eq(bt["referrals"], len(SENT), "referrals replayed")
    eq(bt["skipped"], 0, "skipped")
    eq(bt["changed"], 0, "changed")
    eq(bt["changes"], [], "changed cells")
    check(bt["events"] >= len(SENT) + 1, "events scanned", bt["events"])
    # the matrix is diagonal and matches the actions the daemon answered
    want = {a: {b: 0 for b in ("allow", "review", "deny")}
            for a in ("allow", "review", "deny")}
    for _, v in SENT.values():
        want[v["action"]][v["action"]] += 1
    eq(bt["matrix"], want, "stored -> candidate matrix")
    # hit counts: stored, candidate and the live replies all agree
    live = hits_of(v for _, v in SENT.values())
    eq(bt["stored_hits"], live, "stored hits = live replies' hits")
    eq(nonzero(bt["candidate_hits"]), live, "candidate hits = stored hits")
    check("velocity.referrer_daily" in bt["candidate_hits"],
          "candidate hits list every rule, hit or not", bt["candidate_hits"])
    # the candidate set gave every stored verdict: each rule's outcome is
    # the stored one, and evaluating every rule gives the same report
    nrules = len(bt["candidate_hits"])
    eq((bt["rules_evaluated"], bt["rules_reused"]),
       (0, nrules * len(SENT)), "rule outcomes evaluated, reused")
    full = backtest_json("--no-reuse")
    eq((full["rules_evaluated"], full["rules_reused"]),
       (nrules * len(SENT), 0), "--no-reuse: every rule evaluated")
    eq(without_timing(full), without_timing(bt),
       "--no-reuse: the same report")
    # the daemon keeps serving while and after a backtest holds readers
    r = send("new", [check_req(ids.id(), {"account": acct()},
                               {"account": acct()})])
    eq(r[0]["action"], "allow", "a check after the backtest")


@T.case("human output: aligned table, exit 0")
def _():
    out, _ = backtest()
    check(re.search(r"referrals replayed\s+%d\b" % len(SENT), out),
          "referrals line", out)
    check(re.search(r"^allow\s+\d+\s+0\s+0$", out, re.M), "matrix row",
          out)
    check(re.search(r"^velocity\.referrer_hourly\s+5\s+0\s+5\s+0$", out,
                    re.M), "rule hits row", out)
    check("events/s" in out, "rate", out)


@T.case("lowered velocity threshold: exactly the expected ids change")
def _():
    d = daemon()
    rules = os.path.join(d.dir, "rules.candidate")
    shutil.copytree(rgtest.CLASSIC_RULES_DIR, rules)
    p = os.path.join(rules, "velocity.rules")
    text = open(p).read()
    old = "count(referral, referrer.account, 1h) > 10"
    check(old in text, "shipped velocity rule as expected")
    with open(p, "w") as f:
        f.write(text.replace(old, "count(referral, referrer.account, 1h) > 5"))
    bt = backtest_json("--samples", "10", rules=rules)
    eq(bt["referrals"], len(SENT), "referrals replayed")
    # checks 6..10 of the velocity referrer become reviews; nothing else
    eq(bt["changed"], 5, "changed")
    eq(bt["matrix"]["allow"]["review"], 5, "allow -> review")
    eq(len(bt["changes"]), 1, "one changed cell")
    c = bt["changes"][0]
    eq((c["from"], c["to"], c["count"]), ("allow", "review", 5), "cell")
    eq(c["samples"], VELOCITY[5:10], "sample ids")
    eq(bt["candidate_hits"]["velocity.referrer_hourly"]["enforce"], 10,
       "candidate hits of the lowered rule")
    eq(bt["stored_hits"]["velocity.referrer_hourly"]["enforce"], 5,
       "stored hits of the rule")
    # --samples caps the ids per cell
    bt = backtest_json("--samples", "2", rules=rules)
    eq(bt["changes"][0]["samples"], VELOCITY[5:7], "two samples")


def without_timing(bt):
    """A report less what depends on the run: its time, rates, workers,
    and how many rule outcomes were evaluated or reused."""
    return {k: v for k, v in bt.items()
            if k not in ("seconds", "events_per_sec", "referrals_per_sec",
                         "workers", "base", "rules_evaluated",
                         "rules_reused", "candidate_cost")}


@T.case("reusing unchanged rules: only the changed rule is evaluated, the "
        "report is a full replay's")
def _():
    """With --baseline (the set that gave the stored verdicts), the
    outcome of each candidate rule whose condition is unchanged is read
    from the stored verdict; only the changed rule is evaluated. The
    candidate's scores and thresholds apply to the reused outcomes: a
    lowered review threshold changes verdicts without changing a rule."""
    d = daemon()
    cand = edited_rules(os.path.join(d.dir, "rules.reuse"), {
        "velocity.rules": [(VELOCITY_RULE,
                            VELOCITY_RULE.replace("> 10", "> 5"))],
        "00-verdict.rules": [("review when score >= 50",
                              "review when score >= 30"),
                             ("deny   when score >= 100",
                              "deny   when score >= 50")]})
    full = backtest_json("--samples", "10", "--no-reuse", rules=cand)
    nrules = len(full["candidate_hits"])
    eq((full["rules_evaluated"], full["rules_reused"], full["base"]),
       (nrules * len(SENT), 0, None), "--no-reuse: every rule evaluated")
    # What each evaluated rule cost: every rule's first evaluation timed.
    eq(sorted(full["candidate_cost"]), sorted(full["candidate_hits"]),
       "--no-reuse: every rule's cost")
    check(all(c["timed"] >= 1 and c["mean_ns"] >= 0
              for c in full["candidate_cost"].values()),
          "evaluations timed", full["candidate_cost"])
    check(full["changed"] > 5, "the threshold changes more than the "
          "velocity referrals", full["changed"])
    base = rules_hash(rgtest.CLASSIC_RULES_DIR)
    for threads in ("1", "3"):
        bt = backtest_json("--samples", "10", "--threads", threads,
                           "--baseline", rgtest.CLASSIC_RULES_DIR, rules=cand)
        eq(bt["base"], base, "the base set's hash")
        eq((bt["rules_evaluated"], bt["rules_reused"]),
           (len(SENT), (nrules - 1) * len(SENT)),
           "--threads %s: one rule evaluated a referral" % threads)
        # A reused outcome costs nothing: only the changed rule is timed,
        # once in each worker at least.
        eq(sorted(bt["candidate_cost"]), ["velocity.referrer_hourly"],
           "--threads %s: the changed rule's cost alone" % threads)
        check(bt["candidate_cost"]["velocity.referrer_hourly"]["timed"] >=
              int(threads), "timed in every worker", bt["candidate_cost"])
        eq(without_timing(bt), without_timing(full),
           "--threads %s: the report of a full replay" % threads)
    # without a base set, no stored verdict is the candidate's: all evaluated
    bt = backtest_json("--samples", "10", rules=cand)
    eq((bt["rules_evaluated"], bt["base"]), (nrules * len(SENT), None),
       "no base set")
    eq(without_timing(bt), without_timing(full), "no base set: the report")
    out, _ = backtest("--baseline", rgtest.CLASSIC_RULES_DIR, rules=cand)
    check(re.search(r"^rule outcomes +%d evaluated, %d reused from stored "
                    r"verdicts$" % (len(SENT), (nrules - 1) * len(SENT)),
                    out, re.M), "the text report says so", out)
    # a base set that does not compile is an error that says so
    bad = edited_rules(os.path.join(d.dir, "rules.bad"), {
        "velocity.rules": [(VELOCITY_RULE, "count(referral, nonsense)")]})
    out, err = backtest("--baseline", bad, rules=cand, expect=1)
    check("--baseline" in err and "velocity.rules" in err,
          "the base set's error is named", err)


@T.case("reusing unchanged rules: verdicts of another rule set version are "
        "evaluated in full")
def _():
    """A daemon checks under one rule set, is reloaded with another, and
    checks again. A backtest with the second as its base reuses outcomes
    only for the verdicts the second gave: the first set's velocity rule
    (more than 5 an hour) put referrals 6 to 8 in review; the candidate's
    (more than 10, as in the second) allows them. Reused from those
    verdicts, their outcome would hide the change. With -c, the base set
    is the rules the configuration names."""
    v1 = os.path.join(rgtest.mkdtemp("bt-v1"), "rules")
    edited_rules(v1, {"velocity.rules": [
        (VELOCITY_RULE, VELOCITY_RULE.replace("> 10", "> 5"))]})
    p = os.path.join(v1, "velocity.rules")
    text = open(p).read()
    with open(p, "w") as f:     # less the tests of the threshold of 10
        f.write(text[:text.index("\ntest ")])
    d = rgtest.Daemon("bt-ver", rules=v1).start()
    t0 = rgtest.now_ms() - 2 * HOUR

    def burst(tag, t):
        reqs = [check_req("%s-%d" % (tag, i), {"account": tag + "-r"},
                          {"account": "%s-e%d" % (tag, i)}, ts=t + i * 1000)
                for i in range(8)]
        with d.client(timeout=60) as c:
            return [json.loads(raw)["action"] for raw in c.pipeline(reqs)]
    eq(burst("v1", t0), ["allow"] * 5 + ["review"] * 3, "under the first set")
    edited_rules(v1, {})    # the classic rules again, in place
    r, raw = d.call({"op": "reload"})
    check(r.get("ok") is True, "reload", raw)
    eq(burst("v2", t0 + HOUR), ["allow"] * 8, "under the second set")
    cand = edited_rules(os.path.join(d.dir, "rules.cand"), {
        "network.rules": [("\nrule ", "\n# a comment changes the set\nrule ")]})
    full = backtest_json("--no-reuse", "--samples", "10", rules=cand, state=d)
    eq((full["changed"], full["changes"][0]["samples"]),
       (3, ["v1-5", "v1-6", "v1-7"]), "the first set's reviews change")
    nrules = len(full["candidate_hits"])
    bt = backtest_json("--baseline", v1, "--samples", "10", rules=cand,
                       state=d)
    eq((bt["rules_evaluated"], bt["rules_reused"]),
       (8 * nrules, 8 * nrules), "the first set's verdicts evaluated in full")
    eq(without_timing(bt), without_timing(full), "the report of a full replay")
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "-c", d.conf_path,
                               "backtest", "--json", "--rules", cand],
                              timeout=60)
    eq(rc, 0, "backtest -c (%s)" % rgtest.short(err))
    bt = json.loads(out)
    eq((bt["base"], bt["rules_evaluated"]), (rules_hash(v1), 8 * nrules),
       "-c: the configured rules are the base set")
    eq(without_timing(bt), without_timing(full), "-c: the report")
    d.stop()


@T.case("--threads: parallel workers give the report of one, samples and "
        "all")
def _():
    """Workers replay interleaved chunks of the store (at least four
    each, so even this small store is split) and the parent merges their
    counts: the report, the sample ids (the earliest changed, by seq)
    included, is the one a single replay gives, in JSON and in text."""
    d = daemon()
    rules = os.path.join(d.dir, "rules.candidate")
    check(os.path.isdir(rules), "the lowered rules of the case above")
    for samples in ("2", "10"):
        one = backtest_json("--threads", "1", "--samples", samples,
                            rules=rules)
        eq(one["workers"], 1, "--threads 1: one worker")
        eq(one["changed"], 5, "changed with one worker")
        for n in ("2", "3", "7"):
            par = backtest_json("--threads", n, "--samples", samples,
                                rules=rules)
            eq(par["workers"], int(n), "--threads %s: workers" % n)
            eq(without_timing(par), without_timing(one),
               "--threads %s --samples %s: the report of one" % (n, samples))
    # less the time line and the rules' cost (timed: the run's own)
    strip = lambda out: re.sub(r"(?ms)^evaluation cost .*?(?:\n\n|\Z)", "",
                               re.sub(r"(?m)^time .*$", "", out))
    one, _ = backtest("--threads", "1", rules=rules)
    par, _ = backtest("--threads", "3", rules=rules)
    check("3 workers" in par, "the time line says how many workers", par)
    check(re.search(r"(?m)^evaluation cost +mean +timed$", one) and
          re.search(r"(?m)^velocity\.referrer_hourly +[0-9.]+ us +[0-9]+$",
                    one), "what each rule cost, in text", one)
    eq(strip(par), strip(one), "text report, 3 workers and 1")
    for bad in ("0", "65", "x", ""):
        out, err = backtest("--threads", bad, expect=2)
        check("--threads" in err, "a bad --threads is named", err)


@T.case("--rules repeated: directories merge as rules_dirs, a staged file "
        "replaces the installed one of its name")
def _():
    d = daemon()
    staging = os.path.join(d.dir, "rules.staging")
    os.makedirs(staging, exist_ok=True)
    text = open(os.path.join(rgtest.CLASSIC_RULES_DIR,
                             "velocity.rules")).read()
    old = "count(referral, referrer.account, 1h) > 10"
    with open(os.path.join(staging, "velocity.rules"), "w") as f:
        f.write(text.replace(old, "count(referral, referrer.account, 1h) > 5"))
    bt = backtest_json("--samples", "10", "--rules", staging)
    eq(bt["referrals"], len(SENT), "referrals replayed")
    eq(bt["changed"], 5, "only the staged rule changes verdicts")
    eq(bt["matrix"]["allow"]["review"], 5, "allow -> review")
    eq(bt["changes"][0]["samples"], VELOCITY[5:10], "sample ids")


@T.case("--since and --until select referrals by event time")
def _():
    n_new = sum(1 for b, _ in SENT.values() if b == "new")
    n_old = len(SENT) - n_new
    bt = backtest_json("--since", "5h")
    eq(bt["referrals"], n_new, "--since 5h: only the newer batch")
    eq(bt["changed"], 0, "changed")
    eq(bt["stored_hits"], hits_of(v for b, v in SENT.values()
                                  if b == "new"), "hits of the newer batch")
    cut = rgtest.now_ms() - 5 * HOUR
    iso = lambda ms: __import__("time").strftime(
        "%Y-%m-%dT%H:%M:%SZ", __import__("time").gmtime(ms // 1000))
    bt = backtest_json("--until", iso(cut))
    eq(bt["referrals"], n_old, "--until: only the older batch")
    bt = backtest_json("--since", iso(cut - 30 * HOUR), "--until", iso(cut))
    eq(bt["referrals"], n_old, "--since RFC 3339 and --until")
    out, err = backtest("--since", "yesterday", expect=2)
    check("--since" in err, "a bad --since is named", err)


@T.case("precision and recall: each referral's own label")
def _():
    """Seven referees on one IP and one device, six checked before any
    feedback: labels given on referral ids and referee accounts. Feedback
    on a referral labels every identity its referee carried, so the IP
    and the device now carry fraud and every referral here "has a referee
    labelled fraud"; precision and recall must still count each referral
    by its own label. The seventh, checked after the feedback, is denied
    by feedback.confirmed_fraud through the shared IP: rules keep seeing
    labels spread through identities."""
    d = rgtest.Daemon("bt-labels", rules="classic").start()
    ip = ids.ip()
    t0 = rgtest.now_ms() - 2 * HOUR
    rid = ["lab-%d" % i for i in range(1, 8)]
    referee = [acct() for _ in rid]

    def chk(i):
        v, raw = d.call(check_req(rid[i], {"account": acct()},
                                  {"account": referee[i], "ip": ip,
                                   "device": LAPTOP}, ts=t0 + i * 1000))
        check("error" not in v, "check failed", raw)
        return v

    def feedback(label, **who):
        v, raw = d.call(dict(op="feedback", label=label, by="t", **who))
        check(v.get("ok") is True, "feedback failed", raw)

    acts = [chk(i)["action"] for i in range(6)]
    # farm.referee_device from the 4th account on the device
    eq(acts, ["allow"] * 3 + ["deny"] * 3, "actions before the feedback")
    for i, label in ((0, "fraud"), (1, "legit"), (3, "fraud"), (4, "legit"),
                     (5, "fraud")):
        feedback(label, id=rid[i])
    feedback("chargeback", account=referee[2])  # R3: by its account
    feedback("fraud", account=referee[1])   # R2: its own id says legit
    v = chk(6)
    eq(v["action"], "deny", "R7 action")
    check("feedback.confirmed_fraud" in rgtest.rule_names(v["reasons"]),
          "R7 is denied through the IP labelled fraud", v)

    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "backtest", "--json",
                               "--rules", rgtest.CLASSIC_RULES_DIR, "--state",
                               d.state], timeout=60)
    eq(rc, 0, "backtest exit status (%s)" % err)
    bt = json.loads(out)
    eq((bt["referrals"], bt["changed"]), (7, 0), "replayed, changed")
    lab = bt["labels"]
    # own labels: R1 R3 R4 R6 positive, R2 R5 legit, R7 none
    eq(lab["positives"], 4, "referrals labelled fraud")
    # flagged: R4..R7; labelled fraud among them: R4, R6
    pr = lambda f, tp, pos=4: {"flagged": f, "true_positives": tp,
                               "precision": tp / f if f else None,
                               "recall": tp / pos}
    eq(lab["stored"], pr(4, 2), "stored verdicts")
    eq((lab["basis"], lab["legit"], lab["unlabelled"]), ("referral", 2, 1),
       "label basis and the other counts")
    eq(lab["candidate"], pr(4, 2), "candidate set")
    eq(lab["rules"]["farm.referee_device"], pr(4, 2), "farm.referee_device")
    eq(lab["rules"]["farm.referee_ip"], pr(2, 1), "farm.referee_ip (R6, R7)")
    eq(lab["rules"]["feedback.confirmed_fraud"], pr(1, 0),
       "feedback.confirmed_fraud (R7)")
    eq(lab["rules"]["velocity.referrer_hourly"], pr(0, 0),
       "a rule that flags nothing")
    eq(bt["candidate_hits"]["feedback.confirmed_fraud"],
       {"enforce": 1, "shadow": 0}, "labeled() still sees shared labels")
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "backtest", "--rules",
                               rgtest.CLASSIC_RULES_DIR, "--state", d.state])
    eq(rc, 0, "backtest exit status (%s)" % err)
    check(re.search(r"labels: 4 of 7 referrals labelled fraud, chargeback "
                    r"or abuse, 2 legit, 1 unlabelled", out), "labels line",
          out)
    check("each referral's own label" in out, "says which labels count",
          out)
    check(re.search(r"(?m)^stored verdicts \(review, deny\) +4 +2 +0\.500 "
                    r"+0\.500$", out), "stored verdicts row", out)
    check(re.search(r"(?m)^velocity\.referrer_hourly +0 +0 +- +0\.000$",
                    out), "a rule that flags nothing", out)
    # A recheck at payout now denies R1 (seven accounts on the device, a
    # label on it): a new version of its verdict. The backtest still
    # compares with what the check answered, and the figures stay.
    rc, o, err = d.ctl("--json", "recheck", rid[0])
    eq(rc, 0, "recheck exit status (%s)" % err)
    r = json.loads(o)
    eq((r["action"], r["changed"], r["version"]), ("deny", True, 2),
       "recheck of R1")
    check("farm.referee_device" in r["newly_matched"], "recheck reasons", o)
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "backtest", "--json",
                               "--rules", rgtest.CLASSIC_RULES_DIR, "--state",
                               d.state], timeout=60)
    eq(rc, 0, "backtest exit status (%s)" % err)
    bt2 = json.loads(out)
    for k in ("referrals", "changed", "matrix", "stored_hits",
              "candidate_hits", "labels"):
        eq(bt2[k], bt[k], "%s after a recheck" % k)
    d.stop()


@T.case("right after a burst: every acknowledged check is seen", timeout=300)
def _():
    """The daemon keeps new index entries and links in memory (its recent
    tier) and flushes them to LMDB a range at a time while a backtest
    reads: the backtest must see exactly what the daemon acknowledged,
    whatever is flushed before or during its run. 2,000 referrers make 10
    referrals each within a quarter hour: velocity.referrer_hourly (more
    than 10 in 1h) matches none of them, and any entry seen twice or
    missed changes the answer for the referrer's later referrals."""
    d = rgtest.Daemon("bt-burst", rules="classic").start()
    nref, per = 2000, 10
    t0 = rgtest.now_ms() - 2 * HOUR
    reqs = [check_req("burst-%d-%d" % (i, j), {"account": "burst-r%d" % i},
                      {"account": "burst-e%d-%d" % (i, j)},
                      ts=t0 + j * 60000 + i)
            for j in range(per) for i in range(nref)]
    with d.client(timeout=120) as c:
        out = c.pipeline(reqs)
    eq(len(out), len(reqs), "replies")
    acts = {}
    for raw in out:
        a = json.loads(raw).get("action")
        acts[a] = acts.get(a, 0) + 1
    eq(acts, {"allow": len(reqs)}, "actions of the burst")

    def run():
        # --no-reuse: the rules read the history (reused outcomes would
        # reproduce the stored verdicts whatever the replay saw)
        rc, o, err = rgtest.run([rgtest.REFGUARDCTL, "backtest", "--json",
                                 "--no-reuse", "--rules",
                                 rgtest.CLASSIC_RULES_DIR, "--state",
                                 d.state], timeout=120)
        eq(rc, 0, "backtest exit status (%s)" % rgtest.short(err))
        bt = json.loads(o)
        eq(bt["referrals"], len(reqs), "referrals replayed")
        eq((bt["changed"], bt["changes"]), (0, []), "changed verdicts")
        eq(nonzero(bt["candidate_hits"]), {}, "candidate hits")
        return bt

    st = d.stats()["store"]
    check(st["recent_entries"] > 0, "the daemon holds unflushed entries "
          "(else this tests nothing)", st)
    flushes = st["recent_flushes"]
    run()
    # export sees the same history: every event and verdict acknowledged
    rc, o, err = rgtest.run([rgtest.REFGUARDCTL, "export", "--state",
                             d.state], timeout=120)
    eq(rc, 0, "export exit status (%s)" % rgtest.short(err))
    lines = [json.loads(x) for x in o.splitlines()]
    eq({k: lines[-1][k] for k in ("end", "events", "verdicts")},
       {"end": True, "events": len(reqs), "verdicts": len(reqs)},
       "export end line")
    got = {x["verdict"]: x["action"] for x in lines if "verdict" in x}
    eq(got, {q["id"]: "allow" for q in reqs}, "exported verdicts")
    # Again while the daemon flushes ranges (a few each second): until
    # it has flushed some 30 of them, or all it held.
    for runs in range(200):
        st = d.stats()["store"]
        if st["recent_flushes"] >= flushes + 30 or \
                st["recent_entries"] == 0:
            break
        run()
    else:
        raise rgtest.Fail("the daemon flushed %d ranges in 200 backtests" %
                          (st["recent_flushes"] - flushes))
    d.stop()


@T.case("errors: bad rules, no store, no secret -> exit 1 with the cause")
def _():
    d = daemon()
    bad = os.path.join(d.dir, "bad.rules")
    with open(bad, "w") as f:
        f.write("rule broken {\n    when count(referral, nosuch, 1h) > 1\n"
                "    action deny\n}\n")
    out, err = backtest(rules=bad, expect=1)
    check(re.search(r"bad\.rules:\d+:\d+: error", err), "diagnostics", err)
    # a state directory that holds no store
    empty = rgtest.mkdtemp("bt-empty")
    with open(os.path.join(empty, "secret"), "wb") as f:
        f.write(b"x" * 32)
    os.chmod(os.path.join(empty, "secret"), 0o600)
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "backtest", "--rules",
                               rgtest.CLASSIC_RULES_DIR, "--state", empty])
    eq(rc, 1, "exit status without a store (%s)" % err)
    check("store" in err, "says the store cannot be opened", err)
    check(not os.path.exists(os.path.join(empty, "data.mdb")),
          "no store created")
    # -c with a hash_secret_file that does not exist: never created
    conf = os.path.join(d.dir, "bt.conf")
    missing = os.path.join(d.dir, "no-such-secret")
    with open(conf, "w") as f:
        f.write("state_dir = %s\nhash_secret_file = %s\n" % (d.state,
                                                             missing))
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "-c", conf, "backtest",
                               "--rules", rgtest.CLASSIC_RULES_DIR])
    eq(rc, 1, "exit status without the secret (%s)" % err)
    check("no-such-secret" in err and "never creates" in err,
          "names the secret", err)
    check(not os.path.exists(missing), "the secret was not created")
    # with -c and the real secret it works (and the daemon still runs)
    with open(conf, "w") as f:
        f.write("state_dir = %s\n" % d.state)
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "-c", conf, "backtest",
                               "--rules", rgtest.CLASSIC_RULES_DIR, "--json"])
    eq(rc, 0, "exit status with -c (%s)" % err)
    eq(json.loads(out)["changed"], 0, "changed with -c")
    check(d.alive(), "the daemon still runs")


PRIMITIVES = """
rule p.age { mode shadow when age(referee.account) < 1h action review }
rule p.sum {
    mode shadow when sum(reward.amount, referrer.account, 1d) > 35
    action review
}
rule p.span {
    mode shadow when span(referral, referrer.account, 4) < 10m action review
}
rule p.cluster {
    mode shadow when cluster(referee, [payment, device.id]) >= 3
    action review
}
rule p.referees {
    mode shadow
    when referees(referrer.account, 30d) >= 4
         and referees(referrer.account, 30d, active_percent) < 20
    action review
}
rule p.chain { mode shadow when chain(referrer, 30m) >= 3 action review }
rule p.concentration {
    mode shadow
    when count(referral, [referrer.account, referee.device.fuzzy], 1d) > 2
    action review
}
rule p.campaign {
    mode shadow when count(referral, campaign, 1h) >= 5 action review
}
rule p.shape {
    mode shadow
    when distinct(referee.account, referee.email.shape, 1d) > 2
    action review
}
rule p.dormant {
    mode shadow
    when count(login, referee.account, since referral) == 0
         and count(purchase, referee.account, since referral) == 0
    action review
}
"""


@T.case("the detection primitives: a backtest reproduces their verdicts")
def _():
    d = rgtest.Daemon("btp", rules="empty")
    with open(os.path.join(d.rules, "00-empty.rules"), "w") as f:
        f.write(PRIMITIVES)
    d.start()
    t = [rgtest.now_ms() - 4 * DAY - 10 * HOUR]

    def at(step):
        t[0] += step
        return t[0]
    reqs = [observe_req("signup", "btp-o", ts=at(0))]
    # a chain of fresh accounts, from an old one
    prev = "btp-o"
    at(3 * HOUR)
    for i in range(5):
        reqs.append(check_req("btp-ch%d" % i, {"account": prev},
                              {"account": "btp-c%d" % i}, ts=at(300000)))
        prev = "btp-c%d" % i
    # accounts joined by a payment instrument
    for i in range(3):
        reqs.append(observe_req("update", "btp-x%d" % i, ts=at(1000),
                                payment="pm_btp_x"))
    reqs.append(check_req("btp-cl", {"account": "btp-r"},
                          {"account": "btp-y", "payment": "pm_btp_x"},
                          ts=at(1000)))
    # a farm: one referrer, a burst, one look-alike device, numbered
    # mailboxes, rewards, a campaign, dormant referees but one
    for i in range(6):
        reqs.append(check_req(
            "btp-f%d" % i, {"account": "btp-v"},
            {"account": "btp-b%d" % i, "device": FARM,
             "email": "jo.smith%02d@example.com" % i},
            ts=at(60000), campaign="btp-camp",
            reward={"amount": 10, "currency": "EUR"}))
        if i == 2:
            reqs.append(observe_req("login", "btp-b0", ts=at(1000)))
    # three days on, one of the farm's six referees came back
    reqs.append(check_req("btp-f6", {"account": "btp-v"},
                          {"account": "btp-b6"}, ts=at(3 * DAY)))
    with d.client(timeout=60) as c:
        out = [json.loads(raw) for raw in c.pipeline(reqs)]
    for r in out:
        check("error" not in r, "request failed", r)
    replies = [r for r in out if "action" in r]
    live = hits_of(replies)
    for rule in ("p.age", "p.sum", "p.span", "p.cluster", "p.referees",
                 "p.chain", "p.concentration", "p.campaign", "p.shape",
                 "p.dormant"):
        check(live.get(rule, {}).get("shadow", 0) > 0, "the scenario hits "
              "%s" % rule, live)
    bt = backtest_json("--no-reuse", rules=d.rules, state=d)
    eq(bt["referrals"], len(replies), "referrals replayed")
    eq(bt["changed"], 0, "changed")
    eq(bt["stored_hits"], live, "stored hits = live replies' hits")
    eq(nonzero(bt["candidate_hits"]), live, "candidate hits = stored hits")
    eq(bt["rules_reused"], 0, "every rule evaluated")
    eq(without_timing(backtest_json(rules=d.rules, state=d)),
       without_timing(bt), "reusing the stored outcomes: the same report")
    d.stop()


if __name__ == "__main__":
    sys.exit(T.main())
