#!/usr/bin/env python3
"""The web console at /ui/ against a running refguardd.

Its files: served from a table (GET and HEAD only, their types, 404 for
anything else, no way out of the directory), every reply with the
console's Content-Security-Policy, without the API's token (the files
hold no data) while the API still asks for it, re-read at reload. The
graph op it draws from. Then a reviewer in headless Chromium (Debian's
chromium, driven over the DevTools protocol by tests/integration/cdp.py)
signs in with the token, filters the queue, opens a referral (rules and
facts, the identity graph, timelines), approves one and voids one with
the keyboard and approves two more in bulk; the decisions are then read
back from the API, seen by labeled() in new checks, and counted by
refguardctl backtest. Screenshots of each page go to
BUILDDIR/tests/integration/console-screens (RG_CONSOLE_DOCS=1: also to
docs/console-*.png, as the docs show them). Skipped, saying so, when
Chromium is not installed."""

import http.client
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rgtest  # noqa: E402
import cdp  # noqa: E402
from rgtest import check, check_req, eq  # noqa: E402

T = rgtest.Suite("test_console")
ids = rgtest.Ids("c")
UI_DIR = os.path.join(rgtest.SRCDIR, "ui")
TOKEN = "console-test-token-0123456789abcdef"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; "
       "img-src 'self'; connect-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SHOTS = os.path.join(rgtest.BUILDDIR, "tests", "integration",
                     "console-screens")
DOCS = os.environ.get("RG_CONSOLE_DOCS", "") not in ("", "0")


# A shadow rule with a fact under a not, beside farm.referee_ip: the
# referral page says how the rule counts it.
NOT_RULE = """rule console.untagged_referee {
    desc   "six or more referees on this address, this one's untagged"
    mode   shadow
    when   count(referral, referee.ip, 24h) > 5
           and not referee.email.tagged
    action review
    score  0
}
"""


def daemon(tag, ui_dir=UI_DIR, token=True, extra_rules=None):
    port = rgtest.free_ports(1)[0]
    d = rgtest.Daemon(tag, rules="classic")
    if extra_rules is not None:
        rules = os.path.join(d.dir, "rules")
        shutil.copytree(rgtest.CLASSIC_RULES_DIR, rules)
        with open(os.path.join(rules, "zz-console.rules"), "w") as f:
            f.write(extra_rules)
        d.conf["rules"] = rules
    d.conf["http_listen"] = "127.0.0.1:%d" % port
    d.conf["http_ui_dir"] = ui_dir
    if token:
        tok = os.path.join(d.dir, "http.token")
        with open(tok, "w") as f:
            f.write(TOKEN + "\n")
        os.chmod(tok, 0o600)
        d.conf["http_token_file"] = tok
    d.write_conf()
    d.port = port
    return d.start()


def req(d, method, path, headers=None, body=None):
    """(status, {header: value} lower-cased, body) of one raw request:
    the path goes out exactly as given."""
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=20)
    try:
        c.putrequest(method, path, skip_accept_encoding=True,
                     skip_host=True)
        if "Host" not in (headers or {}):
            c.putheader("Host", "127.0.0.1:%d" % d.port)
        for k, v in (headers or {}).items():
            c.putheader(k, v)
        if body is not None:
            c.putheader("Content-Length", str(len(body)))
        c.endheaders(body)
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        c.close()


def auth():
    return {"Authorization": "Bearer " + TOKEN}


def ok(d, r):
    rep, raw = d.call(r)
    check(isinstance(rep, dict) and "error" not in rep,
          "%s failed" % r["op"], raw)
    return rep


def reviews(d, n, campaign):
    return rgtest.review_referrals(lambda r: ok(d, r), ids, n, 71,
                                   campaign=campaign,
                                   device="cdev-%d" % ids.next(), signup=True)


def farm(d, n):
    """n referrals whose referees share one device: from the fourth on
    the classic rules deny them (farm.referee_device), which never enter
    the review queue. How many were denied."""
    dev = {"ua": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0",
           "tz": "Europe/Oslo", "screen": "1920x1080",
           "lang": "nb-NO-%d" % ids.next()}
    denied = 0
    for i in range(n):
        v = ok(d, check_req(ids.id(), {"account": ids.account()},
                            {"account": ids.account(), "device": dev},
                            campaign="farm-%d" % ids.next()))
        eq(v["action"], "deny" if i >= 3 else "allow", "the device farm")
        denied += v["action"] == "deny"
        eq([h["rule"] for h in v["reasons"]],
           ["farm.referee_device"] if i >= 3 else [], "its reasons")
    return denied


@T.case("the console's files: GET and HEAD only, their types, 404 for "
        "the rest, nothing outside the directory, the CSP on every reply")
def _():
    d = daemon("uifiles")
    st, h, body = req(d, "GET", "/ui/")
    eq(st, 200, "GET /ui/")
    eq(h.get("content-type"), "text/html; charset=utf-8", "its type")
    with open(os.path.join(UI_DIR, "index.html"), "rb") as f:
        eq(body, f.read(), "index.html, byte for byte")
    for name, ctype in (("console.js", "text/javascript; charset=utf-8"),
                        ("console.css", "text/css; charset=utf-8"),
                        ("favicon.svg", "image/svg+xml")):
        st, h, body = req(d, "GET", "/ui/" + name)
        eq((st, h.get("content-type")), (200, ctype), name)
    st, h, body = req(d, "HEAD", "/ui/console.js")
    eq((st, body), (200, b""), "HEAD: no body")
    check(int(h["content-length"]) > 0, "HEAD: the length of the GET", h)
    st, h, body = req(d, "GET", "/ui")
    eq((st, h.get("location")), (301, "/ui/"), "/ui goes to /ui/")
    bad = ["/ui/nope.js", "/ui/../refguard.conf", "/ui/%2e%2e/refguard.conf",
           "/ui/..%2Frefguard.conf", "/ui/./index.html", "/ui//index.html",
           "/ui/ui/index.html", "/ui/.hidden.js", "/ui/index.html/",
           "/ui/%69ndex.html", "/ui/../state/secret"]
    for path in bad:
        st, h, body = req(d, "GET", path)
        eq(st, 404, path)
        eq(json.loads(body)["error"]["code"], "not_found", path)
        eq(h.get("content-security-policy"), CSP, "CSP on the 404 " + path)
    st, h, body = req(d, "POST", "/ui/", {"Content-Type":
                                          "application/json"}, b"{}")
    eq((st, h.get("allow")), (405, "GET, HEAD"), "POST /ui/")
    for path in ("/ui/", "/ui/console.js", "/ui/nope", "/ui"):
        st, h, body = req(d, "GET", path)
        eq(h.get("content-security-policy"), CSP, "CSP on " + path)
        eq(h.get("x-content-type-options"), "nosniff", "nosniff on " + path)
        eq(h.get("referrer-policy"), "no-referrer", "Referrer-Policy " + path)
        eq(h.get("x-frame-options"), "DENY", "X-Frame-Options " + path)
        check("set-cookie" not in h, "no cookie", h)
    # the files need no token, the API does; Host and Origin still count
    st, h, body = req(d, "GET", "/v1/stats")
    eq(st, 401, "the API without the token")
    st, h, body = req(d, "GET", "/v1/stats", auth())
    eq(st, 200, "the API with it")
    st, h, body = req(d, "GET", "/ui/", {"Host": "evil.example"})
    eq(st, 403, "a foreign Host")
    st, h, body = req(d, "GET", "/ui/", {"Origin": "http://evil.example"})
    eq(st, 403, "a foreign Origin")


@T.case("the files are read at start-up and again at reload; without "
        "them the daemon serves the API and says why there is no console")
def _():
    tmp = rgtest.mkdtemp("ui")
    ui = os.path.join(tmp, "ui")
    shutil.copytree(UI_DIR, ui)
    os.symlink("/etc/passwd", os.path.join(ui, "passwd.txt"))
    d = daemon("uireload", ui_dir=ui)
    st, h, body = req(d, "GET", "/ui/passwd.txt")
    eq(st, 404, "a symbolic link is not served")
    st, h, body = req(d, "GET", "/ui/extra.txt")
    eq(st, 404, "not there yet")
    with open(os.path.join(ui, "extra.txt"), "w") as f:
        f.write("new\n")
    st, h, body = req(d, "GET", "/ui/extra.txt")
    eq(st, 404, "not read until a reload")
    r = ok(d, {"op": "reload"})
    st, h, body = req(d, "GET", "/ui/extra.txt")
    eq((st, body), (200, b"new\n"), "read at reload")
    # a broken directory at reload: the old files keep serving
    os.unlink(os.path.join(ui, "index.html"))
    r, raw = d.call({"op": "reload"})
    check(r.get("ok") is True and "no index.html" in r.get("warning", ""),
          "the reload succeeds and warns", raw)
    st, h, body = req(d, "GET", "/ui/")
    eq(st, 200, "the old files still serve")
    d.stop()
    d2 = daemon("uinone", ui_dir=os.path.join(tmp, "missing"))
    check("web console not served" in d2.stderr(), "the log says why",
          d2.stderr())
    st, h, body = req(d2, "GET", "/ui/")
    eq(st, 404, "no console")
    check(b"missing" in body, "the reply names the directory", body)
    st, h, body = req(d2, "GET", "/v1/stats", auth())
    eq(st, 200, "the API serves")


@T.case("the graph op: accounts, identities with their facts, the other "
        "accounts that carried them, timelines; many at once")
def _():
    d = daemon("graph", token=False)
    camp = "g-%d" % ids.next()
    rids, devs = reviews(d, 2, camp)
    g = ok(d, {"op": "graph", "id": rids[0]})
    eq(g["id"], rids[0], "the id")
    check(len(g["accounts"]["referrer"]) == 12 and
          len(g["accounts"]["referee"]) == 12, "accounts as 12-digit "
          "prefixes", g)
    kinds = {(i["kind"], tuple(i["parties"])): i for i in g["identities"]}
    for k in ("email", "email.shape"):
        for p in ("referrer", "referee"):
            check((k, (p,)) in kinds, "the %s's %s" % (p, k), g)
    for k in ("ip", "ip.prefix", "device.id"):
        check((k, ("referee",)) in kinds, "the referee's %s" % k, g)
    kinds = {k[0]: v for k, v in kinds.items() if k[1] == ("referee",)}
    eq(kinds["email"]["facts"], {"domain": "example.org", "tagged": False}, "its domain")
    eq(kinds["ip"]["parties"], ["referee"], "the referee's address")
    eq(len(kinds["ip"]["neighbours"]), 6, "six other referees used the "
       "address")
    eq(kinds["device.id"]["neighbours"], [], "the device is its own")
    ev = g["timelines"]["referee"]["events"]
    eq([e["type"] for e in ev], ["referral", "signup"],
       "the referee's events, newest first")
    eq(ev[0]["id"], rids[0], "the referral's id")
    raw = json.dumps(g)
    for secret in (devs[0], "100.71.", "@example.org"):
        check(secret not in raw, "no raw identifier (%s)" % secret, raw)
    p = ok(d, {"op": "graph", "ids": rids + ["nope"]})
    eq([x["id"] for x in p["parties"]], rids + ["nope"], "in order")
    eq(p["parties"][0]["referrer"], g["accounts"]["referrer"], "the same")
    eq(p["parties"][-1], {"id": "nope", "error": "not_found"}, "unknown")
    r, raw = d.call({"op": "graph", "id": "nope"})
    rgtest.is_error(r, "not_found", raw=raw)
    r, raw = d.call({"op": "graph", "id": rids[0], "ids": rids})
    rgtest.is_error(r, "bad_request", "id", raw=raw)
    r, raw = d.call({"op": "graph"})
    rgtest.is_error(r, "bad_request", "id", raw=raw)
    rc, out, err = d.ctl("graph", rids[0])
    eq(rc, 0, "refguardctl graph (%s)" % err)
    check("accounts" in out and g["accounts"]["referrer"] in out,
          "refguardctl graph prints the accounts", out)
    rc, out, err = d.ctl("--json", "graph", rids[0])
    eq(json.loads(out), g, "refguardctl --json graph: the reply")
    rc, out, err = d.ctl("graph", "nope")
    eq(rc, 1, "refguardctl graph of an unknown id")
    st, h, body = req(d, "POST", "/v1/graph", {"Content-Type":
                      "application/json"}, json.dumps({"id": rids[1]})
                      .encode())
    eq((st, json.loads(body)["id"]), (200, rids[1]), "over HTTP")


def shot(b, name):
    os.makedirs(SHOTS, exist_ok=True)
    b.screenshot(os.path.join(SHOTS, name + ".png"))
    if DOCS:
        b.screenshot(os.path.join(rgtest.SRCDIR, "docs",
                                  "console-%s.png" % name), scale=0.6)


def ready(b, page, extra="true"):
    return b.wait("document.getElementById('main').dataset.page === '%s' "
                  "&& document.getElementById('main').dataset.ready === "
                  "'yes' && (%s)" % (page, extra), page + " page")


@T.case("a reviewer in the browser: sign in, filter, open a referral, "
        "decide with the keyboard; the decisions reach the API, labeled() "
        "and backtest", timeout=180)
def _():
    binary = cdp.find_chromium()
    if binary is None:
        raise rgtest.Skip("chromium is not installed (Debian package "
                          "chromium; contrib/setup.sh test installs it)")
    d = daemon("browser", extra_rules=NOT_RULE)
    camp = "spring-%d" % ids.next()
    rids, devs = reviews(d, 5, camp)
    other, _ = reviews(d, 1, "other-%d" % ids.next())
    denied = farm(d, 5)
    b = cdp.Browser(binary)
    try:
        base = "http://127.0.0.1:%d/ui/" % d.port
        b.goto(base)
        # the token: asked for, kept in the tab
        b.wait("document.getElementById('login').open", "the token dialog")
        b.type(TOKEN)
        b.key("Enter")
        ready(b, "queue", "document.getElementById('queue-rows')"
              ".dataset.loaded")
        eq(b.eval("sessionStorage.getItem('refguard.token')"), TOKEN,
           "the token in sessionStorage")
        eq(b.eval("document.cookie"), "", "no cookie")
        b.eval("document.getElementById('reviewer').focus()")
        b.eval("document.getElementById('reviewer').select()")
        b.type("ana")
        b.key("Tab")
        # filter: the campaign
        b.eval("document.querySelector('#filters input[name=campaign]')"
               ".focus()")
        b.type(camp)
        b.key("Enter")
        ready(b, "queue", "location.hash.includes('%s') && document."
              "getElementById('queue-rows').dataset.loaded === '5' && "
              "[...document.querySelectorAll('td.referrer')].every(t => "
              "t.textContent.startsWith('account:'))" % camp)
        rows = b.eval("[...document.querySelectorAll('#queue-rows tr')]"
                      ".map(t => t.dataset.id)")
        eq(rows, rids[::-1], "the campaign's items, newest first")
        check(other[0] not in rows, "another campaign's item is not", rows)
        words = b.eval("document.querySelector('#queue-rows td.reasons')"
                       ".textContent")
        eq(words, "more than 5 referrals from this referee IP address "
           "within 24h", "the top reason in words")
        shot(b, "queue")
        # j moves, Enter opens
        b.key("j")
        b.wait("document.getElementById('queue-page').dataset.cursor === "
               "'%s'" % rids[-2], "the cursor on the second row")
        b.key("Enter")
        ready(b, "referral", "document.querySelector('#graph .node')")
        nodes = b.eval("[...document.querySelectorAll('#graph .node')]"
                       ".map(n => n.dataset.kind + (n.dataset.party ? '/' + "
                       "n.dataset.party : ''))")
        for k in ("account/referrer", "account/referee", "email", "ip",
                  "ip.prefix", "device.id"):
            check(k in nodes, "a graph node for %s" % k, nodes)
        check(nodes.count("account") >= 8, "the address's other referees",
              nodes)
        text = b.eval("document.getElementById('referral-page').innerText")
        for want in ("farm.referee_ip", "count(referral, referee.ip, 24h) > 5",
                     "value 6", "gmail.com", "example.org", "Rule set",
                     "not referee.email.tagged → false (counts as true)"):
            check(want in text, "the page shows %r" % want, text[:3000])
        check(devs[-2] not in text and "100.71." not in text,
              "no raw identifier on the page", text[:3000])
        eq(b.eval("document.querySelectorAll('#timeline circle.ev').length"),
           3, "both accounts' events on the time axis: the referral "
           "on each, the referee's sign-up")
        shot(b, "referral")
        # a approves, with a note
        b.key("a")
        b.wait("document.getElementById('decide').open", "the dialog")
        b.type("known customer")
        b.key("Enter")
        b.wait("document.getElementById('item-state').dataset.decision === "
               "'approve'", "approved")
        # back to the queue (u), v voids the newest
        b.key("u")
        ready(b, "queue", "document.getElementById('queue-rows').dataset"
              ".loaded === '4'")
        eq(b.eval("document.getElementById('queue-page').dataset.cursor"),
           rids[-1], "the cursor on the newest")
        b.key("v")
        b.wait("document.getElementById('decide').open", "the dialog")
        b.key("Enter")
        b.wait("document.querySelector('#queue-rows tr[data-id=\"%s\"]')"
               ".dataset.state === 'decided'" % rids[-1], "voided")
        # x selects two, A approves them together
        b.wait("document.getElementById('queue-page').dataset.cursor === "
               "'%s'" % rids[-3], "the cursor moved on")
        b.key("x")
        b.key("j")
        b.key("x")
        b.wait("document.getElementById('queue-count').textContent"
               ".includes('2 selected')", "two selected")
        b.key("A")
        b.wait("document.getElementById('decide').open", "the dialog")
        b.key("Enter")
        b.wait("['%s','%s'].every(id => document.querySelector("
               "'#queue-rows tr[data-id=\"' + id + '\"]').dataset.state === "
               "'decided')" % (rids[-3], rids[-4]), "both approved")
        # the rules page and the overview: every verdict's hits per day
        # (a deny rule's too, which never enter the queue), the decisions
        b.goto(base + "#/rules")
        ready(b, "rules", "document.querySelector('#rules tr[data-rule="
              "\"farm.referee_ip\"] svg.hits-chart')")
        share = b.eval("document.querySelector('#rules tr[data-rule="
                       "\"farm.referee_ip\"]').innerText")
        check("25% of 4" in share, "one voided of four decided", share)
        cost = b.eval("document.querySelector('#rules tr[data-rule="
                      "\"farm.referee_ip\"] td.cost').textContent")
        check(cost.endswith(" µs"), "the rule's cost, timed", cost)
        zeros = [0] * 13
        for rule, hits in (("farm.referee_ip", 6),
                           ("farm.referee_device", denied)):
            eq(b.eval("document.querySelector('#rules tr[data-rule=\"%s\"]"
                      " svg.hits-chart').dataset.hits" % rule),
               ",".join(map(str, zeros + [hits])),
               "%s: its hits per day, today's last" % rule)
            eq(b.eval("document.querySelector('#rules tr[data-rule=\"%s\"]"
                      " td.hits-total').textContent" % rule), str(hits),
               "%s: its hits in 14 days" % rule)
        shot(b, "rules")
        b.goto(base + "#/overview")
        ready(b, "overview", "document.querySelector('#top-referrers')")
        eq(b.eval("document.querySelector('#n-review b').textContent"),
           "6", "review verdicts")
        bars = b.eval("[...document.querySelectorAll('#verdict-days g.day')]"
                      ".map(g => [g.dataset.allow, g.dataset.review, "
                      "g.dataset.deny].join('/'))")
        eq(bars, ["0/0/0"] * 13 + ["%d/6/%d" % (10 + 5 - denied, denied)],
           "the verdict mix per day, today's last")
        shot(b, "overview")
        # (the first API call before the token is a 401, on purpose)
        problems = [p for p in b.problems() if not p.startswith(
            "log (network)") or "status of 401" not in p]
        check(problems == [], "no error in the page (CSP included)",
              problems)
    finally:
        b.close()
    # the decisions, through the API
    g = ok(d, {"op": "queue.get", "id": rids[-2]})
    eq((g["item"]["state"], g["item"]["decision"], g["item"]["decided_by"]),
       ("decided", "approve", "ana"), "approved by ana")
    eq(g["history"][-1]["note"], "known customer", "with the note")
    g = ok(d, {"op": "queue.get", "id": rids[-1]})
    eq((g["item"]["state"], g["item"]["decision"]), ("decided", "void"),
       "voided")
    g = ok(d, {"op": "queue.get", "id": rids[0]})
    eq(g["item"]["state"], "open", "the one left alone")
    # labeled(): the voided referee's device now denies, an approved one not
    v = ok(d, check_req(ids.id(), {"account": ids.account()},
                        {"account": ids.account(),
                         "device": {"id": devs[-1]}}))
    eq(v["action"], "deny", "labeled() sees the void")
    check(any(x["rule"] == "feedback.confirmed_fraud" for x in v["reasons"]),
          "the reason is the label", v)
    v = ok(d, check_req(ids.id(), {"account": ids.account()},
                        {"account": ids.account(),
                         "device": {"id": devs[-2]}}))
    eq(v["action"], "allow", "an approved referee is not fraud")
    # backtest counts the decisions as labels: one fraud, three legit
    rc, out, err = rgtest.run([rgtest.REFGUARDCTL, "backtest", "--rules",
                               rgtest.CLASSIC_RULES_DIR, "--state", d.state,
                               "--json"], timeout=60)
    eq(rc, 0, "backtest exit status (%s)" % err)
    lab = json.loads(out)["labels"]
    eq((lab["positives"], lab["legit"]), (1, 3), "the decisions as labels")


if __name__ == "__main__":
    sys.exit(T.main())
