#!/usr/bin/env python3
"""test_eval: the scenario generator and the policy evaluation gate.

contrib/scenarios/scengen.py must give the same traffic for the same
seed (byte for byte, whatever the hash seed), and well-formed traffic:
every referral labelled and checked once, in time order, payouts in the
asked range. contrib/scenarios/evaluate.py replays small sets through
the real refguardd with the shipped rules: the same seed must give the
same verdicts, and the totals must hold the thresholds written in
contrib/scenarios/thresholds.json (the regression gate of the detection
work; raise them there when the policy improves). Geo facts come from a
MMDB built from the frozen pool (tests/fixtures/mkmmdb.pl --pool), so no
network is needed.
"""

import json
import os
import subprocess
import sys

import rgtest
from rgtest import Skip, check, eq

SCEN = os.path.join(rgtest.SRCDIR, "contrib", "scenarios")
GEN = os.path.join(SCEN, "scengen.py")
EVAL = os.path.join(SCEN, "evaluate.py")
THRESHOLDS = os.path.join(SCEN, "thresholds.json")

sys.path.insert(0, SCEN)
import evaluate         # noqa: E402

suite = rgtest.Suite("eval")
state = {}


def run(argv, env=None, timeout=600):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([sys.executable] + argv, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=e, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def generate(out, seed, hashseed, variant="A", n=1500):
    rc, so, se = run([GEN, "--variant", variant, "--seed", str(seed), "--referrals", str(n),
                      "-o", out], env={"PYTHONHASHSEED": str(hashseed)})
    check(rc == 0, "scengen.py failed", so, se)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def need_writer():
    p = subprocess.run(["perl", "-MMaxMind::DB::Writer::Tree", "-e", "1"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if p.returncode != 0:
        raise Skip("perl MaxMind::DB::Writer::Tree (libmaxmind-db-writer-perl) is not "
                   "installed: no GeoIP stand-in for the gate")


@suite.case("generator_reproducible", timeout=300)
def generator_reproducible():
    d = rgtest.mkdtemp("gen")
    a, b, c = (os.path.join(d, x) for x in ("a", "b", "c"))
    generate(a, 7, 1)
    generate(b, 7, 4242)
    for f in ("events.ndjson", "labels.ndjson", "params.json"):
        check(read(os.path.join(a, f)) == read(os.path.join(b, f)),
              "%s differs between two runs of seed 7" % f)
    generate(c, 8, 1)
    check(read(os.path.join(a, "events.ndjson")) != read(os.path.join(c, "events.ndjson")),
          "seeds 7 and 8 gave the same events")
    state["dir"] = a


@suite.case("generator_well_formed", timeout=300)
def generator_well_formed():
    d = state.get("dir")
    if d is None:
        raise Skip("generator_reproducible did not run")
    with open(os.path.join(d, "labels.ndjson")) as f:
        labels = [json.loads(x) for x in f]
    reqs = []
    with open(os.path.join(d, "events.ndjson")) as f:
        for line in f:
            reqs.append(json.loads(line))
    eq(len(labels), 1500, "referrals")
    eq(sum(1 for l in labels if l["label"] == "fraud"), 225, "fraud referrals (15 %)")
    checks = [r for r in reqs if r["op"] == "check"]
    eq(sorted(r["id"] for r in checks), sorted(l["id"] for l in labels),
       "one check per labelled referral")
    ts = [evaluate.ts_ms(r["ts"]) for r in reqs]
    check(ts == sorted(ts), "requests are not in time order")
    kinds = set(r.get("kind") for r in reqs if r["op"] == "observe")
    check({"login", "payout", "purchase", "signup"} <= kinds <=
          {"login", "payout", "purchase", "signup", "update"}, "observe kinds", sorted(kinds))
    byid = {r["id"]: r for r in checks}
    for l in labels:
        days = (l["payout"] - l["ts"]) / 86400000.0
        check(7 <= days <= 30.05, "payout of %s after %.2f days, not 7-30" % (l["id"], days))
        r = byid[l["id"]]
        eq(evaluate.ts_ms(r["ts"]), l["ts"], "label time of %s" % l["id"])
        eq(r["referee"]["account"], l["referee"], "referee of %s" % l["id"])
    pats = set(l["pattern"] for l in labels)
    import scen_patterns
    want = set(n for n, _, v in scen_patterns.LEGIT_SHARES if "A" in v) | \
        set(n for n, _, v in scen_patterns.FRAUD_SHARES if "A" in v)
    eq(sorted(pats), sorted(want), "patterns present")


@suite.case("timeline_interleaves_rechecks")
def timeline_interleaves_rechecks():
    # Rechecks go after every event at or before the payout time and
    # before the later ones, with the payout time as ts when asked.
    reqs = [{"op": "check", "id": "r1", "ts": "2026-03-02T10:00:00.000Z"},
            {"op": "observe", "kind": "login", "ts": "2026-03-09T10:00:00.000Z",
             "account": "a"},
            {"op": "observe", "kind": "login", "ts": "2026-03-09T10:00:00.001Z",
             "account": "a"}]
    t = evaluate.ts_ms("2026-03-09T10:00:00.000Z")
    labels = [{"id": "r1", "payout": t}]
    lines, what = evaluate.timeline(reqs, labels, True)
    eq(what, [("check", "r1"), None, ("recheck", "r1"), None], "order")
    eq(json.loads(lines[2]), {"op": "recheck", "id": "r1", "ts": "2026-03-09T10:00:00.000Z"},
       "recheck with ts")
    lines, what = evaluate.timeline(reqs[:1], [{"id": "r1", "payout": t}], False)
    eq(json.loads(lines[1]), {"op": "recheck", "id": "r1"}, "recheck without ts")


@suite.case("timeline_recheck_at_end_or_now")
def timeline_recheck_at_end_or_now():
    # --recheck-at end: every recheck after the last event, as of it;
    # now: after the last event, without ts.
    reqs = [{"op": "check", "id": "r1", "ts": "2026-03-02T10:00:00.000Z"},
            {"op": "observe", "kind": "login", "ts": "2026-03-09T10:00:00.000Z",
             "account": "a"},
            {"op": "observe", "kind": "login", "ts": "2026-03-20T10:00:00.000Z",
             "account": "a"}]
    labels = [{"id": "r1", "payout": evaluate.ts_ms("2026-03-09T09:00:00.000Z")}]
    lines, what = evaluate.timeline(reqs, labels, True, "end")
    eq(what, [("check", "r1"), None, None, ("recheck", "r1")], "order at end")
    eq(json.loads(lines[3]), {"op": "recheck", "id": "r1", "ts": "2026-03-20T10:00:00.000Z"},
       "recheck as of the last event")
    lines, what = evaluate.timeline(reqs, labels, True, "now")
    eq(what, [("check", "r1"), None, None, ("recheck", "r1")], "order now")
    eq(json.loads(lines[3]), {"op": "recheck", "id": "r1"}, "recheck without ts")


@suite.case("qualified_figures")
def qualified_figures():
    # Labels that say which referrals would be paid get the same figures
    # among those alone; labels without the field get none.
    labels = [{"id": "q1", "label": "legit", "pattern": "p", "qualified": True},
              {"id": "q2", "label": "legit", "pattern": "p", "qualified": False},
              {"id": "q3", "label": "legit", "pattern": "p", "qualified": True},
              {"id": "q4", "label": "fraud", "pattern": "f", "qualified": True},
              {"id": "q5", "label": "fraud", "pattern": "f"}]
    checks = {"q1": {"action": "allow"}, "q2": {"action": "review"},
              "q3": {"action": "allow"}, "q4": {"action": "allow"},
              "q5": {"action": "deny"}}
    rechecks = {"q1": {"action": "review"}, "q4": {"action": "deny"}}
    s = evaluate.score(labels, checks, rechecks)
    q = s["qualified"]
    eq((q["legit"]["n"], q["legit"]["flagged_check"], q["legit"]["flagged_payout"]),
       (2, 0, 1), "qualified legit: n, flagged at check, by payout")
    eq((q["fraud"]["n"], q["fraud"]["denied_payout"]), (1, 1), "qualified fraud")
    eq((s["totals"]["legit"]["n"], s["totals"]["legit"]["flagged_payout"]), (3, 2),
       "every legit referral")
    m = evaluate.merge_totals([s, s], "qualified")
    eq((m["legit"]["n"], m["legit"]["rates"]["flagged_payout"]), (4, 0.5), "merged")
    out = []
    evaluate._totals(out.append, s["totals"], s["qualified"])
    check(any("qualified legit" in x for x in out), "no qualified line", out)
    s = evaluate.score([dict(l, qualified=None) for l in labels], checks, rechecks)
    out = []
    evaluate._totals(out.append, s["totals"], s["qualified"])
    eq(len(out), 2, "lines without qualified labels")


@suite.case("recheck_ts_probe")
def recheck_ts_probe():
    # A daemon that takes a ts on recheck answers the probe (an unknown id)
    # not_found; one that does not refuses the field; anything else falls
    # back to rechecks without ts, with a note.
    class Fake:
        def __init__(self, reply):
            self.reply = reply

        def call(self, req):
            eq(sorted(req), ["id", "op", "ts"], "probe fields")
            return self.reply
    notes = []
    eq(evaluate.recheck_accepts_ts(Fake({"id": "rgeval-probe", "error": {
        "code": "not_found", "msg": "no verdict for this id"}}), notes), True, "not_found")
    eq(evaluate.recheck_accepts_ts(Fake({"id": "rgeval-probe", "error": {
        "code": "bad_request", "field": "ts", "msg": "unknown field"}}), notes), False,
       "bad_request on ts")
    eq(notes, [], "notes after the expected replies")
    eq(evaluate.recheck_accepts_ts(Fake({"error": {"code": "unknown_op", "msg": "x"}}),
                                   notes), False, "unknown_op")
    check(len(notes) == 1 and "unknown_op" in notes[0], "no note for an odd reply", notes)
    # and the real daemon of this tree
    d = rgtest.Daemon("probe").start()
    r, _ = d.call({"op": "recheck", "id": "rgeval-probe", "ts": "2026-01-01T00:00:00Z"})
    check(r.get("error", {}).get("code") in ("not_found", "bad_request"),
          "the probe's reply changed: update recheck_accepts_ts", r)
    d.stop()


def gate_run(tag, *extra):
    d = rgtest.mkdtemp(tag)
    v, j = os.path.join(d, "verdicts.ndjson"), os.path.join(d, "eval.json")
    rc, so, se = run([EVAL, "--refguardd", rgtest.REFGUARDD, "--rules", rgtest.RULES_DIR,
                      "--gate", THRESHOLDS, "--verdicts", v, "--json", j] + list(extra))
    return rc, so, se, v, j


@suite.case("gate_thresholds_hold", timeout=900)
def gate_thresholds_hold():
    need_writer()
    rc, so, se, v, j = gate_run("gate1")
    check(rc == 0, "evaluate.py --gate failed (exit %d): %s" % (rc, se[-3000:]), so[-3000:])
    with open(j) as f:
        res = json.load(f)
    with open(THRESHOLDS) as f:
        th = json.load(f)
    eq([s["name"] for s in res["sets"]], th["sets"], "sets run")
    for s in res["sets"]:
        eq(s["totals"]["legit"]["n"] + s["totals"]["fraud"]["n"], 1500, "referrals of " + s["name"])
        check(s["rules"], "no rule matched anything in " + s["name"])
    check(res["geoip"], "the gate ran without the pool's GeoIP stand-in")
    # Each rule's matches left allowed by payout, counted again from the
    # verdicts file: the figures a shadow rule is judged by.
    allowed = {}
    for line in read(v).splitlines():
        r = json.loads(line)
        if r["check"] != "allow" or r["recheck"] != "allow":
            continue
        for rule in set(r["check_rules"]) | set(r["recheck_rules"]):
            c = allowed.setdefault((r["set"], rule), {"legit": 0, "fraud": 0})
            c[r["label"]] += 1
    for s in res["sets"]:
        for rule, e in s["rules"].items():
            eq(e["allowed"], allowed.get((s["name"], rule), {"legit": 0, "fraud": 0}),
               "%s %s: matched and left allowed" % (s["name"], rule))
    check(any(e["mode"] == "shadow" and e["allowed"]["fraud"]
              for s in res["sets"] for e in s["rules"].values()),
          "no shadow rule's matches left allowed: nothing tested")
    print("  totals: fraud %s, legit %s" % (res["totals"]["fraud"]["rates"],
                                           res["totals"]["legit"]["rates"]))
    state["verdicts"] = read(v)


@suite.case("same_seed_same_verdicts", timeout=900)
def same_seed_same_verdicts():
    need_writer()
    if "verdicts" not in state:
        raise Skip("gate_thresholds_hold did not run")
    rc, so, se, v, j = gate_run("gate2")
    check(rc == 0, "evaluate.py --gate failed (exit %d): %s" % (rc, se[-3000:]))
    first, second = state["verdicts"].splitlines(), read(v).splitlines()
    eq(len(second), len(first), "verdict lines")
    diff = [(a, b) for a, b in zip(first, second) if a != b]
    check(not diff, "%d referrals got other verdicts on the second run, e.g. %s" % (
        len(diff), diff[:2]))


def generated_set():
    """generator_reproducible's set (seed 7), with the GeoIP writer."""
    need_writer()
    d = state.get("dir")
    if d is None:
        raise Skip("generator_reproducible did not run")
    return d


def empty_rule_file(tag, name):
    """A rule directory holding one empty file NAME (alone: no rules; after
    the shipped directory: that file masked)."""
    d = os.path.join(rgtest.mkdtemp(tag), "rules")
    os.makedirs(d)
    open(os.path.join(d, name), "w").close()
    return d


@suite.case("gate_can_fail", timeout=600)
def gate_can_fail():
    # With no rules nothing is flagged: the gate must say so and fail.
    d = generated_set()
    empty = empty_rule_file("norules", "00-empty.rules")
    rc, so, se = run([EVAL, "--refguardd", rgtest.REFGUARDD, "--rules", empty,
                      "--gate", THRESHOLDS, "--set", d, "--quiet"])
    eq(rc, 3, "exit status with no rules (%s)" % se[-2000:])
    check("fraud flagged_payout = 0.0000, below the minimum" in se,
          "the gate did not name the broken threshold", se[-2000:])


@suite.case("baseline_shows_what_moved", timeout=600)
def baseline_shows_what_moved():
    # The shipped rules against themselves with the ring rules masked:
    # only the rings move, and the mutual ones come to be denied; against
    # themselves, nothing moves.
    d = generated_set()
    mask = empty_rule_file("mask", "rings.rules")
    j = os.path.join(rgtest.mkdtemp("baseline"), "eval.json")
    for base, tag in (([rgtest.RULES_DIR, mask], "masked"), ([rgtest.RULES_DIR], "same")):
        argv = [EVAL, "--refguardd", rgtest.REFGUARDD, "--rules", rgtest.RULES_DIR,
                "--pool-data", "--set", d, "--quiet", "--json", j]
        for b in base:
            argv += ["--baseline", b]
        rc, so, se = run(argv)
        check(rc == 0, "evaluate.py --baseline failed (exit %d): %s" % (rc, se[-3000:]))
        with open(j) as f:
            res = json.load(f)
        rows = {r["pattern"]: r for r in res["baseline"]["moved"]}
        for r in rows.values():
            check(r["before"] != r["after"], "a row that did not move", r)
        if tag == "same":
            eq(rows, {}, "patterns moved against the same rules")
            eq(res["baseline"]["totals"], res["totals"], "totals against the same rules")
            continue
        check(set(rows) <= {"ring_cycle", "ring_mutual"},
              "patterns other than rings moved with the ring rules masked", sorted(rows))
        check("ring_mutual" in rows, "mutual referrals did not move", sorted(rows))
        m = rows["ring_mutual"]
        check(m["after"]["denied_check"] > m["before"]["denied_check"],
              "ring.mutual did not deny more than no ring rule", m)


def without_label_times(explain):
    """An explain with the "since" of each label it found dropped: a
    feedback record is stamped with the time the daemon received it,
    which differs from one run to the next."""
    def walk(v):
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()
                    if not (k == "since" and v.get("fn") == "labeled")}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v
    return walk(json.loads(explain))


def replay_through(lines, threads, secret):
    """The lines through a daemon with eval_threads = threads and the
    hash secret file secret, pipelined on one connection (so that
    batches hold many checks): the replies, then each 25th referral's
    explain, and the writer's stats."""
    d = rgtest.Daemon("threads%d" % threads,
                      conf={"eval_threads": threads, "retention": "3650d",
                            "max_pipeline": 100000, "hash_secret_file": secret})
    d.start()
    try:
        with d.client(timeout=300) as c:
            replies = c.pipeline(lines)
            ids = [json.loads(l)["id"] for l in lines if '"op":"check"' in l][::25]
            explains = c.pipeline([{"op": "explain", "id": i} for i in ids])
            stats, _ = c.call({"op": "stats"})
    finally:
        d.stop()
    return replies, explains, stats["writer"]


@suite.case("eval_threads_same_verdicts", timeout=900)
def eval_threads_same_verdicts():
    # The writer's evaluation threads give the verdicts one thread gives,
    # byte for byte: every check's rules see the history as of its own
    # event, although the batch's later events are stored before they
    # run. Repeated checks (replays) and verdict reads go between runs;
    # rechecks and feedback end the parallel part of their batches.
    d = rgtest.mkdtemp("threads")
    generate(d, 7, 0, variant="B", n=1200)
    with open(os.path.join(d, "events.ndjson")) as f:
        events = [l.rstrip("\n") for l in f if l.strip()]
    checks = [json.loads(l)["id"] for l in events if '"op":"check"' in l]
    lines = []
    for i, l in enumerate(events):
        lines.append(l)
        if i % 301 == 300 and '"op":"check"' in l:
            lines.append(l)     # the same check again: a replay
        if i % 499 == 498:      # a read between runs
            lines.append(json.dumps({"op": "verdict", "id": checks[i % len(checks)]}))
        if i % 997 == 996:      # as of this line's time: the same for both
            lines.append(json.dumps({"op": "recheck", "id": checks[i % len(checks)],
                                     "ts": json.loads(l)["ts"]}))
        if i % 1999 == 1998:
            lines.append(json.dumps({"op": "feedback", "id": checks[(i * 7) % len(checks)],
                                     "label": "fraud"}))
    secret = os.path.join(d, "secret")  # one for both: explains show hashes
    one, ex1, w1 = replay_through(lines, 1, secret)
    two, ex2, w2 = replay_through(lines, 2, secret)
    eq(len(one), len(lines), "replies with one thread")
    eq(w1["parallel_jobs"], 0, "parallel jobs with one thread")
    check(w2["eval_threads"] == 2 and w2["parallel_jobs"] > 0,
          "two threads evaluated nothing in parallel", w2)
    for i, (a, b) in enumerate(zip(one, two)):
        check(a == b, "reply %d of %d differs with two threads (%s)" % (i, len(lines), lines[i][:200]),
              a, b)
    eq(len(two), len(one), "replies with two threads")
    eq([without_label_times(e) for e in ex2], [without_label_times(e) for e in ex1],
       "explains with two threads")


@suite.case("daemon_failure_fails_the_run", timeout=300)
def daemon_failure_fails_the_run():
    # A refguardd that prints a sanitizer report and exits 1 when told to
    # stop (as an --enable-asan build does on a leak) fails the run.
    d = rgtest.mkdtemp("wrap")
    wrap = os.path.join(d, "refguardd")
    with open(wrap, "w") as f:
        f.write("#!/bin/sh\n\"%s\" \"$@\" &\npid=$!\n"
                "trap 'kill -TERM $pid; wait $pid; echo \"x.c:1:2: runtime error: test\" >&2; "
                "exit 1' TERM\nwait $pid\n" % rgtest.REFGUARDD)
    os.chmod(wrap, 0o755)
    rc, so, se = run([EVAL, "--refguardd", wrap, "--rules", rgtest.RULES_DIR,
                      "--set", "A:3:100", "--quiet", "--data", d])
    eq(rc, 1, "exit status (%s)" % se[-2000:])
    check("refguardd exited with 1" in se and "runtime error: test" in se,
          "the failure is not reported", se[-2000:])


if __name__ == "__main__":
    sys.exit(suite.main())
