#!/usr/bin/env python3
"""refguardctl against a running refguardd: ping, send, check and observe
from flags or stdin, verdict, explain, stats, reload; the human output
(aligned, coloured only on a terminal without NO_COLOR) and --json; export
and import (a round trip reproduces the verdict replies byte for byte);
the progress bar; bash completion; the exit status (0 ok, 1 an error
reply, 2 usage, 3 cannot connect). `rules check` needs no daemon."""

import json
import os
import pty
import re
import select
import shlex
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rgtest  # noqa: E402
from rgtest import check, check_req, eq, rule_names, verdict_shape  # noqa: E402

T = rgtest.Suite("test_ctl")
ids = rgtest.Ids("c")


daemon = rgtest.Shared("ctl", rules="shipped")


def ctl(*args, **kw):
    return daemon().ctl(*args, **kw)


def lines(out):
    return [l for l in out.split("\n") if l != ""]


def good_checks(n, tag):
    base = rgtest.now_ms() - 3600 * 1000
    return [check_req("%s-%d" % (tag, i), {"account": "%s-r%d" % (tag, i)},
                      {"account": "%s-e%d" % (tag, i)}, ts=base + i)
            for i in range(n)]


def write_lines(name, reqs):
    p = os.path.join(daemon().dir, name)
    with open(p, "w") as f:
        for r in reqs:
            f.write((rgtest.jdump(r) if isinstance(r, dict) else r) + "\n")
    return p


@T.case("ping: exit 0")
def _():
    rc, out, err = ctl("--json", "ping")
    eq(rc, 0, "exit status (stderr %r)" % err)
    eq(out, '{"ok":true}\n', "output")
    rc, out, err = ctl("ping")
    eq(rc, 0, "exit status (stderr %r)" % err)
    eq(out, "ok  true\n", "human output")
    # the socket from $REFGUARD_SOCKET
    env = dict(os.environ, REFGUARD_SOCKET=daemon().sock)
    p = rgtest.subprocess.run([rgtest.REFGUARDCTL, "ping"], env=env,
                              capture_output=True, timeout=30)
    eq(p.returncode, 0, "ping via $REFGUARD_SOCKET (stderr %r)" % p.stderr)


@T.case("send FILE: one reply per line, exit 0")
def _():
    reqs = good_checks(500, "s") + [{"op": "ping"}]
    p = write_lines("good.ndjson", reqs)
    rc, out, err = ctl("send", p)
    eq(rc, 0, "exit status (stderr %r)" % err)
    got = lines(out)
    eq(len(got), len(reqs), "number of replies")
    for q, raw in zip(reqs[:-1], got):
        v = json.loads(raw)
        verdict_shape(v, raw)
        eq(v["id"], q["id"], "reply order")
    eq(got[-1], '{"ok":true}', "last reply")
    # stdin, and "-"; a last line without a newline still counts
    data = "".join(rgtest.jdump(q) + "\n" for q in reqs[:3]) + \
        '{"op":"ping"}'
    for args in (("send",), ("send", "-")):
        rc, out, err = ctl(*args, input=data)
        eq(rc, 0, "%s exit status (stderr %r)" % (" ".join(args), err))
        eq(len(lines(out)), 4, "%s replies" % " ".join(args))


@T.case("send FILE with an error line: every reply printed, exit 1")
def _():
    reqs = good_checks(3, "se")
    p = write_lines("mixed.ndjson", [reqs[0], '{"op":"check","id":"x",',
                                     reqs[1], '{"op":"nope"}', reqs[2]])
    rc, out, err = ctl("send", p)
    eq(rc, 1, "exit status (stderr %r)" % err)
    got = lines(out)
    eq(len(got), 5, "number of replies")
    eq(json.loads(got[1])["error"]["code"], "bad_json", "reply 2")
    eq(json.loads(got[3])["error"]["code"], "unknown_op", "reply 4")
    eq(json.loads(got[4])["id"], reqs[2]["id"], "reply 5")
    # a missing input file is a usage error
    rc, out, err = ctl("send", os.path.join(daemon().dir, "nonexistent"))
    eq(rc, 2, "send of a missing file (stderr %r)" % err)


@T.case("send: a large file (20,000 lines) does not deadlock", timeout=90)
def _():
    reqs = good_checks(20000, "big")
    p = write_lines("big.ndjson", reqs)
    rc, out, err = ctl("send", p, timeout=80)
    eq(rc, 0, "exit status (stderr %r)" % err)
    got = lines(out)
    eq(len(got), len(reqs), "number of replies")
    eq(json.loads(got[-1])["id"], reqs[-1]["id"], "last reply")


@T.case("verdict ID / explain ID")
def _():
    q = check_req(ids.id(), {"account": ids.account(), "email":
                             "Same.Person@gmail.com"},
                  {"account": ids.account(), "email":
                   "sameperson@gmail.com"}, ts=rgtest.now_ms() - 1000)
    r, raw = daemon().call(q)
    verdict_shape(r, raw)
    eq(r["action"], "deny", "check action")
    rc, out, err = ctl("--json", "verdict", q["id"])
    eq(rc, 0, "verdict exit status (stderr %r)" % err)
    eq(out.encode(), raw + b"\n", "verdict output")
    rc, out, err = ctl("explain", q["id"], "--json")
    eq(rc, 0, "explain exit status (stderr %r)" % err)
    e = json.loads(out)
    eq(e.get("id"), q["id"], "explain id")
    check("sameperson" not in out.lower() and "same.person" not in
          out.lower(), "explain output shows the raw email", out)
    rc, out, err = ctl("--json", "verdict", "c-no-such-id")
    eq(rc, 1, "verdict of an unknown id (stdout %r)" % out)
    eq(json.loads(out)["error"]["code"], "not_found", "error code")
    rc, out, err = ctl("verdict", "c-no-such-id")
    eq(rc, 1, "verdict of an unknown id, human (stdout %r)" % out)
    eq(out, "", "human error: nothing on stdout")
    check("not_found" in err and "c-no-such-id" in err,
          "human error names the code and the id", err)
    # ids that need JSON escaping
    q2 = check_req('c-"quoted"\\id', {"account": ids.account()},
                   {"account": ids.account()})
    r2, raw2 = daemon().call(q2)
    verdict_shape(r2, raw2)
    rc, out, err = ctl("verdict", "--json", q2["id"])
    eq(rc, 0, "verdict of an id with quotes (stdout %r)" % out)
    eq(out.encode(), raw2 + b"\n", "verdict output")


@T.case("stats and reload")
def _():
    rc, out, err = ctl("--json", "stats")
    eq(rc, 0, "stats exit status (stderr %r)" % err)
    st = json.loads(out)
    for k in ("requests", "checks", "store", "ruleset"):
        check(k in st, "stats lacks %r" % k, out)
    rc, out, err = ctl("reload", "--json")
    eq(rc, 0, "reload exit status (stderr %r)" % err)
    r = json.loads(out)
    check(r.get("ok") is True, "reload reply", out)
    eq(r.get("ruleset"), st["ruleset"]["hash"], "same rules, same hash")


@T.case("cannot connect: exit 3")
def _():
    d = daemon()
    nosock = os.path.join(d.dir, "no-such.sock")
    rc, out, err = d.ctl("ping", sock=nosock)
    eq(rc, 3, "exit status (stderr %r)" % err)
    check(nosock in err, "message does not name the socket", err)
    # a socket path that is too long
    rc, out, err = d.ctl("stats", sock="/tmp/" + "x" * 200)
    eq(rc, 3, "exit status on a too long path (stderr %r)" % err)
    # a daemon that went away
    d2 = rgtest.Daemon("ctlgone").start()
    d2.stop()
    rc, out, err = d2.ctl("verdict", "x")
    eq(rc, 3, "exit status after the daemon stopped (stderr %r)" % err)


@T.case("bad usage: exit 2")
def _():
    for args in ((), ("frobnicate",), ("verdict",), ("verdict", "a", "b"),
                 ("ping", "extra"), ("send", "a", "b"), ("-x", "ping"),
                 ("rules",), ("rules", "check"), ("rules", "list", "x"),
                 ("check",),
                 ("check", "--nope", "x"), ("check", "-", "-"),
                 ("check", "stray"), ("observe",), ("export", "extra"),
                 ("export", "--bogus"), ("import",), ("import", "a", "b")):
        rc, out, err = ctl(*args)
        check(rc == 2, "refguardctl %s: exit %d, expected 2" % (
            " ".join(args), rc), out, err)
        check("usage" in err, "refguardctl %s: no usage message" %
              " ".join(args), err)
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "-V"])
    eq(rc, 0, "-V exit status")


def run_tty(argv, stream="stdout", env=None, timeout=30):
    """Run argv with stdout (or stderr) on a pseudo-terminal: (exit status,
    what the terminal got, the other stream)."""
    master, slave = pty.openpty()
    kw = {"stdout": slave, "stderr": subprocess.PIPE} if stream == \
        "stdout" else {"stdout": subprocess.PIPE, "stderr": slave}
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, env=env, **kw)
    os.close(slave)
    got = b""
    while True:
        r, _, _ = select.select([master], [], [], timeout)
        if not r:
            p.kill()
            raise rgtest.Fail("%s: no output within %ss" % (argv, timeout))
        try:
            b = os.read(master, 65536)
        except OSError:     # EIO: the other side closed
            b = b""
        if not b:
            break
        got += b
    os.close(master)
    other = (p.stderr if stream == "stdout" else p.stdout).read()
    rc = p.wait(timeout)
    return rc, got.decode("utf-8", "replace"), other.decode()


def deny_pair(tag):
    """A referral the shipped rules deny (the same email, two spellings)."""
    return check_req(ids.id(tag), {"account": ids.account(), "email":
                                   "%s.person@gmail.com" % tag},
                     {"account": ids.account(), "email":
                      "%sperson@gmail.com" % tag}, ts=rgtest.now_ms() - 500)


@T.case("human output: aligned verdict, explain and stats; no colour "
        "without a terminal")
def _():
    q = deny_pair("hu")
    r, raw = daemon().call(q)
    eq(r["action"], "deny", "check action")
    rc, out, err = ctl("verdict", q["id"])
    eq(rc, 0, "verdict exit status (stderr %r)" % err)
    check("\033[" not in out, "colour escapes without a terminal", out)
    check(re.search(r"^action +deny$", out, re.M), "no 'action  deny' line",
          out)
    check(re.search(r"^score +%d$" % r["score"], out, re.M), "no score line",
          out)
    rule = r["reasons"][0]["rule"]
    check(re.search(r"^  RULE +ACTION +SCORE +MSG$", out, re.M),
          "no reasons table header", out)
    row = [l for l in out.split("\n") if l.strip().startswith(rule)]
    check(len(row) == 1 and "deny" in row[0] and r["reasons"][0]["msg"] in
          row[0], "no reasons row for %s" % rule, out)
    # columns are aligned: the header's ACTION over the row's action
    hdr = [l for l in out.split("\n") if "RULE" in l][0]
    eq(row[0].index(" deny") + 1, hdr.index("ACTION"), "ACTION column")
    rc, out, err = ctl("explain", q["id"])
    eq(rc, 0, "explain exit status (stderr %r)" % err)
    m = re.search(r"^rules \((\d+) evaluated, (\d+) matched\)$", out, re.M)
    check(m is not None, "no rules summary in explain", out)
    check(int(m.group(2)) == len(r["reasons"]) + len(r["shadow"]),
          "matched count", out)
    check(re.search(r"^  MATCH %s\b.*deny" % re.escape(rule), out, re.M),
          "no MATCH line for %s" % rule, out)
    check(re.search(r"^  - +\S+ +(enforce|shadow) ", out, re.M),
          "no line for an unmatched rule", out)
    check(re.search(r"-> (true|false)", out), "no facts under the rules",
          out)
    check("person@" not in out, "explain shows a raw email", out)
    rc, out, err = ctl("stats")
    eq(rc, 0, "stats exit status (stderr %r)" % err)
    for group in ("daemon", "requests", "checks", "errors", "store",
                  "writer", "ruleset"):
        check(re.search(r"^%s$" % group, out, re.M), "no %s group" % group,
              out)
    check(re.search(r"^  events +\d+$", out, re.M), "no store events line",
          out)
    check(re.search(r"^  uptime +\d+s \(since \d{4}-\d\d-\d\d "
                    r"\d\d:\d\d:\d\d UTC\)$", out, re.M),
          "no uptime line (a duration and a date)", out)
    check("\033[" not in out, "colour escapes in stats", out)


@T.case("explain: a fact under a not reads as the rule counts it")
def _():
    d = rgtest.Daemon("ctlnot", rules="empty")
    with open(os.path.join(d.dir, "rules.empty", "not.rules"), "w") as f:
        f.write('rule ctl.untagged {\n    desc "untagged address"\n'
                '    when referee.email.domain == "example.org"\n'
                '         and not referee.email.tagged\n'
                '    action review\n    score 10\n}\n')
    d.start()
    try:
        for tag, email, res, counts in (("nt1", "ann@example.org", "false",
                                         "true"),
                                        ("nt2", "ann+x@example.org", "true",
                                         "false")):
            q = check_req(ids.id(tag), {"account": ids.account()},
                          {"account": ids.account(), "email": email})
            d.call(q)
            rc, out, err = d.ctl("explain", q["id"])
            eq(rc, 0, "explain exit status (stderr %r)" % err)
            want = "not referee.email.tagged  -> %s (counts as %s)" % (
                res, counts)
            check(want in out, "no line %r" % want, out)
            check("negated" not in out, "the JSON key printed", out)
    finally:
        d.stop()


@T.case("colour on a terminal, not with NO_COLOR; --json never")
def _():
    q = deny_pair("co")
    daemon().call(q)
    argv = [rgtest.REFGUARDCTL, "-s", daemon().sock, "verdict", q["id"]]
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    rc, out, err = run_tty(argv, env=env)
    eq(rc, 0, "exit status on a terminal (stderr %r)" % err)
    check("\033[31mdeny\033[0m" in out, "deny is not red on a terminal",
          repr(out))
    rc, out, err = run_tty(argv, env=dict(env, NO_COLOR="1"))
    eq(rc, 0, "exit status with NO_COLOR")
    check("\033[" not in out, "colour despite NO_COLOR", repr(out))
    check("deny" in out, "no action with NO_COLOR", out)
    rc, out, err = run_tty(argv + ["--json"], env=env)
    check("\033[" not in out, "colour with --json", repr(out))
    json.loads(out)


@T.case("check and observe from flags; check - from stdin; exit codes")
def _():
    d = daemon()
    rid = ids.id("fl")
    a, b = ids.account(), ids.account()
    dev = "sdk-%s" % rid
    rc, out, err = ctl("--json", "check", "--id", rid, "--ts",
                       str(rgtest.now_ms() - 2000), "--campaign", "spring",
                       "--reward-amount", "10", "--reward-currency", "EUR",
                       "--referrer-account", a, "--referrer-email",
                       "fl.one@example.com", "--referrer-ip", "81.2.69.160",
                       "--referrer-device-id", dev, "--referrer-ua", "UA/1",
                       "--referrer-device", "tz=Europe/London",
                       "--referee-account", b, "--referee-email",
                       "fl.two@example.com", "--referee-ip", "81.2.69.161",
                       "--referee-phone", "+44 7700 900123",
                       "--referee-payment", "pm_fl_1",
                       "--referee-device-id", dev, "--referee-ua", "UA/1",
                       "--referee-device", "tz=Europe/London")
    eq(rc, 0, "check exit status (stderr %r)" % err)
    v = json.loads(out)
    verdict_shape(v, out)
    eq(v["id"], rid, "id")
    # the same device id on both sides: the flags reached the daemon
    check(any(h["rule"] == "self_referral.same_device_id"
              for h in v["reasons"]),
        "no device rule matched: the device flags were lost", out)
    rc, out, err = ctl("--json", "explain", rid)
    e = json.loads(out)
    ev = e["event"]
    eq(ev.get("campaign"), "spring", "campaign in explain")
    eq(ev.get("reward"), {"amount": 10, "currency": "EUR"}, "reward")
    for k in ("email", "ip", "device.id"):
        check(k in ev["referrer"]["identities"], "referrer lacks %s" % k,
              out)
    for k in ("phone", "payment", "email", "ip"):
        check(k in ev["referee"]["identities"], "referee lacks %s" % k, out)
    # check -: JSON from stdin, flags override its fields
    rid2 = ids.id("st")
    req = {"id": rid2, "referrer": {"account": ids.account()},
           "referee": {"account": "will-be-replaced"}}
    b2 = ids.account()
    rc, out, err = ctl("check", "-", "--referee-account", b2, "--json",
                       input=json.dumps(req, indent=2))
    eq(rc, 0, "check - exit status (stderr %r)" % err)
    eq(json.loads(out)["id"], rid2, "check - id")
    rc, out, err = ctl("--json", "explain", rid2)
    check("error" not in json.loads(out), "check - not stored", out)
    # the human form of the same verdict
    rc, out, err = ctl("check", "-", input=json.dumps(req))
    eq(rc, 0, "check - again (replay) exit status (stderr %r)" % err)
    check(re.search(r"^id +%s$" % re.escape(rid2), out, re.M),
          "human check output", out)
    # stdin with another op, or not JSON: usage
    rc, out, err = ctl("check", "-", input='{"op":"observe"}')
    eq(rc, 2, "check - with another op (stderr %r)" % err)
    rc, out, err = ctl("check", "-", input='{"id":')
    eq(rc, 2, "check - with broken JSON (stderr %r)" % err)
    rc, out, err = ctl("check", "--id", "x", "--reward-amount", "ten")
    eq(rc, 2, "a non-numeric --reward-amount (stderr %r)" % err)
    check("--reward-amount" in err, "message names the flag", err)
    rc, out, err = ctl("check", "--id", "x", "--referee-device", "novalue")
    eq(rc, 2, "--referee-device without = (stderr %r)" % err)
    # a request the daemon refuses: its error, exit 1
    rc, out, err = ctl("check", "--id", ids.id("bad"), "--referrer-account",
                       "same", "--referee-account", "same")
    eq(rc, 1, "a refused check (stdout %r, stderr %r)" % (out, err))
    check("bad_request" in err and "referee.account" in err,
          "human error names the code and field", err)
    rc, out, err = ctl("--json", "check", "--referrer-account", "x",
                       "--referee-account", "y")
    eq(rc, 1, "a check without id")
    eq(json.loads(out)["error"]["field"], "id", "error field")
    # observe
    rc, out, err = ctl("--json", "observe", "--kind", "login", "--account",
                       a, "--ip", "81.2.69.162", "--email",
                       "fl.one@example.com", "--device-id", dev,
                       "--ts", "2026-01-01T00:00:00Z")
    if rc == 1 and "ts" in out:     # older than retention on a slow clock
        rc, out, err = ctl("--json", "observe", "--kind", "login",
                           "--account", a, "--ip", "81.2.69.162")
    eq(rc, 0, "observe exit status (stdout %r, stderr %r)" % (out, err))
    o = json.loads(out)
    check(o.get("ok") is True and isinstance(o.get("seq"), int),
          "observe reply", out)
    rc, out, err = ctl("observe", "--kind", "logn", "--account", a)
    eq(rc, 1, "observe of an unknown kind (stderr %r)" % err)
    rc, out, err = ctl("observe", "--kind", "signup", "--account", a)
    eq(rc, 0, "human observe (stderr %r)" % err)
    check(re.search(r"^seq +\d+$", out, re.M), "human observe reply", out)
    # cannot connect: 3, for the new commands too
    rc, out, err = d.ctl("check", "--id", "x", sock=os.path.join(
        d.dir, "none.sock"))
    eq(rc, 3, "check without a daemon")


def export_file(d, name, *extra):
    p = os.path.join(d.dir, name)
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "-c", d.conf_path,
                               "export", "-o", p] + list(extra), timeout=120)
    eq(rc, 0, "export exit status (stdout %r, stderr %r)" % (out, err))
    check(not os.path.exists(p + ".tmp"), "export left its .tmp file")
    return p


@T.case("export while the daemon runs; import into a fresh state dir "
        "reproduces every verdict reply byte for byte", timeout=180)
def _():
    d = rgtest.Daemon("ctlexp").start()
    base = rgtest.now_ms() - 3600 * 1000
    reqs = []
    for i in range(300):
        a, b = "ex-r%d" % (i % 40), "ex-e%d" % i
        reqs.append(check_req("ex-%d" % i, {
            "account": a, "email": "ex.%d@gmail.com" % (i % 40),
            "ip": "100.70.%d.%d" % (i % 7, i % 200),
            "device": dict(rgtest.LAPTOP, canvas="x%d" % (i % 9))},
            {"account": b, "email": "ex%d@gmail.com" % (i % 50),
             "ip": "100.70.%d.%d" % (i % 5, i % 100)}, ts=base + i * 1000))
        if i % 3 == 0:
            reqs.append(rgtest.observe_req("login", a, ts=base + i * 1000,
                                           ip="100.71.0.%d" % (i % 250)))
    with d.client() as c:
        replies = c.pipeline(reqs)
    eq(len(replies), len(reqs), "replies")
    checks = [(q["id"], raw) for q, raw in zip(reqs, replies)
              if q["op"] == "check"]
    actions = set(json.loads(raw)["action"] for _, raw in checks)
    check(len(actions) > 1, "the data should give several actions",
          actions)
    # re-checked at payout, some twice: later versions of their verdicts
    rechecked = {}
    with d.client() as c:
        for k, (rid, raw) in enumerate(checks[::30]):
            for n in range(1 + k % 2):
                r, rraw = c.call({"op": "recheck", "id": rid,
                                  "ts": base + 400000 + n * 1000})
                check("error" not in r, "recheck %s" % rid, rraw)
            rechecked[rid] = c.call({"op": "verdict", "id": rid})[1]
            check(rechecked[rid] != raw, "the verdict of %s after its "
                  "recheck" % rid, rechecked[rid])
    p = export_file(d, "all.ndjson")       # the daemon is running
    lines = open(p).read().split("\n")
    eq(lines[-1], "", "the file ends with a newline")
    head, end = json.loads(lines[0]), json.loads(lines[-2])
    eq(head.get("refguard_export"), 3, "header")
    # the pairs of keys the rules count, indexed from the first check on
    check(len(head.get("pairs", [])) >= 1 and
          all(x[4] == 1 for x in head["pairs"]), "the header's pairs", head)
    eq(end.get("end"), True, "end line")
    eq(end.get("events"), len(reqs), "events exported")
    eq(end.get("verdicts"), len(checks), "verdicts exported")
    for raw in ("ex.1@gmail.com", "ex1@gmail.com", "100.70.1.1"):
        check(raw not in open(p).read(), "raw %r in the export" % raw)
    # into the running daemon's own state dir: refused, it is in use
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "import", "--state",
                               d.state, p])
    eq(rc, 1, "import into a live store (stderr %r)" % err)
    check("in use" in err and "stop" in err, "in-use message", err)
    # a fresh state dir, the secret copied, a daemon on it
    d2 = rgtest.Daemon("ctlimp")
    err = d2.import_from(d, p)
    check("imported %d events, %d verdicts" % (len(reqs), len(checks)) in
          err, "import summary", err)
    check("warning" in err and "secret" in err,
          "no warning about the missing secret", err)
    # import again into the now non-empty store: refused
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "import", "--state",
                               d2.state, p])
    eq(rc, 1, "import into a non-empty store (stderr %r)" % err)
    check("not empty" in err, "non-empty message", err)
    d2.start()
    with d.client() as c1, d2.client() as c2:
        for rid, raw in checks:
            raw = rechecked.get(rid, raw)
            eq(c1.call({"op": "verdict", "id": rid})[1], raw,
               "verdict %s from the exporting daemon" % rid)
            eq(c2.call({"op": "verdict", "id": rid})[1], raw,
               "verdict %s after the round trip" % rid)
            eq(c2.call({"op": "explain", "id": rid})[1],
               c1.call({"op": "explain", "id": rid})[1],
               "explain %s after the round trip" % rid)
        # export of the imported store: the same lines but the header's time
        p2 = export_file(d2, "again.ndjson")
        # (no gaps in the seqs here, so even the seqs are the same)
        a, b = open(p).read().split("\n"), open(p2).read().split("\n")
        eq(len(b), len(a), "lines in the re-export")
        check(a[1:] == b[1:], "the re-export differs from the export",
              [x for x, y in zip(a, b) if x != y][1:3])
        eq(sum(len(json.loads(x).get("rechecks", [])) for x in a if x),
           sum(1 + k % 2 for k in range(len(rechecked))),
           "re-checks in the export")
        # the history came along (index, links, secret): a new check sees it
        q = check_req("ex-new", {"account": "ex-r1"},
                      {"account": "ex-new-e", "email": "ex.1@gmail.com"})
        r1, _ = c1.call(dict(q))
        r2, _ = c2.call(dict(q))
        eq(r2["action"], r1["action"], "a new check on both stores")
        eq(rule_names(r2["reasons"]), rule_names(r1["reasons"]),
           "its reasons")
        check(r2["action"] == "deny", "the imported history was not seen",
              r2)
    s1, s2 = d.stats()["store"], d2.stats()["store"]
    check(s1["pairs_indexed"] >= 1, "pairs indexed", s1)
    for k in ("events", "index_entries", "links", "verdicts", "last_seq",
              "pairs_indexed"):
        eq(s2[k], s1[k], "store.%s after the round trip" % k)
    d2.stop()


@T.case("export --since, stdout; import refuses broken and truncated files")
def _():
    d = rgtest.Daemon("ctlexp2").start()
    old = rgtest.now_ms() - 10 * 86400 * 1000
    with d.client() as c:
        for i in range(10):
            c.call(check_req("sn-%d" % i, {"account": "sn-a%d" % i},
                             {"account": "sn-b%d" % i},
                             ts=old if i < 4 else None))
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "-c", d.conf_path,
                               "export", "--since", "5d"])
    eq(rc, 0, "export to stdout (stderr %r)" % err)
    got = [json.loads(l) for l in out.split("\n") if l]
    eq(sorted(g["id"] for g in got if "event" in g),
       sorted("sn-%d" % i for i in range(4, 10)), "events since 5d")
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "-c", d.conf_path,
                               "export", "--since", "yesterday"])
    eq(rc, 2, "a bad --since (stderr %r)" % err)
    p = export_file(d, "all.ndjson")
    lines = open(p).read().split("\n")
    tmp = rgtest.mkdtemp("ctlbad")

    def imp(text, name):
        f = os.path.join(tmp, name + ".ndjson")
        with open(f, "w") as fh:
            fh.write(text)
        return rgtest.run([rgtest.REFGUARDCTL, "import", "--state",
                           os.path.join(tmp, name), f])
    rc, out, err = imp("\n".join(lines[:-3]) + "\n", "trunc")
    eq(rc, 1, "truncated export (stderr %r)" % err)
    check("truncated" in err, "truncated message", err)
    head = json.loads(lines[0])
    for name, pairs in (("pairsnot", '"x"'), ("pairskind", "[[0,99,1,8,1]]"),
                        ("pairsshort", "[[0,1,1,8]]")):
        head["pairs"] = json.loads(pairs)
        rc, out, err = imp("\n".join([json.dumps(head)] + lines[1:]), name)
        eq(rc, 1, "header pairs %s (stderr %r)" % (pairs, err))
        check(name + ".ndjson:1:" in err and '"pairs"' in err,
              "message names the line and field", err)
    rc, out, err = imp("hello\n", "garbage")
    eq(rc, 1, "not an export (stderr %r)" % err)
    check("garbage.ndjson:1:" in err, "message names file and line", err)
    bad = list(lines)
    ev = [i for i, l in enumerate(bad) if l.startswith('{"event"')][2]
    bad[ev] = bad[ev].replace('"rec":"01', '"rec":"zz')
    rc, out, err = imp("\n".join(bad), "badrec")
    eq(rc, 1, "a broken record (stderr %r)" % err)
    check("badrec.ndjson:%d:" % (ev + 1) in err and "rec" in err,
          "message names the line and field", err)
    for name, rechecks in (("rcnot", '"x"'), ("rcempty", "[]"),
                           ("rcaction", '[{"ts":1,"action":"pay","score":0,'
                            '"reply":"{}","delta":"","explain":"[]"}]'),
                           ("rcfield", '[{"ts":1,"action":"deny"}]')):
        bad = list(lines)
        v = [i for i, l in enumerate(bad) if l.startswith('{"verdict"')][1]
        bad[v] = bad[v][:-1] + ',"rechecks":%s}' % rechecks
        rc, out, err = imp("\n".join(bad), name)
        eq(rc, 1, "a verdict's rechecks %s (stderr %r)" % (rechecks, err))
        check("%s.ndjson:%d:" % (name, v + 1) in err and "re-check" in err,
              "message names the line and the re-checks", err)
    swapped = list(lines)
    e1 = [i for i, l in enumerate(swapped) if l.startswith('{"event"')]
    swapped[e1[0]], swapped[e1[1]] = swapped[e1[1]], swapped[e1[0]]
    rc, out, err = imp("\n".join(swapped), "order")
    eq(rc, 1, "events out of order (stderr %r)" % err)
    check("seq order" in err or "follow" in err, "order message", err)
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "import", "--state",
                               os.path.join(tmp, "x"),
                               os.path.join(tmp, "missing.ndjson")])
    eq(rc, 2, "a missing file (stderr %r)" % err)


@T.case("progress bar on a terminal's stderr only")
def _():
    d = daemon()
    argv = [rgtest.REFGUARDCTL, "-c", d.conf_path, "export", "-o",
            os.path.join(d.dir, "pb.ndjson")]
    rc, tty, other = run_tty(argv, stream="stderr")
    eq(rc, 0, "export exit status (stderr %r)" % tty)
    check(re.search(r"export \[#+\] 100% \d+/\d+", tty),
          "no progress bar on the terminal", repr(tty))
    rc, out, err = rgtest.run(argv)
    eq(rc, 0, "export exit status")
    check("[#" not in err and "\r" not in err,
          "progress bar on a non-terminal stderr", err)


COMPLETION = os.path.join(rgtest.SRCDIR, "contrib", "bash-completion",
                          "refguardctl")


def complete(words, cword=None):
    """The completions bash offers for words (the last one being typed)."""
    bash = shutil.which("bash")
    if bash is None:
        raise rgtest.Skip("no bash")
    cword = len(words) - 1 if cword is None else cword
    script = ('source %s || exit 9\n'
              'complete -p refguardctl || exit 8\n'
              'COMP_WORDS=(%s); COMP_CWORD=%d\n'
              'COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}\n'
              'f=$(complete -p refguardctl | sed "s/.*-F \\([^ ]*\\).*/\\1/")\n'
              '"$f" refguardctl "${COMP_WORDS[COMP_CWORD]}" '
              '"${COMP_WORDS[COMP_CWORD-1]}"\n'
              'printf "%%s\\n" "${COMPREPLY[@]}"\n') % (
        shlex.quote(COMPLETION), " ".join(shlex.quote(w) for w in words),
        cword)
    rc, out, err = rgtest.run([bash, "--norc", "--noprofile", "-c", script])
    eq(rc, 0, "bash completion script (stderr %r)" % err)
    check(out.startswith("complete ") or "complete -F" in out,
          "complete -p shows no function", out)
    return sorted(set(out.split("\n")[1:]) - {""})


@T.case("bash completion: commands, subcommands and flags")
def _():
    got = complete(["refguardctl", ""])
    for c in ("ping", "check", "observe", "verdict", "explain", "stats",
              "reload", "send", "export", "import", "rules", "backtest",
              "recheck", "feedback", "lists"):
        check(c in got, "command %s not offered" % c, got)
    eq(complete(["refguardctl", "ex"]), ["explain", "export"], "ex<TAB>")
    eq(complete(["refguardctl", "lists", ""]),
       ["add", "del", "get", "import", "log", "names"], "lists <TAB>")
    eq(complete(["refguardctl", "rules", ""]), ["check", "list"],
       "rules <TAB>")
    got = complete(["refguardctl", "check", "--referee-e"])
    eq(got, ["--referee-email"], "check --referee-e<TAB>")
    got = complete(["refguardctl", "observe", "--kind", ""])
    eq(got, ["login", "payout", "purchase", "signup", "update"],
       "observe --kind <TAB>")
    got = complete(["refguardctl", "-s", "/tmp/x.sock", "--json", "st"])
    eq(got, ["stats"], "after global options")
    got = complete(["refguardctl", "--j"])
    eq(got, ["--json"], "--j<TAB>")
    got = complete(["refguardctl", "export", "--"])
    for f in ("--state", "--since", "--output"):
        check(f in got, "export flag %s not offered" % f, got)
    eq(complete(["refguardctl", "recheck", "ref-1", "--t"]), ["--ts"],
       "recheck --t<TAB>")


def table_commands():
    """The commands of refguardctl's table, from `refguardctl --help`."""
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "--help"])
    eq(rc, 0, "--help exit status (stderr %r)" % err)
    part = out.split("commands:\n", 1)[1].split("options:\n", 1)[0]
    cmds = [l.split()[0] for l in part.split("\n") if l.strip()]
    check(len(cmds) >= 15, "too few commands in --help", out)
    return cmds


def command_flags(cmd):
    """The flags `refguardctl help CMD` documents."""
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "help", cmd])
    eq(rc, 0, "help %s exit status (stderr %r)" % (cmd, err))
    opts = re.sub(r"\([^)]*\)", "", "\n".join(out.split("\n")[2:]))
    return sorted(set(re.findall(r"(?<![\w.-])(--?[a-z][a-z-]*)", opts)))


@T.case("help: --help, -h and help on stdout, exit 0; help COMMAND")
def _():
    for args in (("--help",), ("-h",), ("help",)):
        rc, out, err = rgtest.run([rgtest.REFGUARDCTL] + list(args))
        eq(rc, 0, "refguardctl %s exit status" % " ".join(args))
        check(out.startswith("usage: refguardctl"), "refguardctl %s: no "
              "usage on stdout" % " ".join(args), out, err)
        eq(err, "", "refguardctl %s stderr" % " ".join(args))
        for c in ("stats", "top", "lists", "backtest"):
            check(re.search(r"^  %s +\S" % c, out, re.M),
                  "command %s not listed" % c, out)
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "help", "top"])
    eq(rc, 0, "help top exit status (stderr %r)" % err)
    check(re.match(r"usage: refguardctl .*\btop \[-n COUNT\] "
                   r"\[-d SECONDS\]\n", out), "help top: no usage line", out)
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "help", "nope"])
    eq(rc, 2, "help of an unknown command: exit status")
    check("unknown command" in err, "help nope: no 'unknown command'", err)


@T.case("COMMAND --help prints its usage and never connects")
def _():
    nowhere = os.path.join(rgtest.mkdtemp("ctlnowhere"), "no.sock")
    for cmd in table_commands():
        for args in ((cmd, "--help"), (cmd, "-h"), (cmd, "x", "--help")):
            if cmd == "help" and len(args) == 3:
                continue
            rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "-s", nowhere] +
                                      list(args))
            eq(rc, 0, "refguardctl %s exit status (stderr %r)" % (
                " ".join(args), err))
            check(re.match(r"usage: refguardctl .*\b%s\b" % cmd, out),
                  "refguardctl %s: no usage on stdout" % " ".join(args),
                  out, err)
            check("cannot connect" not in err, "refguardctl %s connected"
                  % " ".join(args), err)
    # the case that asked the daemon for id "--help"
    rc, out, err = ctl("verdict", "--help")
    eq(rc, 0, "verdict --help exit status (stderr %r)" % err)
    check("not_found" not in out + err, "verdict --help sent a request",
          out, err)


@T.case("unknown command: said, with the nearest suggested")
def _():
    for typo, want in (("stat", "stats"), ("verdcit", "verdict"),
                       ("lsits", "lists"), ("bactkest", "backtest"),
                       ("reloda", "reload")):
        rc, out, err = rgtest.run([rgtest.REFGUARDCTL, typo])
        eq(rc, 2, "refguardctl %s exit status" % typo)
        check("unknown command '%s'" % typo in err,
              "refguardctl %s: no 'unknown command'" % typo, err)
        check("did you mean '%s'" % want in err,
              "refguardctl %s does not suggest %s" % (typo, want), err)
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "zzzzzzzzzz"])
    eq(rc, 2, "a far-off command: exit status")
    check("unknown command" in err and "did you mean" not in err,
          "a far-off name gets no suggestion", err)


@T.case("-c FILE: the socket from the daemon's configuration")
def _():
    d = daemon()
    argv = [rgtest.REFGUARDCTL, "-c", d.conf_path]
    env = dict(os.environ)
    env.pop("REFGUARD_SOCKET", None)
    p = subprocess.run(argv + ["--json", "ping"], env=env,
                       capture_output=True, timeout=30, cwd="/")
    eq(p.returncode, 0, "-c CONF ping exit status (stderr %r)" % p.stderr)
    eq(p.stdout, b'{"ok":true}\n', "-c CONF ping output")
    rc, out, err = rgtest.run(argv + ["stats"])
    eq(rc, 0, "-c CONF stats exit status (stderr %r)" % err)
    check(re.search(r"^store$", out, re.M), "-c CONF stats output", out)
    # -s still wins over -c
    rc, out, err = rgtest.run(argv + ["-s", d.sock + ".nope", "ping"])
    eq(rc, 3, "-s overrides -c (stderr %r)" % err)
    # a broken configuration is said
    bad = os.path.join(d.dir, "broken.conf")
    with open(bad, "w") as f:
        f.write("socket = x.sock\nbogus = 1\n")
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "-c", bad, "ping"])
    eq(rc, 2, "-c BROKEN exit status")
    check("broken.conf:2: unknown key 'bogus'" in err, "the config error "
          "is not said", err)


@T.case("stats: sizes in KiB/MiB/GiB, times as dates and ages; --json as is")
def _():
    daemon().call(good_checks(1, "hu")[0])
    rc, out, err = ctl("stats")
    eq(rc, 0, "stats exit status (stderr %r)" % err)
    for key in ("map_size", "map_used", "map_max"):
        check(re.search(r"^  %s +\d+(\.\d)? (B|KiB|MiB|GiB|TiB)$" % key,
                        out, re.M), "%s not in binary units" % key, out)
    check(re.search(r"^  map_size +1\.0 GiB$", out, re.M),
          "the default map_size is not 1.0 GiB", out)
    check(re.search(r"^  loaded_at +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC "
                    r"\(\d+[smhd].* ago\)$", out, re.M),
          "loaded_at is not a date and an age", out)
    check(re.search(r"^  avg_commit +\d+(\.\d+)? (us|ms|s)$", out, re.M),
          "the commit time has no unit", out)
    check(re.search(r"^latency$", out, re.M) and
          re.search(r"^  check +\d+ +\S+ \S+ +<= ", out, re.M),
          "no latency table with check", out)
    check(re.search(r"^rule_hits$", out, re.M), "no rule_hits group", out)
    rc, out, err = ctl("--json", "stats")
    eq(rc, 0, "stats --json exit status")
    o = json.loads(out)
    check(isinstance(o["store"]["map_size"], int) and
          isinstance(o["uptime_s"], int), "--json holds the raw numbers", o)
    check(o["latency"]["check"]["count"] >= 1 and
          len(o["latency"]["check"]["le"]) ==
          len(o["latency"]["bounds_us"]), "--json latency histogram", o)


@T.case("top -n 2: two screens from successive stats")
def _():
    d = daemon()
    q = deny_pair("tp")
    r, raw = d.call(q)
    eq(r["action"], "deny", "check action")
    rule = r["reasons"][0]["rule"]
    rc, out, err = ctl("top", "-n", "2", "-d", "0")
    eq(rc, 0, "top exit status (stderr %r)" % err)
    screens = out.split("\n\n")
    eq(len(screens), 2, "screens (output %r)" % out)
    check("\033[" not in out, "ANSI escapes on a non-terminal", out)
    first, second = screens
    check(re.search(r"^refguardd \S+ +up \d+\S* .* since start", first,
                    re.M), "no header with the uptime", first)
    check(re.search(r"^checks/s [\d.]+ +allow [\d.]+% +review [\d.]+% +"
                    r"deny [\d.]+%$", first, re.M), "no checks/s line",
          first)
    check(re.search(r"^check latency +p50 (<=|>) \S+ \S+ +p99 ", first,
                    re.M), "no check latency since start", first)
    check(re.search(r"^store +\d+(\.\d)? (B|KiB|MiB|GiB) used of ", first,
                    re.M), "no store line in units", first)
    check(re.search(r"^review queue +open \d+ +claimed \d+ +decided \d+$",
                    first, re.M), "no review queue line", first)
    check(re.search(r"^data ages +list \S+ \d+", first, re.M),
          "no data ages", first)
    check(re.search(r"^  %s +[1-9]\d* " % re.escape(rule), first, re.M),
          "rule %s not among the hits since start" % rule, first)
    # the second screen: the interval, in which nothing was checked
    check(re.search(r"^refguardd .* interval [\d.]+s$", second, re.M),
          "the second screen is not over an interval", second)
    check(re.search(r"^checks/s 0\.0 ", second, re.M),
          "checks/s over an idle interval", second)
    check(re.search(r"^check latency +p50 - +p99 -$", second, re.M),
          "latency over an idle interval", second)
    check(re.search(r"^rule hits\n  -$", second, re.M),
          "rule hits over an idle interval", second)
    # on a terminal each screen clears the last
    argv = [rgtest.REFGUARDCTL, "-s", d.sock, "top", "-n", "2", "-d", "0"]
    rc, out, err = run_tty(argv)
    eq(rc, 0, "top on a terminal (stderr %r)" % err)
    eq(out.count("\033[H\033[2J"), 2, "clears on a terminal")
    rc, out, err = ctl("top", "-n", "x")
    eq(rc, 2, "top -n x: usage")


@T.case("refguardd --help, -h, --version")
def _():
    for args in (("--help",), ("-h",)):
        rc, out, err = rgtest.run([rgtest.REFGUARDD] + list(args))
        eq(rc, 0, "refguardd %s exit status (stderr %r)" % (args[0], err))
        check(out.startswith("usage: refguardd"), "refguardd %s: no usage "
              "on stdout" % args[0], out, err)
    rc, out, err = rgtest.run([rgtest.REFGUARDD, "--version"])
    eq(rc, 0, "refguardd --version exit status (stderr %r)" % err)
    check(re.match(r"refguardd \d+\.\d+", out), "refguardd --version", out)
    rc, out, err = rgtest.run([rgtest.REFGUARDD, "--bogus"])
    eq(rc, 2, "refguardd --bogus exit status")
    check("usage" in err, "refguardd --bogus: no usage on stderr", err)


@T.case("refguardd -t lists every configuration error")
def _():
    tmp = rgtest.mkdtemp("ctlconf")
    path = os.path.join(tmp, "refguard.conf")
    with open(path, "w") as f:
        f.write("socket = rg.sock\n"
                "bogus = 1\n"
                "sync = sometimes\n"
                "state_dir = state\n"
                "max_connections = lots\n"
                "map_size = 2g\n"
                "map_max = 1g\n")
    rc, out, err = rgtest.run([rgtest.REFGUARDD, "-t", "-c", path])
    eq(rc, 1, "refguardd -t exit status (stdout %r)" % out)
    for want in ("%s:2: unknown key 'bogus'" % path,
                 "%s:3: sync: 'sometimes'" % path,
                 "%s:5: max_connections" % path,
                 "%s:7: map_max" % path):
        check(want in err, "refguardd -t does not say %r" % want, err)
    eq(len([l for l in err.split("\n") if l.startswith(path)]), 4,
       "one line per error (stderr %r)" % err)


@T.case("a configuration reached through a symbolic link: refguardd and "
        "refguardctl read the drop-ins beside the link")
def _():
    tmp = rgtest.mkdtemp("ctllink")
    real = os.path.join(tmp, "real")
    etc = os.path.join(tmp, "etc")
    os.makedirs(real)
    os.makedirs(os.path.join(etc, "conf.d"))
    with open(os.path.join(real, "refguard.conf"), "w") as f:
        f.write("socket = rg.sock\nstate_dir = state\nrules = %s\n" %
                rgtest.RULES_DIR)
    link = os.path.join(etc, "refguard.conf")
    os.symlink(os.path.join(real, "refguard.conf"), link)
    with open(os.path.join(etc, "conf.d", "10-x.conf"), "w") as f:
        f.write("bogus = 1\n")
    want = "%s/conf.d/10-x.conf:1: unknown key 'bogus'" % etc
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "-c", link, "ping"])
    check(rc == 2 and want in err, "refguardctl -c: the drop-in", err)
    rc, out, err = rgtest.run([rgtest.REFGUARDD, "-t", "-c", link],
                              timeout=60)
    check(rc == 1 and want in err, "refguardd -t: the drop-in beside the "
          "link (stdout %r)" % out, err)
    # Relative to the directory the file was named in, cwd included.
    rc, out, err = rgtest.run([rgtest.REFGUARDD, "-t", "-c",
                               "etc/refguard.conf"], timeout=60, cwd=tmp)
    check(rc == 1 and want in err, "refguardd -t, a relative -c", err)


@T.case("bash and zsh completion: every command and flag of the table")
def _():
    cmds = table_commands()
    got = complete(["refguardctl", ""])
    for c in cmds:
        check(c in got, "bash completion misses command %s" % c, got)
    zsh = open(os.path.join(rgtest.SRCDIR, "contrib", "zsh-completion",
                            "_refguardctl")).read()
    for c in cmds:
        check(re.search(r"'%s:" % c, zsh), "zsh completion misses command "
              "%s" % c)
    lead = {"lists": ["lists", "add"], "rules": ["rules", "check"],
            "queue": ["queue", "list"]}
    for c in cmds:
        flags = [f for f in command_flags(c) if f != "-"]
        if not flags:
            continue
        words = ["refguardctl"] + lead.get(c, [c])
        got = complete(words + ["-"])
        got += complete(words + ["--"])
        if c == "lists":
            for sub in ("del", "get", "log", "import"):
                got += complete(["refguardctl", "lists", sub, "--"])
        if c == "queue":
            for sub in ("claim", "decide"):
                got += complete(["refguardctl", "queue", sub, "--"])
        for f in flags:
            check(f in got, "bash completion of %s misses %s" % (c, f), got)
            m = re.match(r"--refer(?:rer|ee)-(.+)$", f)
            party = re.search(r"for f in ([a-z -]+); do", zsh)
            if m:   # generated by a loop over the parties' fields
                ok = (party is not None and m.group(1) in
                      party.group(1).split())
            else:
                ok = re.search(r"[\s'\",({]%s[\[,}]" % re.escape(f), zsh)
            check(ok,
                  "zsh completion of %s misses %s" % (c, f))


@T.case("bash completion: values: labels, kinds, list names from the daemon")
def _():
    d = daemon()
    eq(complete(["refguardctl", "feedback", "--label", ""]),
       ["abuse", "chargeback", "fraud", "legit"], "feedback --label <TAB>")
    got = complete(["refguardctl", "lists", "add", "--kind", ""])
    for k in ("email", "ip", "ip.prefix", "device.id", "asn", "domain"):
        check(k in got, "lists --kind <TAB> misses %s" % k, got)
    rc, out, err = ctl("lists", "add", "cmpl_list", "x@example.com",
                       "--kind", "email")
    eq(rc, 0, "lists add (stderr %r)" % err)
    rc, out, err = ctl("lists", "names")
    eq(rc, 0, "lists names (stderr %r)" % err)
    check("cmpl_list" in lines(out), "lists names misses a runtime list",
          out)
    check("hosting_asn" in lines(out), "lists names misses a rule set's "
          "list", out)
    # the daemon asked with the refguardctl being completed, -s or -c
    got = complete([rgtest.REFGUARDCTL, "-s", d.sock, "lists", "get", "cmpl"])
    eq(got, ["cmpl_list"], "lists get <TAB>: the daemon's list names")
    got = complete([rgtest.REFGUARDCTL, "-c", d.conf_path, "lists", "del",
                    ""])
    check("cmpl_list" in got and "hosting_asn" in got,
          "lists del <TAB> with -c", got)
    eq(complete(["refguardctl", "help", "ba"]), ["backtest"], "help ba<TAB>")
    eq(complete(["refguardctl", "top", "-"]),
       ["--help", "--json", "-d", "-n"], "top -<TAB>")


def have_rules_check():
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "rules", "check",
                               rgtest.RULES_DIR], timeout=60)
    if rc == 2 and "usage" in err:
        raise rgtest.Skip("refguardctl has no 'rules check' yet")
    return rc, out, err


@T.case("rules check: the shipped rules pass", timeout=60)
def _():
    rc, out, err = have_rules_check()
    eq(rc, 0, "exit status (stdout %r, stderr %r)" % (out, err))
    check(re.search(r"\b(\d+) passed, 0 failed", out), "no passed summary",
          out)
    n = int(re.search(r"\b(\d+) passed", out).group(1))
    check(n >= 10, "suspiciously few rule tests ran", out)
    # the hash is the daemon's
    h = daemon().stats()["ruleset"]["hash"]
    check(h in out, "rules check does not print the daemon's ruleset hash "
          "%s" % h, out)
    # single files, several paths, with the daemon's configuration
    files = sorted(os.path.join(rgtest.RULES_DIR, f) for f in
                   os.listdir(rgtest.RULES_DIR) if f.endswith(".rules"))
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "-c",
                               daemon().conf_path, "rules", "check"] + files,
                              timeout=60)
    eq(rc, 0, "rules check FILE... exit status (stderr %r)" % err)
    check(h in out, "the files form the same set as the directory", out)
    # a flag after the operands counts too (-v: one line per rule test)
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "rules", "check",
                               rgtest.RULES_DIR, "-v"], timeout=60)
    eq(rc, 0, "rules check DIR -v exit status (stderr %r)" % err)
    check(len(re.findall(r"(?m)^ok ", out)) == n,
          "-v after the directory does not list each test", out)


@T.case("rules check: a broken file exits 1 with file:line:col", timeout=60)
def _():
    have_rules_check()
    tmp = rgtest.mkdtemp("ctlrules")
    rdir = os.path.join(tmp, "rules")
    shutil.copytree(rgtest.RULES_DIR, rdir)
    path = os.path.join(rdir, "rings.rules")
    src = open(path).read().split("\n")
    for i, l in enumerate(src):
        if l.strip().startswith("action") and "deny" in l:
            src[i] = l.replace("deny", "deyn")
            break
    with open(path, "w") as f:
        f.write("\n".join(src))
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "rules", "check", rdir])
    eq(rc, 1, "exit status (stdout %r, stderr %r)" % (out, err))
    check(re.search(r"%s:%d:\d+: error" % (re.escape(path), i + 1), err),
          "no %s:%d:COL: error diagnostic" % (path, i + 1), err)
    # a rule set whose own tests fail
    shutil.copy(os.path.join(rgtest.RULES_DIR, "rings.rules"), path)
    vpath = os.path.join(rdir, "farms.rules")
    s = open(vpath).read().replace("referee.email.shape], 30d) >= 3",
                                   "referee.email.shape], 30d) >= 4")
    with open(vpath, "w") as f:
        f.write(s)
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "rules", "check", rdir])
    eq(rc, 1, "exit status with failing tests (stdout %r)" % out)
    check(re.search(r"farms\.rules:\d+:\d+: test "
                    r"farm\.numbered_mailboxes failed", out + err),
          "no file:line:col for the failed rule test", out, err)
    check(re.search(r"[1-9]\d* failed", out), "summary shows no failure",
          out)


if __name__ == "__main__":
    sys.exit(T.main())
