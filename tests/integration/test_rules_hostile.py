#!/usr/bin/env python3
"""Hostile rule files handed to a running refguardd: an expression
nested 30,000 levels deep (it overflowed the parser's stack), 35,000
nested not (accepted, then overflowed the writer thread's stack on the
first check), a file of noise, a set past rules_max_bytes. Each reload,
by SIGHUP or the reload op, is refused with an error that says where
and why; the daemon stays up and the old set keeps serving."""

import os
import re
import shutil
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rgtest  # noqa: E402
from rgtest import check, check_req, eq, verdict_shape  # noqa: E402

T = rgtest.Suite("test_rules_hostile")
ids = rgtest.Ids("rh")


def serving(d, h0):
    """A check is answered by the set with hash h0."""
    req = check_req(ids.id(), {"account": ids.id()},
                    {"account": ids.id(), "ip": ids.ip()})
    v, raw = d.call(req)
    verdict_shape(v, raw)
    eq(v["ruleset"], h0, "ruleset that answered")


def nested(word_open, word_close, n):
    return ("rule deep {\n    when " + word_open * n + "referee.ip.private" +
            word_close * n + "\n    action review\n    score 1\n}\n")


@T.case("reload: deep nesting, noise and an oversized set keep the old set",
        timeout=120)
def _():
    d0 = rgtest.Daemon("hostile")
    rdir = os.path.join(d0.dir, "rules.d")
    shutil.copytree(rgtest.RULES_DIR, rdir)
    d0.conf["rules"] = rdir
    d0.conf["rules_max_bytes"] = "2m"
    d0.write_conf()
    d = d0.start()
    h0 = d.stats()["ruleset"]["hash"]
    serving(d, h0)
    path = os.path.join(rdir, "zz-hostile.rules")

    # 30,000 '(' by SIGHUP: refused at the 65th, with its column
    fails0 = d.stats()["ruleset"]["reload_failures"]
    with open(path, "w") as f:
        f.write(nested("(", ")", 30000))
    d.signal(signal.SIGHUP)
    st = d.wait_stats(lambda s: s["ruleset"]["reload_failures"] > fails0,
                      "no reload failure counted after SIGHUP")
    check(d.alive(), "daemon died on a deeply nested rule file")
    err = st["ruleset"].get("last_reload_error") or ""
    check(re.search(r"zz-hostile\.rules:2:%d: error: expression nests "
                    r"deeper than 64 levels" % (10 + 64), err),
          "last_reload_error does not say where nesting went too deep", err)
    eq(st["ruleset"]["hash"], h0, "ruleset hash after a refused reload")
    serving(d, h0)

    # 35,000 not, then noise, then a set past rules_max_bytes: the
    # reload op answers each with its error
    cases = [
        (nested("not ", "", 35000),
         r"zz-hostile\.rules:2:%d: error: expression nests deeper than "
         r"64 levels" % (10 + 64 * 4)),
        ("@" * 100000 + "\n",
         r"zz-hostile\.rules:1:1: error: unexpected character '@'.*"
         r"more diagnostics not shown.*100000 errors"),
        ("# padding\n" * 220000,
         r"zz-hostile\.rules: error: the rule set's files would exceed "
         r"rules_max_bytes \(2097152 bytes\)"),
    ]
    for text, want in cases:
        with open(path, "w") as f:
            f.write(text)
        r, rraw = d.call({"op": "reload"})
        msg = r.get("error", {}).get("msg", "") if isinstance(
            r.get("error"), dict) else ""
        check(re.search(want, msg, re.S), "reload op error", rraw[:2000])
        eq(r.get("ruleset"), h0, "reload op error names the serving set")
        check(d.alive(), "daemon died on a hostile rule file")
        serving(d, h0)

    # removed: the next reload succeeds with the shipped set
    os.unlink(path)
    r, rraw = d.call({"op": "reload"})
    check(r.get("ok") is True, "reload after removing the file", rraw)
    eq(r.get("ruleset"), h0, "hash of the shipped set")
    d.stop()


if __name__ == "__main__":
    sys.exit(T.main())
