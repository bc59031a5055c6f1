#!/usr/bin/env python3
"""The store is refused, loudly, whenever it cannot be what it claims
(docs/reliability.md, "The store and its secret at start-up"):

  - a truncated data.mdb is refused at start and by the offline readers,
    never a SIGBUS;
  - one writer per state directory: a second refguardd is refused and
    names the first one's pid (the pid file);
  - a state directory that group or others can write to is refused."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rgtest  # noqa: E402
from rgtest import check, check_req, eq  # noqa: E402

T = rgtest.Suite("test_store_safety")


def history(c, tag):
    """The referrer logs in from a laptop (stored history)."""
    v, raw = c.call(rgtest.observe_req("login", tag + "-r",
                                       device=rgtest.LAPTOP))
    check(v.get("ok") is True, "observe", raw)


def linked(rid, tag, i):
    """A referee on the device the referrer logged in from: denied only
    when the stored history matches (self_referral.same_device): the
    check itself carries no device of the referrer."""
    return check_req(rid, {"account": tag + "-r"},
                     {"account": "%s-e%d" % (tag, i),
                      "device": rgtest.LAPTOP})


def with_data(tag):
    """A stopped daemon whose store holds a few verdicts."""
    d = rgtest.Daemon(tag).start()
    with d.client() as c:
        history(c, tag)
        for i in range(5):
            v, raw = c.call(linked("%s-%d" % (tag, i), tag, i))
            eq(v.get("action"), "deny", "a check on history (%s)" % raw)
    d.stop()
    return d


def ctl(*args):
    return rgtest.run([rgtest.REFGUARDCTL] + list(args), timeout=60)


@T.case("a truncated data.mdb is refused at start and by the readers")
def _():
    d = with_data("trunc")
    data = os.path.join(d.state, "data.mdb")
    size = os.path.getsize(data)
    keep = open(data, "rb").read()
    for cut in (size - 4096, size // 2 // 4096 * 4096 + 100):
        with open(data, "r+b") as f:
            f.truncate(cut)
        rc, err = d.run_to_exit()
        check(rc == 1 and "truncated" in err and "%d bytes" % cut in err,
              "start on a data.mdb cut to %d of %d bytes" % (cut, size),
              rc, err)
        for args in (["export", "--state", d.state],
                     ["backtest", "--state", d.state, "--rules",
                      rgtest.RULES_DIR]):
            rc, out, err = ctl(*args)
            check(rc == 1 and "truncated" in err, "%s on a truncated "
                  "store" % args[0], rc, err)
        with open(data, "wb") as f:
            f.write(keep)
    d.start()
    eq(d.stats()["store"]["verdicts"], 5, "verdicts of the whole file")
    d.stop()


@T.case("a second refguardd on the same state directory is refused, "
        "naming the first one's pid; import is refused too")
def _():
    d = rgtest.Daemon("lock").start()
    pidfile = os.path.join(d.state, "refguard.pid")
    eq(open(pidfile).read(), "%d\n" % d.proc.pid, "the pid file")
    other = rgtest.Daemon("lock2")
    other.conf["state_dir"] = d.state       # another socket, same store
    other.write_conf()
    rc, err = other.run_to_exit()
    check(rc == 1 and "in use by refguardd (pid %d)" % d.proc.pid in err,
          "the second daemon's message", rc, err)
    tmp = rgtest.mkdtemp("lockimp")
    exp = os.path.join(tmp, "x.ndjson")
    rc, out, err = ctl("export", "--state", d.state, "-o", exp)
    eq(rc, 0, "export beside the daemon (stderr %r)" % err)
    rc, out, err = ctl("import", "--state", d.state, exp)
    check(rc == 1 and "in use" in err, "import beside the daemon", rc, err)
    with d.client() as c:
        v, raw = c.call(linked("lk-1", "lk", 1))
    check("error" not in v, "the first daemon still writes", raw)
    d.stop()
    eq(open(pidfile).read(), "", "the pid file after a clean stop")


@T.case("a state directory others can write to is refused")
def _():
    d = rgtest.Daemon("mode")
    os.mkdir(d.state)
    os.chmod(d.state, 0o777)
    rc, err = d.run_to_exit()
    check(rc == 1 and "writable by group or others" in err and
          "chmod go-w" in err, "the message says the fix", rc, err)
    os.chmod(d.state, 0o750)
    d.start()
    d.stop()


if __name__ == "__main__":
    sys.exit(T.main())
