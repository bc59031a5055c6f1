#!/usr/bin/env python3
"""Durability and start-up (DESIGN.md: "never lose an acknowledged
verdict"; TERM drains and exits 0): verdicts survive TERM and SIGKILL,
a TERM in the middle of a pipelined burst loses no acknowledged reply,
one daemon per socket (stale sockets are replaced), configuration and
rule errors stop start-up with file:line diagnostics, refguardd -t."""

import json
import os
import re
import shutil
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rgtest  # noqa: E402
from rgtest import check, check_req, eq, is_error, verdict_shape  # noqa: E402

T = rgtest.Suite("test_durability")
ids = rgtest.Ids("du")


def checks(n, tag, base=None):
    """n distinct checks, some of which trigger rules (so verdicts differ)."""
    base = base or rgtest.now_ms() - 3 * 3600 * 1000
    out = []
    for i in range(n):
        r = {"account": "%s-r-%d" % (tag, i % 50)}
        e = {"account": "%s-e-%d" % (tag, i)}
        if i % 7 == 0:      # same email: deny
            r["email"] = "user%d@example.org" % i
            e["email"] = "User%d@Example.org" % i
        if i % 11 == 0:     # same phone: review
            r["phone"] = e["phone"] = "+1 555 0100 %03d" % i
        out.append(check_req("%s-%06d" % (tag, i), r, e, ts=base + i * 10))
    return out


def verdicts_of(d, idlist):
    """Raw replies of {"op":"verdict"} for each id, pipelined."""
    with d.client(timeout=60) as c:
        return c.pipeline([{"op": "verdict", "id": i} for i in idlist])


def compare_after_restart(d, acked, what):
    """Every (id, raw verdict) in acked reads back byte for byte."""
    ids_ = [i for i, _ in acked]
    got = verdicts_of(d, ids_)
    eq(len(got), len(ids_), "%s: number of verdict replies" % what)
    bad = [(i, want, g) for (i, want), g in zip(acked, got) if g != want]
    if bad:
        i, want, g = bad[0]
        raise rgtest.Fail("%s: %d of %d acknowledged verdicts differ or are "
                          "lost after restart; first: id %s\n  acked:    %s"
                          "\n  verdict:  %s" % (what, len(bad), len(acked), i,
                                                rgtest.short(want),
                                                rgtest.short(g)))


def explains_of(d, idlist):
    """Raw replies of {"op":"explain"} for each id, pipelined."""
    with d.client(timeout=60) as c:
        return c.pipeline([{"op": "explain", "id": i} for i in idlist])


@T.case("TERM, restart: every verdict and explain identical", timeout=90)
def _():
    d = rgtest.Daemon("term", rules="classic").start()
    reqs = checks(2000, "t")
    with d.client(timeout=60) as c:
        out = c.pipeline(reqs)
    eq(len(out), len(reqs), "replies before TERM")
    for raw in out:
        verdict_shape(json.loads(raw), raw)
    acts = set(json.loads(r)["action"] for r in out)
    check(acts >= {"allow", "deny", "review"}, "expected all three "
          "actions in the sample", sorted(acts))
    ev_before = d.stats()["store"]
    # Explains are stored against shapes, and shapes against each other:
    # a restarted daemon reads them all from the store.
    sample = [r["id"] for r in reqs[::5]]
    ex_before = explains_of(d, sample)
    check(all(b'"rules"' in x for x in ex_before), "explains before TERM",
          rgtest.short(ex_before[0]))
    d.stop()
    check(not os.path.exists(d.sock), "socket file left after TERM")
    d.start()
    compare_after_restart(d, [(r["id"], raw) for r, raw in zip(reqs, out)],
                          "after TERM")
    ex_after = explains_of(d, sample)
    bad = [i for i, a, b in zip(sample, ex_before, ex_after) if a != b]
    eq(bad, [], "explains that differ after restart")
    st = d.stats()["store"]
    eq(st["events"], ev_before["events"], "store.events after restart")
    eq(st["verdicts"], ev_before["verdicts"], "store.verdicts after "
       "restart")
    # a repeated check after restart replays the stored verdict
    with d.client() as c:
        r, raw = c.call(reqs[7])
    eq(raw, out[7], "repeated check after restart")
    d.stop()


@T.case("SIGKILL after replies: acknowledged verdicts survive", timeout=90)
def _():
    d = rgtest.Daemon("kill", rules="classic").start()
    acked = []
    for round_ in range(3):
        reqs = checks(700, "k%d" % round_)
        with d.client(timeout=60) as c:
            out = c.pipeline(reqs)
            # observe too: acknowledged events count
            r, raw = c.call(rgtest.observe_req("login", "k-obs-%d" % round_))
            check(r.get("ok") is True, "observe", raw)
        eq(len(out), len(reqs), "replies before SIGKILL")
        acked += [(q["id"], raw) for q, raw in zip(reqs, out)]
        events = d.stats()["store"]["events"]
        d.kill()
        eq(d.proc.returncode, -signal.SIGKILL, "killed")
        check(os.path.exists(d.sock), "no stale socket file after SIGKILL "
              "(test cannot check replacement)")
        d.start()   # replaces the stale socket
        check("stale socket" in d.stderr(), "no note about the stale "
              "socket", d.stderr())
        eq(d.stats()["store"]["events"], events, "store.events after "
           "SIGKILL %d" % round_)
        compare_after_restart(d, acked, "after SIGKILL %d" % round_)
    d.stop()


@T.case("SIGKILL during a pipelined burst: every received reply survives",
        timeout=120)
def _():
    # Replies go out only after their commit is durable, so a crash at
    # any moment keeps everything a client was told.
    d = rgtest.Daemon("killburst", rules="classic").start()
    acked = []
    for round_, at in enumerate((1, 700, 3000)):
        reqs = checks(20000, "kb%d" % round_)

        def progress(n, at=at):
            if n == at:
                d.proc.kill()
        with d.client(timeout=60) as c:
            got = c.pipeline(reqs, on_progress=progress)
        d.proc.wait(10)
        check(len(got) < len(reqs), "burst finished before SIGKILL")
        for i, raw in enumerate(got):
            v = json.loads(raw)
            if v.get("id") != reqs[i]["id"] or "error" in v:
                raise rgtest.Fail("reply %d: %s" % (i, rgtest.short(raw)))
        acked += [(reqs[i]["id"], raw) for i, raw in enumerate(got)]
        d.start()
        compare_after_restart(d, acked, "after SIGKILL at reply %d" % at)
    d.stop()


@T.case("TERM during a pipelined burst: every received reply is durable",
        timeout=120)
def _():
    d = rgtest.Daemon("drain", rules="classic").start()
    reqs = checks(30000, "b")
    got = []
    sent_term = threading.Event()

    def progress(n):
        if n == 1500 and not sent_term.is_set():
            sent_term.set()
            d.signal(signal.SIGTERM)
    with d.client(timeout=60) as c:
        got = c.pipeline(reqs, on_progress=progress)
        closed = c.at_eof(10)
    check(sent_term.is_set(), "burst finished before TERM was sent")
    rc = d.wait(expect=0)
    check(closed, "connection not closed after the daemon exited")
    # The requests the daemon never read get one "stopping" error, last.
    if got and b'"stopping"' in got[-1]:
        is_error(json.loads(got[-1]), "stopping", raw=got[-1])
        got = got[:-1]
    check(len(got) >= 1500, "fewer replies than before TERM", len(got))
    # Replies that arrived are whole, in order, and verdicts (not errors).
    for i, raw in enumerate(got):
        v = json.loads(raw)
        if v.get("id") != reqs[i]["id"] or "error" in v:
            raise rgtest.Fail("reply %d during drain: %s" % (
                i, rgtest.short(raw)))
    print("     (%d of %d replies before the daemon closed, exit %d)" %
          (len(got), len(reqs), rc))
    d.start()
    compare_after_restart(d, [(reqs[i]["id"], raw) for i, raw in
                              enumerate(got)], "after TERM mid-burst")
    # What was never answered may or may not be stored; if it is, it is a
    # whole verdict (the next unanswered id is enough to look at).
    if len(got) < len(reqs):
        with d.client() as c:
            r, raw = c.call({"op": "verdict", "id": reqs[len(got)]["id"]})
        check("error" not in r and r.get("id") == reqs[len(got)]["id"] or
              r.get("error", {}).get("code") == "not_found",
              "unanswered id", raw)
    d.stop()


@T.case("a second daemon on a live socket refuses to start")
def _():
    d = rgtest.Daemon("twice", rules="classic").start()
    with d.client() as c:
        v, raw = c.call(check_req("tw-1", {"account": "a"},
                                  {"account": "b"}))
    other = rgtest.Daemon("twice2", rules="classic", dir=None)
    other.conf["socket"] = d.sock
    other.write_conf()
    rc, err = other.run_to_exit()
    check(rc != 0, "second daemon (other state) exited 0", err)
    check("another refguardd" in err and d.sock in err,
          "no clear message naming the socket", err)
    # the same configuration twice (the usual mistake): the state
    # directory's lock refuses it first, naming the holder
    same = rgtest.Daemon("twice3", rules="classic", dir=d.dir)
    same.conf = dict(d.conf)
    same.runs = 100     # its own stderr files
    rc, err = same.run_to_exit()
    check(rc != 0, "second daemon (same config) exited 0", err)
    check(d.holder() in err,
          "no clear message naming the holder", err)
    # the first one is untouched and still serves
    check(os.path.exists(d.sock), "socket file removed by the refused "
          "daemon")
    with d.client() as c:
        r, raw2 = c.call({"op": "verdict", "id": "tw-1"})
    eq(raw2, raw, "verdict from the first daemon")
    d.stop()


@T.case("a stale socket file from a SIGKILLed daemon is replaced")
def _():
    d = rgtest.Daemon("stale", rules="classic").start()
    d.kill()
    check(os.path.exists(d.sock), "SIGKILL left no socket file")
    d.start()
    with d.client() as c:
        r, raw = c.call({"op": "ping"})
    eq(r, {"ok": True}, "ping after replacing the stale socket")
    d.stop()
    # a non-socket file in the way is not removed
    with open(d.sock, "w") as f:
        f.write("precious\n")
    rc, err = d.run_to_exit()
    check(rc != 0 and "not a socket" in err, "start over a regular file",
          rc, err)
    with open(d.sock) as f:
        eq(f.read(), "precious\n", "the regular file")


CONF_ERRORS = [
    # (name, extra line, regexp the message after "FILE:LINE: " matches)
    ("unknown key", "soket = x.sock", r"unknown key 'soket'"),
    ("bad size", "max_line = lots", r"max_line"),
    ("size below the minimum", "max_line = 10", r"max_line"),
    ("bad number", "max_connections = -5", r"max_connections"),
    ("bad duration", "retention = forever", r"retention"),
    ("bad sync", "sync = sometimes", r"sync"),
    ("bad log level", "log_level = loud", r"log_level"),
    ("no '='", "max_line 4k", r"'='"),
]


@T.case("config errors stop start-up with FILE:LINE: message, exit 1")
def _():
    fails = []
    for name, line, pat in CONF_ERRORS:
        d = rgtest.Daemon("conf", rules="classic")
        text = open(d.conf_path).read()
        lineno = text.count("\n") + 1
        with open(d.conf_path, "a") as f:
            f.write(line + "\n")
        try:
            rc, err = d.run_to_exit()
            want = r"%s:%d: .*%s" % (re.escape(d.conf_path), lineno, pat)
            if rc != 1 or not re.search(want, err):
                fails.append("%s: exit %s, stderr %r (wanted /%s/)" % (
                    name, rc, rgtest.short(err, 300), want))
            if os.path.exists(d.sock):
                fails.append("%s: socket created" % name)
            # refguardd -t says the same
            rc2, out2, err2 = rgtest.run(d.argv("-t"))
            if rc2 != 1 or not re.search(want, err2 + out2):
                fails.append("%s: -t exit %s, %r" % (name, rc2,
                                                     rgtest.short(err2)))
        except rgtest.Fail as e:
            fails.append("%s: %s" % (name, e))
    check(not fails, "\n    " + "\n    ".join(fails))


@T.case("missing config file, unreadable rules path: exit 1")
def _():
    d = rgtest.Daemon("noconf", rules="classic")
    os.unlink(d.conf_path)
    rc, err = d.run_to_exit()
    check(rc == 1 and d.conf_path in err, "missing config", rc, err)
    d = rgtest.Daemon("norules", rules="/nonexistent/rules.d")
    rc, err = d.run_to_exit()
    check(rc == 1 and "/nonexistent/rules.d" in err, "missing rules path",
          rc, err)
    check(not os.path.exists(d.sock), "socket created before the rules "
          "failed")


def broken_rules_dir(parent):
    """A copy of the shipped rules with one typo: (dir, file, line)."""
    dst = os.path.join(parent, "rules.broken")
    shutil.copytree(rgtest.CLASSIC_RULES_DIR, dst)
    path = os.path.join(dst, "velocity.rules")
    lines = open(path).read().split("\n")
    for i, l in enumerate(lines):
        if l.strip().startswith("action") and "review" in l:
            lines[i] = l.replace("action", "actoin", 1)
            break
    else:
        raise rgtest.Fail("no 'action review' line in velocity.rules")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return dst, path, i + 1


@T.case("refguardd -t: 0 on good config and rules, 1 with file:line:col")
def _():
    d = rgtest.Daemon("t", rules="classic")
    rc, out, err = rgtest.run(d.argv("-t"))
    check(rc == 0, "-t on the shipped rules: exit %d" % rc, out, err)
    check("valid" in out, "-t prints no summary", out, err)
    check(not os.path.exists(d.sock), "-t created the socket")
    check(not os.path.exists(os.path.join(d.state, "secret")),
          "-t created the hash secret")
    rdir, path, line = broken_rules_dir(d.dir)
    d.conf["rules"] = rdir
    d.write_conf()
    rc, out, err = rgtest.run(d.argv("-t"))
    check(rc == 1, "-t on a broken rule file: exit %d" % rc, out, err)
    check(re.search(r"%s:%d:\d+: " % (re.escape(path), line), err),
          "-t gives no %s:%d:COL diagnostic" % (os.path.basename(path),
                                               line), err)
    # and the daemon itself refuses to start on it
    rc, err = d.run_to_exit()
    check(rc == 1 and re.search(r"velocity\.rules:%d:\d+:" % line, err),
          "start with a broken rule file", rc, err)
    check(not os.path.exists(d.sock), "socket created")


if __name__ == "__main__":
    sys.exit(T.main())
