#!/usr/bin/env python3
"""refguardctl against a running refguardd: ping, send, verdict, explain,
stats, reload, and its exit status (0 ok, 1 an error reply, 2 usage,
3 cannot connect); `rules check` needs no daemon."""

import json
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rgtest  # noqa: E402
from rgtest import check, check_req, eq, verdict_shape  # noqa: E402

T = rgtest.Suite("test_ctl")
ids = rgtest.Ids("c")
D = {}


def daemon():
    if "d" not in D or not D["d"].alive():
        d = rgtest.Daemon("ctl")
        d.persistent = True
        D["d"] = d.start()
    return D["d"]


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
    rc, out, err = ctl("ping")
    eq(rc, 0, "exit status (stderr %r)" % err)
    eq(out, '{"ok":true}\n', "output")
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
    rc, out, err = ctl("verdict", q["id"])
    eq(rc, 0, "verdict exit status (stderr %r)" % err)
    eq(out.encode(), raw + b"\n", "verdict output")
    rc, out, err = ctl("explain", q["id"])
    eq(rc, 0, "explain exit status (stderr %r)" % err)
    e = json.loads(out)
    eq(e.get("id"), q["id"], "explain id")
    check("sameperson" not in out.lower() and "same.person" not in
          out.lower(), "explain output shows the raw email", out)
    rc, out, err = ctl("verdict", "c-no-such-id")
    eq(rc, 1, "verdict of an unknown id (stdout %r)" % out)
    eq(json.loads(out)["error"]["code"], "not_found", "error code")
    # ids that need JSON escaping
    q2 = check_req('c-"quoted"\\id', {"account": ids.account()},
                   {"account": ids.account()})
    r2, raw2 = daemon().call(q2)
    verdict_shape(r2, raw2)
    rc, out, err = ctl("verdict", q2["id"])
    eq(rc, 0, "verdict of an id with quotes (stdout %r)" % out)
    eq(out.encode(), raw2 + b"\n", "verdict output")


@T.case("stats and reload")
def _():
    rc, out, err = ctl("stats")
    eq(rc, 0, "stats exit status (stderr %r)" % err)
    st = json.loads(out)
    for k in ("requests", "checks", "store", "ruleset"):
        check(k in st, "stats lacks %r" % k, out)
    rc, out, err = ctl("reload")
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
                 ("rules",), ("rules", "check")):
        rc, out, err = ctl(*args)
        check(rc == 2, "refguardctl %s: exit %d, expected 2" % (
            " ".join(args), rc), out, err)
        check("usage" in err, "refguardctl %s: no usage message" %
              " ".join(args), err)
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "-V"])
    eq(rc, 0, "-V exit status")


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
    vpath = os.path.join(rdir, "velocity.rules")
    s = open(vpath).read().replace("referrer.account, 1h) > 10",
                                   "referrer.account, 1h) > 12")
    with open(vpath, "w") as f:
        f.write(s)
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "rules", "check", rdir])
    eq(rc, 1, "exit status with failing tests (stdout %r)" % out)
    check(re.search(r"velocity\.rules:\d+:\d+: test "
                    r"velocity\.referrer_hourly failed", out + err),
          "no file:line:col for the failed rule test", out, err)
    check(re.search(r"[1-9]\d* failed", out), "summary shows no failure",
          out)


if __name__ == "__main__":
    sys.exit(T.main())
