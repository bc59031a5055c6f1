#!/usr/bin/env python3
"""Reloads are built off the event loop and swapped in whole: a reload
refused for a rule error changes nothing (identity data included); checks
and the watchdog go on while a reload is held up; reload requests that
come while one runs are answered by one more reload after it; a GeoIP
database overwritten in place cannot crash the daemon; a FIFO (or any
file that is not a regular file) as the hash secret, a rule file or a
data file is refused with a message naming it instead of hanging the
daemon."""

import json
import os
import re
import shutil
import signal
import socket
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rgtest  # noqa: E402
from rgtest import check, check_req, eq, is_error, rule_names  # noqa: E402

T = rgtest.Suite("test_reload")
ids = rgtest.Ids("rl")
TESTDATA = os.environ.get("TESTDATA", os.path.join(
    rgtest.SRCDIR, "..", "shared", "testdata"))
MMDB = os.path.join(TESTDATA, "mmdb")

RULES = """\
rule t.disposable {
    desc   "disposable referee email"
    when   referee.email.disposable
    action review
    score  10
}
"""
EXTRA = """\
rule t.extra {
    desc   "never matches"
    when   referee.email.domain == "never.example"
    action review
    score  1
}
"""


def write(path, text):
    """Replace path by rename, as an operator should."""
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def setup(tag, geoip=None, **conf):
    d = rgtest.Daemon(tag, rules="empty")
    rdir = os.path.join(d.dir, "rules.d")
    os.makedirs(rdir)
    write(os.path.join(rdir, "10-t.rules"), RULES)
    disp = os.path.join(d.dir, "disposable.txt")
    write(disp, "mailinator.com\n")
    d.conf.update({"rules": rdir, "disposable_file": disp})
    if geoip is not None:
        d.conf["geoip_db"] = geoip
    d.conf.update(conf)
    d.write_conf()
    d.preload_hold_open(d.conf_path)
    return d, rdir, disp


def check_email(d, domain, **referee):
    """A fresh referral whose referee signs up at domain: the verdict."""
    ref = {"account": ids.account(), "email": "x%d@%s" % (ids.next(),
                                                            domain)}
    ref.update(referee)
    r, raw = d.call(check_req(ids.id(), {"account": ids.account()}, ref,
                              ts=rgtest.now_ms()))
    rgtest.verdict_shape(r, raw)
    return r


def data_of(st):
    """stats.data without what moves with the clock (ages)."""
    def strip(v):
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items()
                    if k not in ("age_s", "age")}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v
    return strip(st["data"])


def need_mmdb(*names):
    paths = [os.path.join(MMDB, n) for n in names]
    for p in paths:
        if not os.path.exists(p):
            raise rgtest.Skip("%s absent (the MaxMind test databases in "
                              "TESTDATA)" % p)
    return paths


def geo_setup(tag):
    """setup() with a copy of the City test database as geoip_db: (the
    daemon, rules dir, list, the database's path, the Country test
    database to replace it with)."""
    city, country = need_mmdb("GeoLite2-City-Test.mmdb",
                              "GeoLite2-Country-Test.mmdb")
    geo = os.path.join(rgtest.mkdtemp(tag), "geo.mmdb")
    shutil.copy(city, geo)
    d, rdir, disp = setup(tag, geoip=geo)
    return d, rdir, disp, geo, country


# ---- a refused reload changes nothing ---------------------------------

@T.case("a reload refused for a rule error keeps the old identity data "
        "and GeoIP databases, not only the old rules")
def _():
    d, rdir, disp, geo, country = geo_setup("stage")
    d.start()
    st0 = d.stats()
    h0 = st0["ruleset"]["hash"]
    eq(rule_names(check_email(d, "newly-bad.example")["reasons"]), [],
       "reasons before the list has the domain")
    eq(st0["data"]["geoip"][0]["database_type"], "GeoLite2-City",
       "database before")

    # One reload: a new list, a new GeoIP database and a broken rule.
    write(disp, "mailinator.com\nnewly-bad.example\n")
    shutil.copy(country, geo + ".new")
    os.rename(geo + ".new", geo)
    write(os.path.join(rdir, "99-broken.rules"), "this is not a rule\n")
    mark = d.log_mark()
    r, raw = d.call({"op": "reload"})
    is_error(r, "reload_failed", raw=raw)
    check("99-broken.rules" in r["error"]["msg"], "the error names the "
          "broken file", raw)
    eq(r.get("ruleset"), h0, "the reply names the set still serving")

    # Everything old still answers.
    eq(rule_names(check_email(d, "newly-bad.example")["reasons"]), [],
       "a refused reload put the new disposable list in service")
    st1 = d.stats()
    eq(st1["ruleset"]["hash"], h0, "ruleset after the refused reload")
    eq(data_of(st1), data_of(st0), "stats.data after the refused reload")
    eq(st1["ruleset"]["reload_failures"],
       st0["ruleset"]["reload_failures"] + 1, "reload_failures")
    d.wait_log(r"reload failed, the old rules and data keep serving", mark)

    # Fixed: the same reload goes through, all of it.
    os.unlink(os.path.join(rdir, "99-broken.rules"))
    r, raw = d.call({"op": "reload"})
    check(r.get("ok") is True, "reload after the fix", raw)
    eq(rule_names(check_email(d, "newly-bad.example")["reasons"]),
       ["t.disposable"], "the new list after a good reload")
    st2 = d.stats()
    eq(st2["data"]["geoip"][0]["database_type"], "GeoLite2-Country",
       "database after a good reload")
    eq(st2["data"]["disposable"]["entries"], 2, "list entries")
    d.stop()


# ---- off the event loop -------------------------------------------------

def hold_conf(d):
    """Hold the next reload in its thread, in its open() of the
    configuration file (setup() preloads hold_open.so), until release()
    is called; release() returns once the reload waits there."""
    return d.hold_open(d.conf_path)


@T.case("checks are answered while a reload is held up; requests that "
        "come meanwhile get one more reload after it")
def _():
    d, rdir, disp = setup("held")
    d.start()
    st0 = d.stats()["ruleset"]
    h0 = st0["hash"]
    write(os.path.join(rdir, "20-extra.rules"), EXTRA)
    release = hold_conf(d)
    mark = d.log_mark()
    a = d.client()
    a.send({"op": "reload"})
    d.wait_log(r"reload started by=request", mark)

    # The loop serves while the reload waits in its thread.
    v = check_email(d, "mailinator.com")
    eq(v["ruleset"], h0, "a check during the reload uses the serving set")
    eq(rule_names(v["reasons"]), ["t.disposable"], "reasons")
    st = d.stats()["ruleset"]
    eq(st["reloading"], True, "stats.ruleset.reloading during the reload")
    eq(st["hash"], h0, "hash during the reload")

    # Asked again meanwhile (a request and a signal): one more reload.
    c = d.client()
    c.send({"op": "reload"})
    d.wait_log(r"reload queued", mark)
    d.signal(signal.SIGHUP)
    d.wait_log(r"reloading signal=SIGHUP", mark)

    release()
    r, raw = a.read()
    check(r.get("ok") is True, "the held reload's reply", raw)
    h1 = r.get("ruleset")
    check(h1 not in (None, h0), "the reply names the new set", raw)
    eq(r.get("rules"), 2, "rules in the new set")
    r, raw = c.read()
    check(r.get("ok") is True, "the queued reload's reply", raw)
    eq(r.get("ruleset"), h1, "the queued reload's set")
    a.close()
    c.close()
    st = d.stats()["ruleset"]
    eq(st["reloading"], False, "stats.ruleset.reloading after")
    eq(st["reloads"], st0["reloads"] + 2, "reloads run: the held one and "
       "one for everything asked meanwhile")
    eq(st["hash"], h1, "hash after")
    d.stop()


@T.case("the watchdog keeps pinging while a reload is held up")
def _():
    import test_systemd as tsd
    tsd.need_libsystemd()
    d, rdir, disp = setup("wd")
    n = tsd.Notify(d.dir)
    try:
        # 400 ms: pings every 200 ms from the event loop.
        tsd.spawn_with_env(d, {"NOTIFY_SOCKET": n.path,
                               "WATCHDOG_USEC": "400000",
                               "WATCHDOG_PID": None})
        n.wait_for("READY", "1")
        release = hold_conf(d)
        d.signal(signal.SIGHUP)
        n.wait_for("RELOADING", "1")
        # Two pings after the reload started, while it still waits.
        n.wait_for("WATCHDOG", "1")
        n.wait_for("WATCHDOG", "1")
        eq(d.stats()["ruleset"]["reloading"], True, "still reloading")
        release()
        m = n.wait_for("READY", "1")
        check("failed" not in m.get("STATUS", ""), "STATUS= after", m)
        d.stop()
    finally:
        n.close()


# ---- GeoIP overwritten in place ---------------------------------------

def explain_geo(d, ip):
    rid = ids.id()
    r, raw = d.call(check_req(rid, {"account": ids.account()},
                              {"account": ids.account(), "ip": ip},
                              ts=rgtest.now_ms()))
    rgtest.verdict_shape(r, raw)
    e, raw = d.call({"op": "explain", "id": rid})
    check("error" not in e, "explain", raw)
    return {k: v for k, v in e["event"]["referee"].items()
            if k.startswith("geo.")}


@T.case("a GeoIP database overwritten in place: the daemon keeps "
        "answering with the data it loaded until a reload")
def _():
    d, rdir, disp, geo, country = geo_setup("inplace")
    d.start()
    ip = "81.2.69.160"
    g0 = explain_geo(d, ip)
    eq(g0.get("geo.country"), "GB", "country from the loaded database")

    # cp over it: the same inode, cut short, then other bytes.
    with open(geo, "r+b") as f:
        f.truncate(64)
    g1 = explain_geo(d, ip)
    eq(g1, g0, "geo facts after the file was truncated in place")
    with open(country, "rb") as src, open(geo, "r+b") as f:
        f.write(src.read())
    eq(explain_geo(d, ip), g0, "geo facts after the file was rewritten")
    check(d.alive(), "the daemon died")

    # A reload reads the file anew.
    r, raw = d.call({"op": "reload"})
    check(r.get("ok") is True, "reload", raw)
    eq(d.stats()["data"]["geoip"][0]["database_type"], "GeoLite2-Country",
       "the database after a reload")
    d.stop()


# ---- files that are not regular files ---------------------------------

def fifo(path):
    os.mkfifo(path, 0o600)
    return path


@T.case("a FIFO as hash_secret_file: start-up refused, naming it")
def _():
    d = rgtest.Daemon("fsecret", rules="empty")
    secret = fifo(os.path.join(d.dir, "secret.fifo"))
    d.conf["hash_secret_file"] = secret
    d.write_conf()
    rc, err = d.run_to_exit()
    check(rc != 0, "refguardd started with a FIFO as its secret", err)
    check("hash_secret_file %s: not a regular file (a FIFO)" % secret in err,
          "the message names the file and the problem", err)


@T.case("a FIFO as http_token_file: start-up and refguardd -t refused, "
        "naming it")
def _():
    d = rgtest.Daemon("ftoken", rules="empty")
    token = fifo(os.path.join(d.dir, "token.fifo"))
    d.conf["http_listen"] = os.path.join(d.dir, "http.sock")
    d.conf["http_token_file"] = token
    d.write_conf()
    want = "http_token_file %s: not a regular file (a FIFO)" % token
    rc, out, err = rgtest.run([rgtest.REFGUARDD, "-t", "-c", d.conf_path],
                              timeout=20)
    check(rc != 0 and want in err, "refguardd -t with a FIFO token", err)
    rc, err = d.run_to_exit()
    check(rc != 0 and want in err, "start-up with a FIFO token", err)


@T.case("a FIFO as a rule file: rules check, start-up and reload refuse "
        "it, naming it; the old set keeps serving")
def _():
    d, rdir, disp = setup("frules")
    bad = fifo(os.path.join(rdir, "50-fifo.rules"))
    want = "50-fifo.rules"
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "rules", "check", rdir],
                              timeout=20)
    check(rc != 0 and want in out + err and "a FIFO" in out + err,
          "rules check of a directory with a FIFO", out + err)
    rc, err = d.run_to_exit()
    check(rc != 0 and want in err and "a FIFO" in err,
          "start-up with a FIFO rule file", err)

    os.unlink(bad)
    d.start()
    h0 = d.stats()["ruleset"]["hash"]
    fifo(bad)
    r, raw = d.call({"op": "reload"})
    is_error(r, "reload_failed", raw=raw)
    check(want in r["error"]["msg"] and "a FIFO" in r["error"]["msg"],
          "the reload error names the FIFO", raw)
    eq(d.stats()["ruleset"]["hash"], h0, "the old set serves")
    eq(rule_names(check_email(d, "mailinator.com")["reasons"]),
       ["t.disposable"], "the old set answers")
    d.stop()


@T.case("a FIFO or a directory as a list or data file is refused, naming "
        "it; at reload the old data keeps serving")
def _():
    d, rdir, disp = setup("fdata")
    d.start()
    st0 = d.stats()
    # the disposable list: a warning, the old list kept
    os.unlink(disp)
    fifo(disp)
    r, raw = d.call({"op": "reload"})
    check(r.get("ok") is True and "disposable_file %s: not a regular file "
          "(a FIFO)" % disp in r.get("warning", ""),
          "a FIFO disposable_file at reload", raw)
    eq(rule_names(check_email(d, "mailinator.com")["reasons"]),
       ["t.disposable"], "the old list answers")
    eq(data_of(d.stats()), data_of(st0), "stats.data")
    # a list file of the rules: the reload is refused
    lst = os.path.join(d.dir, "domains.list")
    os.mkdir(lst)
    write(os.path.join(rdir, "30-list.rules"),
          'list t.domains file "%s"\n' % lst)
    r, raw = d.call({"op": "reload"})
    is_error(r, "reload_failed", raw=raw)
    check("domains.list: not a regular file (a directory)" in
          r["error"]["msg"], "the error names the list file", raw)
    d.stop()

    # a GeoIP database at start-up
    os.unlink(disp)
    write(disp, "mailinator.com\n")
    g = fifo(os.path.join(d.dir, "geo.mmdb"))
    d.conf["geoip_db"] = g
    d.write_conf()
    os.unlink(os.path.join(rdir, "30-list.rules"))
    rc, err = d.run_to_exit()
    check(rc != 0 and "geoip_db %s: not a regular file (a FIFO)" % g in err,
          "start-up with a FIFO as geoip_db", err)


@T.case("a conf.d drop-in's email_domain applies at one reload, to the "
        "requests and to the values in the rules alike")
def _():
    d, rdir, disp = setup("dropin")
    write(os.path.join(rdir, "20-vip.rules"), """\
rule t.vip {
    desc   "a known address"
    when   referee.email == "jane.doe@corp.example"
    action review
    score  1
}
""")
    d.start()

    def check_addr(local):
        ref = {"account": ids.account(), "email": local + "@corp.example"}
        r, raw = d.call(check_req(ids.id(), {"account": ids.account()}, ref,
                                  ts=rgtest.now_ms()))
        rgtest.verdict_shape(r, raw)
        return "t.vip" in rule_names(r["reasons"])

    eq(check_addr("jane.doe"), True, "the address as written")
    eq(check_addr("janedoe"), False, "dots count without email_domain")
    os.makedirs(os.path.join(d.dir, "conf.d"))
    write(os.path.join(d.dir, "conf.d", "10-mail.conf"),
          'email_domain = "corp.example dots"\n')
    r, raw = d.call({"op": "reload"})
    check(r.get("ok") is True, "reload", raw)
    eq(check_addr("janedoe"), True, "dots ignored after one reload")
    eq(check_addr("j.a.n.e.d.o.e"), True, "any dots")
    d.stop()


def fifo_conf_refused(d, path, h0):
    """refguardd -t, refguardctl -c and a reload refuse the FIFO at path
    (the configuration file or a drop-in), naming it; the old set
    serves."""
    want = "%s: not a regular file (a FIFO)" % path
    # (a read of the FIFO would wait for a writer that never comes)
    rc, out, err = rgtest.run([rgtest.REFGUARDD, "-t", "-c", d.conf_path],
                              timeout=20)
    check(rc == 1 and want in err, "refguardd -t with a FIFO", err)
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "-c", d.conf_path,
                               "ping"], timeout=20)
    check(rc == 2 and want in err, "refguardctl -c with a FIFO", err)
    r, raw = d.call({"op": "reload"})
    is_error(r, "reload_failed", raw=raw)
    check(want in r["error"]["msg"], "the reload error names the FIFO", raw)
    st = d.stats()["ruleset"]
    eq((st["hash"], st["reloading"]), (h0, False), "the old set serves, "
       "no reload left running")


@T.case("a FIFO as a conf.d drop-in: refguardd -t, refguardctl -c and "
        "reload refuse it, naming it; the daemon still stops")
def _():
    d, rdir, disp = setup("fconf")
    d.start()
    h0 = d.stats()["ruleset"]["hash"]
    os.makedirs(os.path.join(d.dir, "conf.d"))
    fifo_conf_refused(d, fifo(os.path.join(d.dir, "conf.d",
                                           "50-fifo.conf")), h0)
    d.stop()


@T.case("SIGTERM while a reload is held up: the reload's requests and "
        "a queued one get stopping at once, none starts during the drain, "
        "SIGHUP is ignored, and the daemon exits without waiting for the "
        "reload's thread")
def _():
    d, rdir, disp = setup("termheld")
    d.start()
    hold_conf(d)            # never released: the thread stays in open()
    mark = d.log_mark()
    a = d.client()
    a.send({"op": "reload"})
    d.wait_log(r"reload started by=request", mark)
    c = d.client()
    c.send({"op": "reload"})
    d.wait_log(r"reload queued", mark)
    b = d.client()
    # A check held in the writer keeps the drain going.
    with rgtest.StoreLock(d) as lock:
        b.send(check_req(ids.id(), {"account": ids.account()},
                         {"account": ids.account()}, ts=rgtest.now_ms()))
        d.wait_stats(lambda st: st["writer"]["inflight"] == 1,
                     "the check handed to the writer")
        d.signal(signal.SIGTERM)
        d.wait_log(r"draining signal=SIGTERM", mark)
        for cl, what in ((a, "the running reload's"), (c, "the queued")):
            r, raw = cl.read()
            is_error(r, "stopping", raw=raw)
        d.signal(signal.SIGHUP)
        d.wait_log(r"SIGHUP ignored: refguardd is stopping", mark)
        check(d.alive(), "the drain ended with a check in flight")
        lock.release()
    r, raw = b.read()
    rgtest.verdict_shape(r, raw)
    d.wait(0)
    log = d.stderr()[mark:]
    check(re.search(r"reload started by=(queue|SIGHUP)", log) is None,
          "a reload started during the drain", log)
    for cl in (a, b, c):
        cl.close()


@T.case("a FIFO as the configuration file: refguardd -t, refguardctl -c "
        "and a reload refuse it, naming it; the daemon still stops")
def _():
    d, rdir, disp = setup("fmain")
    d.start()
    h0 = d.stats()["ruleset"]["hash"]
    text = open(d.conf_path).read()
    os.rename(fifo(d.conf_path + ".new"), d.conf_path)
    fifo_conf_refused(d, d.conf_path, h0)
    write(d.conf_path, text)
    d.stop()


if __name__ == "__main__":
    sys.exit(T.main())
