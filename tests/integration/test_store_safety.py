#!/usr/bin/env python3
"""The store and its secret are refused, loudly, whenever they cannot be
what they claim (docs/reliability.md, "The store and its secret at
start-up"):

  - a replaced hash secret: the store records the secret's fingerprint,
    refguardd and refguardctl backtest refuse another secret, naming both
    files; import refuses an export made with another secret;
  - a deleted secret is never recreated for a store that holds data;
  - a store written before the fingerprint gets it at the next start;
  - a new or emptied store beside an existing secret: a loud warning in
    the log and in stats;
  - a truncated data.mdb is refused at start and by the offline readers,
    never a SIGBUS;
  - one writer per state directory: a second refguardd is refused and
    names the first one's pid (the pid file);
  - a state directory that group or others can write to is refused;
  - a verdict record with one byte changed (a newline) is a clear
    store_error, and the connection stays in step."""

import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rgtest  # noqa: E402
from rgtest import check, check_req, eq, is_error  # noqa: E402

T = rgtest.Suite("test_store_safety")


def self_referral(rid, tag):
    """A referee with the referrer's mailbox respelled: denied on history
    (the stored email hash of the referrer must match)."""
    return check_req(rid, {"account": tag + "-a", "email":
                           "Jo.Doe+%s@gmail.com" % tag},
                     {"account": tag + "-b", "email":
                      "j.odoe@googlemail.com"})


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
    d = rgtest.Daemon(tag, rules="classic").start()
    with d.client() as c:
        history(c, tag)
        for i in range(5):
            v, raw = c.call(linked("%s-%d" % (tag, i), tag, i))
            eq(v.get("action"), "deny", "a check on history (%s)" % raw)
    d.stop()
    return d


def secret_path(d):
    return os.path.join(d.state, "secret")


def write_secret(path, data):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


def ctl(*args):
    return rgtest.run([rgtest.REFGUARDCTL] + list(args), timeout=60)


@T.case("a replaced secret is refused by refguardd and backtest, naming "
        "both files; the right one serves the old history")
def _():
    d = with_data("sw")
    good = open(secret_path(d), "rb").read()
    write_secret(secret_path(d), os.urandom(32))
    rc, err = d.run_to_exit()
    check(rc != 0, "refguardd started with another secret", err)
    check(secret_path(d) in err and d.state in err and
          "not the secret" in err, "the message names both files", err)
    rc, out, err = ctl("backtest", "--state", d.state, "--rules",
                       rgtest.CLASSIC_RULES_DIR)
    check(rc != 0 and "not the secret" in err, "backtest with another "
          "secret", rc, err)
    write_secret(secret_path(d), good)
    d.start()
    with d.client() as c:
        v, raw = c.call(linked("sw-3", "sw", 3))
    eq(v["action"], "deny", "the old history still matches")
    rc, out, err = ctl("backtest", "--state", d.state, "--rules",
                       rgtest.CLASSIC_RULES_DIR)
    eq(rc, 0, "backtest with the right secret (stderr %r)" % err)
    d.stop()


@T.case("a deleted secret is not created again for a store with data")
def _():
    d = with_data("gone")
    os.unlink(secret_path(d))
    rc, err = d.run_to_exit()
    check(rc != 0, "refguardd started without its secret", err)
    check(secret_path(d) in err and "refusing to create" in err,
          "the message says why", err)
    check(not os.path.exists(secret_path(d)), "a new secret was created")


@T.case("a store from before the fingerprint records it at the next "
        "start, and says so")
def _():
    for tool in ("mdb_dump", "mdb_load"):
        if shutil.which(tool) is None:
            raise rgtest.Skip("%s is not installed (Debian lmdb-utils)" %
                              tool)
    d = with_data("old")
    # The store without its "secret_fp" meta key, as refguard wrote it
    # before: dump every database, leave the key out, load a new file.
    dump = subprocess.run(["mdb_dump", "-a", d.state], check=True,
                          stdout=subprocess.PIPE).stdout.decode()
    key = " " + b"secret_fp".hex()
    lines = dump.split("\n")
    i = lines.index(key)
    del lines[i:i + 2]
    os.rename(os.path.join(d.state, "data.mdb"),
              os.path.join(d.dir, "data.mdb.orig"))
    os.unlink(os.path.join(d.state, "lock.mdb"))
    subprocess.run(["mdb_load", "-f", "/dev/stdin", d.state], check=True,
                   input="\n".join(lines).encode(), stderr=subprocess.PIPE)
    d.start()
    check("recorded the hash secret's fingerprint" in d.stderr(),
          "no word about recording the fingerprint", d.stderr())
    with d.client() as c:
        v, raw = c.call(linked("old-9", "old", 9))
    eq(v["action"], "deny", "the history after the new load")
    d.stop()
    write_secret(secret_path(d), os.urandom(32))
    rc, err = d.run_to_exit()
    check(rc != 0 and "not the secret" in err, "another secret after "
          "the fingerprint was recorded", err)


@T.case("an emptied or missing data.mdb beside an existing secret: a loud "
        "warning in the log and in stats")
def _():
    d = with_data("lost")
    for how in ("empty", "missing"):
        data = os.path.join(d.state, "data.mdb")
        if how == "empty":
            open(data, "w").close()
        else:
            os.unlink(data)
        d.start()
        st = d.stats()["store"]
        check(isinstance(st.get("warning"), str) and
              "data.mdb" in st["warning"], "stats store.warning (%s)" % how,
              st)
        check("was lost or emptied" in d.stderr(), "the log (%s)" % how,
              d.stderr())
        d.stop()
    # the warning is said once: the store now records the secret
    d.start()
    eq(d.stats()["store"].get("warning"), None, "warning after a restart")
    d.stop()
    # a first start (no secret yet) is no warning
    n = rgtest.Daemon("fresh", rules="classic").start()
    eq(n.stats()["store"].get("warning"), None, "warning on a first start")
    n.stop()


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
                      rgtest.CLASSIC_RULES_DIR]):
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
    d = rgtest.Daemon("lock", rules="classic").start()
    pidfile = os.path.join(d.state, "refguard.pid")
    eq(open(pidfile).read(), "%d\n" % d.proc.pid, "the pid file")
    other = rgtest.Daemon("lock2", rules="classic")
    other.conf["state_dir"] = d.state       # another socket, same store
    other.write_conf()
    rc, err = other.run_to_exit()
    check(rc == 1 and d.holder() in err,
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


@T.case("import refuses an export made with another secret")
def _():
    d = with_data("impsec")
    d.start()
    tmp = rgtest.mkdtemp("impsec")
    exp = os.path.join(tmp, "x.ndjson")
    rc, out, err = ctl("-c", d.conf_path, "export", "-o", exp)
    eq(rc, 0, "export (stderr %r)" % err)
    d.stop()
    head = json.loads(open(exp).readline())
    check(len(head.get("secret_fp", "")) == 32, "the header's secret_fp",
          head)
    state = os.path.join(tmp, "state")
    os.mkdir(state, 0o700)
    write_secret(os.path.join(state, "secret"), os.urandom(32))
    rc, out, err = ctl("import", "--state", state, exp)
    check(rc == 1 and "another hash secret" in err, "import with another "
          "secret", rc, err)
    # with the exporter's secret it goes in, and a daemon there matches
    n = rgtest.Daemon("impsec2", rules="classic")
    os.mkdir(n.state, 0o700)
    shutil.copy(secret_path(d), os.path.join(n.state, "secret"))
    rc, out, err = ctl("import", "--state", n.state, exp)
    eq(rc, 0, "import with the same secret (stderr %r)" % err)
    n.start()
    with n.client() as c:
        v, raw = c.call(linked("impsec-9", "impsec", 9))
    eq(v["action"], "deny", "the imported history matches")
    n.stop()


@T.case("a state directory others can write to is refused")
def _():
    d = rgtest.Daemon("mode", rules="classic")
    os.mkdir(d.state)
    os.chmod(d.state, 0o777)
    rc, err = d.run_to_exit()
    check(rc == 1 and "writable by group or others" in err and
          "chmod go-w" in err, "the message says the fix", rc, err)
    os.chmod(d.state, 0o750)
    d.start()
    d.stop()


def damaged_record(tag, damage_text, packed_at, byte):
    """Three self-referrals, then a copy of the store with cx-1's verdict
    record damaged: byte at packed_at in its packed form (after the mark
    0xc5 and seq 2: src/store_vrec.h) and, if damage_text, a newline in its
    reply wherever the reply stands as text (a page LMDB freed may hold an
    older copy). Every reader must answer store_error, never its bytes,
    and the connection stays in step."""
    d = rgtest.Daemon(tag, rules="classic").start()
    with d.client() as c:
        got = [c.call(self_referral("cx-%d" % i, "cx%d" % i))[1]
               for i in range(3)]
    d.stop()
    copy = rgtest.Daemon(tag + "2", rules="classic")
    shutil.copytree(d.state, copy.state)
    data = os.path.join(copy.state, "data.mdb")
    blob = bytearray(open(data, "rb").read())
    mark = b'{"id":"cx-1","action":"'
    at, n = 0, 0
    while damage_text and (at := blob.find(mark, at)) >= 0:
        blob[at + len(mark) + 1] = ord("\n")
        at += len(mark)
        n += 1
    packed = b"\xc5" + (2).to_bytes(8, "big")
    at = 0
    while (at := blob.find(packed, at)) >= 0:
        blob[at + packed_at] = byte
        at += len(packed)
        n += 1
    check(n > 0, "the record of cx-1 is not in data.mdb")
    open(data, "wb").write(blob)
    copy.start()
    with copy.client() as c:
        out = c.pipeline([{"op": "verdict", "id": "cx-0"},
                          {"op": "verdict", "id": "cx-1"},
                          {"op": "verdict", "id": "cx-2"},
                          {"op": "ping"},
                          self_referral("cx-1", "cx1"),
                          {"op": "explain", "id": "cx-1"},
                          {"op": "recheck", "id": "cx-1"},
                          {"op": "ping"}])
    eq(len(out), 8, "replies")
    eq(out[0], got[0], "the verdict before")
    eq(out[2], got[2], "the verdict after")
    eq(json.loads(out[3]), {"ok": True}, "ping after")
    eq(json.loads(out[7]), {"ok": True}, "the last ping")
    for i, what in ((1, "verdict"), (4, "a repeated check"),
                    (5, "explain"), (6, "recheck")):
        v = json.loads(out[i])
        e = is_error(v, "store_error", raw=out[i])
        check("corrupt verdict record" in e["msg"], "the message of %s"
              % what, out[i])
    check("corrupt verdict record id=cx-1" in copy.stderr(), "the log",
          copy.stderr())
    eq(copy.stats()["store"]["health"], "ok", "one bad record is not a "
       "store that cannot write")
    copy.stop()
    rc, out, err = ctl("export", "--state", copy.state)
    check(rc == 1 and "cx-1 is corrupt" in err, "export of the damaged "
          "store", rc, err)


@T.case("a verdict record with a byte turned into a newline: store_error, "
        "never its bytes; the connection stays in step")
def _():
    # in the packed form, the first byte of the reply field (after the
    # header: mark, seq, action, score, rechecks, form, length)
    damaged_record("corrupt", True, 9 + 1 + 4 + 2 + 1 + 4, ord("\n"))


@T.case("a packed verdict record whose action byte changed (deny to "
        "allow, a valid value): its kept checksum says corrupt")
def _():
    damaged_record("corruptact", False, 9, 0)


if __name__ == "__main__":
    sys.exit(T.main())
