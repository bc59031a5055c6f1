#!/usr/bin/env python3
"""rules_dirs: the shipped rule directory and the local one merged by
file name, as systemd merges drop-ins. A local file replaces the shipped
file of that name, an empty file or a link to /dev/null masks it, a local
directory nobody made yet is no error; a reload sees each change, and a
merge that leaves no rule file at all keeps the old set serving."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rgtest  # noqa: E402
from rgtest import check, check_req, eq, rule_names  # noqa: E402

T = rgtest.Suite("test_rules_dirs")
ids = rgtest.Ids("rdirs")

# Every rule matches a referral whose two parties share an email.
RULE = """rule %s {
    desc   "test rule %s"
    when   linked(referrer, referee, email)
    action review
    score  1
}
"""


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def same_email_reasons(d):
    """The rule names a referral of one email to itself matches."""
    email = "%s@example.org" % ids.id()
    r, raw = d.call(check_req(ids.id(), {"account": ids.id(),
                                         "email": email},
                              {"account": ids.id(), "email": email}))
    check("reasons" in r, "check reply without reasons", raw)
    return rule_names(r["reasons"])


def reload_ok(d):
    r, raw = d.call({"op": "reload"})
    check(r.get("ok") is True, "reload refused", raw)


@T.case("rules_dirs: a local file overrides, an empty one or /dev/null "
        "masks, a missing local directory is fine")
def _():
    d0 = rgtest.Daemon("rdirs")
    shipped = os.path.join(d0.dir, "shipped")
    local = os.path.join(d0.dir, "rules.d")
    os.makedirs(shipped)
    write(os.path.join(shipped, "a.rules"), RULE % ("a.shipped", "a"))
    write(os.path.join(shipped, "b.rules"), RULE % ("b.shipped", "b"))
    write(os.path.join(shipped, "notes.txt"), "not a rule file\n")
    d0.conf["rules"] = None
    d0.conf["rules_dirs"] = "shipped rules.d"   # relative to the file
    d0.write_conf()
    d = d0.start()
    eq(d.stats()["ruleset"]["rules"], 2, "rules with no local directory")
    eq(same_email_reasons(d), ["a.shipped", "b.shipped"], "shipped rules")

    # A local file of the same name replaces the shipped one; a new name
    # adds to the set.
    os.makedirs(local)
    write(os.path.join(local, "b.rules"), RULE % ("b.local", "b"))
    write(os.path.join(local, "c.rules"), RULE % ("c.local", "c"))
    reload_ok(d)
    eq(same_email_reasons(d), ["a.shipped", "b.local", "c.local"],
       "local override")

    # A link to /dev/null and an empty file mask.
    os.symlink("/dev/null", os.path.join(local, "a.rules"))
    write(os.path.join(local, "c.rules"), "")
    reload_ok(d)
    eq(same_email_reasons(d), ["b.local"], "masked")
    eq(d.stats()["ruleset"]["rules"], 1, "rules after masking")

    # Everything masked: no rule file, the old set keeps serving.
    write(os.path.join(local, "b.rules"), "")
    r, raw = d.call({"op": "reload"})
    check("error" in r and "no *.rules file" in raw.decode(),
          "a merge without rules was accepted", raw)
    eq(same_email_reasons(d), ["b.local"], "old set after a failed reload")

    # Unmasked: the shipped file serves again.
    os.unlink(os.path.join(local, "a.rules"))
    reload_ok(d)
    eq(same_email_reasons(d), ["a.shipped"], "unmasked")
    d.stop()


if __name__ == "__main__":
    T.main()
