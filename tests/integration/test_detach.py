#!/usr/bin/env python3
"""refguardd without -f detaches before it opens anything (LMDB must not
be used across fork(), and its locks and the state directory's belong to
the process that serves), and the command that started it waits: it
exits 0 once the daemon serves, or 1 with the daemon's start-up error on
its stderr. The pid file (STATE_DIR/refguard.pid) names the daemon, and
TERM to that pid stops it.

(A detached daemon's stderr is /dev/null: a sanitizer report of its own
would go unseen here; the other tests run it in the foreground.)"""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rgtest  # noqa: E402
from rgtest import check, check_req, eq  # noqa: E402

T = rgtest.Suite("test_detach")
_started = []       # detached pids, killed at the end if still there


def detached(d):
    """Run refguardd without -f until the command exits: (exit status,
    stdout, stderr). Its output goes to a file, not a pipe: the daemon
    may keep a copy of the descriptor (valgrind does), and the command's
    exit is what counts."""
    argv = [a for a in d.argv() if a != "-f"]
    out = os.path.join(d.dir, "detach.out")
    err = os.path.join(d.dir, "detach.err")
    with open(out, "wb") as fo, open(err, "wb") as fe:
        p = subprocess.Popen(argv, cwd=d.dir, stdin=subprocess.DEVNULL,
                             stdout=fo, stderr=fe)
    try:
        rc = p.wait(rgtest.START_TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        raise rgtest.Fail("refguardd without -f did not return within "
                          "%.0fs" % rgtest.START_TIMEOUT)
    return (rc, open(out).read(), open(err).read())


def pid_of(d):
    with open(os.path.join(d.state, "refguard.pid")) as f:
        text = f.read()
    check(text.endswith("\n") and text[:-1].isdigit(), "the pid file",
          text)
    pid = int(text)
    _started.append(pid)
    return pid


def running(pid):
    """The process is there and not a zombie (nobody may reap it here)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def gone(pid, timeout=rgtest.STOP_TIMEOUT):
    deadline = time.monotonic() + timeout
    while running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@T.case("detached: the command returns once the daemon serves; the pid "
        "file names it; import sees it; TERM to that pid stops it")
def _():
    d = rgtest.Daemon("detach")
    rc, out, err = detached(d)
    eq((rc, out, err), (0, "", ""), "the starting command")
    pid = pid_of(d)
    check(running(pid), "no process %d (the pid file)" % pid)
    # serving already: no retry, no wait
    with d.client() as c:
        r, raw = c.call({"op": "ping"})
        eq(r, {"ok": True}, "ping")
        v, raw = c.call(check_req("dt-1", {"account": "dt-a"},
                                  {"account": "dt-b"}))
        check(v.get("action") == "allow", "a check (a write) after "
              "detaching", raw)
    # the daemon, not its exited parent, holds LMDB's lock
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "import", "--state",
                               d.state, os.devnull])
    check(rc == 1 and "in use by process %d" % pid in err,
          "import beside the detached daemon", rc, err)
    os.kill(pid, signal.SIGTERM)
    check(gone(pid), "refguardd %d did not stop after SIGTERM" % pid)
    check(not os.path.exists(d.sock), "socket file left after TERM")
    eq(open(os.path.join(d.state, "refguard.pid")).read(), "",
       "the pid file after the daemon stopped")
    # and it starts again on its store
    rc, out, err = detached(d)
    eq(rc, 0, "second start (stderr %r)" % err)
    pid = pid_of(d)
    with d.client() as c:
        r, raw = c.call({"op": "verdict", "id": "dt-1"})
        check(r.get("id") == "dt-1", "the verdict after a restart", raw)
    os.kill(pid, signal.SIGTERM)
    check(gone(pid), "refguardd %d did not stop after SIGTERM" % pid)


@T.case("a start-up error of the detached daemon is the exit status and "
        "the message of the command")
def _():
    # rules that do not compile: the diagnostics, file:line:col
    d = rgtest.Daemon("detachbad", rules="empty")
    with open(os.path.join(d.rules, "10-bad.rules"), "w") as f:
        f.write("rule broken {\n    when count(referral\n    action deny\n"
                "}\n")
    d.write_conf()
    rc, out, err = detached(d)
    check(rc == 1 and "10-bad.rules:" in err and "rules not loaded" in err,
          "bad rules", rc, err)
    check(not os.path.exists(d.sock), "a socket was left behind")
    # a state directory that cannot be made (its parent is a file)
    d = rgtest.Daemon("detachdir")
    open(os.path.join(d.dir, "afile"), "w").close()
    d.conf["state_dir"] = os.path.join(d.dir, "afile", "state")
    d.write_conf()
    rc, out, err = detached(d)
    check(rc == 1 and "state directory" in err and "afile" in err,
          "an unusable state directory", rc, err)
    check(not os.path.exists(d.sock), "a socket was left behind")
    # a state directory another refguardd holds
    first = rgtest.Daemon("detachheld").start()
    second = rgtest.Daemon("detachheld2")
    second.conf["state_dir"] = first.state
    second.write_conf()
    rc, out, err = detached(second)
    check(rc == 1 and first.holder() in err, "a held state directory",
          rc, err)
    check(not os.path.exists(second.sock), "the refused daemon bound its "
          "socket")
    first.stop()


def main():
    try:
        return T.main()
    finally:
        for pid in _started:
            if running(pid):
                os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
