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


def rule_file(directory, name, where):
    """directory/NAME.rules holding the rule NAME.WHERE."""
    write(os.path.join(directory, name + ".rules"),
          RULE % ("%s.%s" % (name, where), name))


def merge_daemon(tag):
    """A daemon (not started) with shipped/ made and rules.d/ not yet:
    (daemon, shipped, local)."""
    d0 = rgtest.Daemon(tag)
    shipped = os.path.join(d0.dir, "shipped")
    os.makedirs(shipped)
    return d0, shipped, os.path.join(d0.dir, "rules.d")


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
    d0, shipped, local = merge_daemon("rdirs")
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


@T.case("rules check of several directories merges them as rules_dirs "
        "does: overrides and masks check as the daemon loads them")
def _():
    d0, shipped, local = merge_daemon("rdirs-check")
    staging = os.path.join(d0.dir, "staging")
    os.makedirs(local)
    os.makedirs(staging)
    rule_file(shipped, "a", "shipped")
    rule_file(shipped, "b", "shipped")
    rule_file(shipped, "c", "shipped")
    rule_file(local, "b", "local")
    os.symlink("/dev/null", os.path.join(local, "a.rules"))
    write(os.path.join(local, "c.rules"), "")

    def rules_check(*paths):
        return rgtest.run([rgtest.REFGUARDCTL, "rules", "check"] +
                          list(paths))

    rc, out, err = rules_check(shipped, local)
    eq(rc, 0, "rules check of the merged directories: " + err)
    check(": 1 rules," in out, "not the one rule left after the merge",
          out)
    # The same set as the daemon serves with rules_dirs.
    d0.conf["rules"] = None
    d0.conf["rules_dirs"] = "shipped rules.d"
    d0.write_conf()
    d = d0.start()
    check("ruleset %s:" % d.stats()["ruleset"]["hash"] in out,
          "rules check and the daemon disagree on the set", out)
    d.stop()
    # A third directory stages a change over both; an error in it fails.
    write(os.path.join(staging, "b.rules"), RULE % ("b.new", "b") + "}\n")
    rc, out, err = rules_check(shipped, local, staging)
    eq(rc, 1, "a broken staged file passed: " + out + err)
    check("staging/b.rules:" in err, "the error does not name the file", err)
    # Files, or a single directory, still load every file given.
    copy = os.path.join(d0.dir, "copy")
    os.makedirs(copy)
    rule_file(copy, "b", "shipped")
    rc, out, err = rules_check(os.path.join(shipped, "b.rules"),
                               os.path.join(copy, "b.rules"))
    eq(rc, 1, "two files of one name are one set: both load")
    check("duplicate rule name" in err, "no duplicate reported", err)


@T.case("rules_dirs with a single directory masks too")
def _():
    d0 = rgtest.Daemon("rdirs-one")
    local = os.path.join(d0.dir, "rules.d")
    os.makedirs(local)
    rule_file(local, "a", "local")
    os.symlink("/dev/null", os.path.join(local, "z.rules"))
    d0.conf["rules"] = None
    d0.conf["rules_dirs"] = "rules.d"
    d0.write_conf()
    d = d0.start()
    eq(same_email_reasons(d), ["a.local"], "one directory, one link masked")
    d.stop()


if __name__ == "__main__":
    sys.exit(T.main())
