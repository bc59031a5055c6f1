#!/usr/bin/env python3
"""The HTTP listener (docs/http.md), driven by the real curl:

  - every route over a Unix socket (curl --unix-socket), each answer
    the NDJSON reply of the same request, byte for byte, with its status:
    200, 400 (the NDJSON error body), 404, 405 with Allow, 413 over
    http_max_body, 503 while the store is full and from /healthz;
  - a TCP loopback listener with a bearer token: missing, wrong and right;
  - start-up refused for a non-loopback address without
    http_allow_remote, for http_allow_remote without a token file, and for
    a token file others can read;
  - http_max_connections;
  - /metrics: promtool check metrics when promtool is installed, and a
    parser of the exposition format here; the counters move (a deny
    increments the deny counter and its rule's hit counter);
  - the audit log (audit_log = flagged): one line per flagged verdict,
    hostile bytes of an id escaped; no raw personal data in the log."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rgtest  # noqa: E402
from rgtest import check, check_req, eq, is_error  # noqa: E402

T = rgtest.Suite("test_http")
CURL = shutil.which("curl")
PROMTOOL = shutil.which("promtool")
TOKEN = "t0k-3n_for-refguard-tests-0123456789"

SAME_EMAIL = ("self_referral.same_email", "deny")


def need_curl():
    if CURL is None:
        raise rgtest.Skip("curl is not installed (Debian package curl): "
                          "the HTTP tests drive the real curl")


class Http:
    """curl against a daemon's HTTP listener: a Unix socket path, or a
    host:port."""

    def __init__(self, d, where, token=None):
        self.d = d
        self.where = where
        self.token = token

    def url(self, path):
        if self.where.startswith("/"):
            return "http://localhost" + path
        return "http://%s%s" % (self.where, path)

    def __call__(self, method, path, body=None, headers=(), token=None,
                 ctype="application/json"):
        """(status, {header: value} lower-cased, body bytes). POST and
        PUT carry Content-Type ctype (None: none)."""
        need_curl()
        tmp = rgtest.mkdtemp("curl")
        hdrs = os.path.join(tmp, "h")
        out = os.path.join(tmp, "b")
        argv = [CURL, "-sS", "-D", hdrs, "-o", out, "-w", "%{http_code}",
                "--max-time", "20"]
        # curl -X HEAD would wait for a body
        argv += ["--head"] if method == "HEAD" else ["-X", method]
        if self.where.startswith("/"):
            argv += ["--unix-socket", self.where]
        tok = token if token is not None else self.token
        if tok:
            argv += ["-H", "Authorization: Bearer " + tok]
        for h in headers:
            argv += ["-H", h]
        if body is not None:
            if isinstance(body, dict):
                body = rgtest.jdump(body)
            if isinstance(body, str):
                body = body.encode()
            bf = os.path.join(tmp, "in")
            with open(bf, "wb") as f:
                f.write(body)
            argv += ["--data-binary", "@" + bf]
        if method in ("POST", "PUT") and ctype is not None:
            argv += ["-H", "Content-Type: " + ctype]
        argv.append(self.url(path))
        rc, status, err = rgtest.run(argv)
        check(rc == 0, "curl %s %s failed (exit %d)" % (method, path, rc),
              err)
        with open(out, "rb") as f:
            data = f.read()
        heads = {}
        with open(hdrs, "rb") as f:
            for line in f.read().decode("latin-1").split("\r\n"):
                if line.startswith("HTTP/"):
                    heads = {}      # the last response (after a 100)
                elif ":" in line:
                    k, v = line.split(":", 1)
                    heads[k.strip().lower()] = v.strip()
        shutil.rmtree(tmp, ignore_errors=True)
        return int(status), heads, data

    def json(self, method, path, body=None, want=200, **kw):
        status, heads, data = self(method, path, body, **kw)
        check(status == want, "%s %s: status %d, expected %d" % (
            method, path, status, want), data)
        check(heads.get("content-type", "").startswith("application/json"),
              "%s %s: content type" % (method, path), heads)
        check(data.endswith(b"\n"), "the body ends with a newline", data)
        try:
            return json.loads(data), data.rstrip(b"\n")
        except ValueError:
            raise rgtest.Fail("%s %s: body is not JSON: %s" % (
                method, path, rgtest.short(data)))


def http_daemon(tag, conf=None, **kw):
    d = rgtest.Daemon(tag, conf=conf, **kw)
    d.conf["http_listen"] = os.path.join(d.dir, "http.sock")
    d.write_conf()
    return d, Http(d, d.conf["http_listen"])


def deny_req(rid):
    """A referee with the referrer's email: denied (whatever the id)."""
    return check_req(rid, {"account": "deny-a", "email": "Jo.Doe+x@gmail.com"},
                     {"account": "deny-b", "email": "jodoe@googlemail.com"})


ALLOWS = [0]


def allow_req(rid):
    """An unrelated pair, new accounts each time: allowed."""
    ALLOWS[0] += 1
    n = ALLOWS[0]
    return check_req(rid, {"account": "al-a-%d" % n,
                           "email": "a%d@example.org" % n},
                     {"account": "al-b-%d" % n,
                      "email": "b%d@example.net" % n})


def rest(req):
    """The HTTP body of an NDJSON request: without its op."""
    return {k: v for k, v in req.items() if k != "op"}


# ---- routes -------------------------------------------------------------

S = {}


def shared():
    if "d" not in S:
        d, h = http_daemon("routes")
        d.persistent = True
        d.start()
        S["d"], S["h"] = d, h
    return S["d"], S["h"]


@T.case("POST /v1/check and /v1/observe: the NDJSON verdict, 200")
def _():
    d, h = shared()
    v, raw = h.json("POST", "/v1/check", rest(deny_req("h-deny")))
    eq(v["action"], "deny", "action of a same-email referral")
    check(SAME_EMAIL[0] in rgtest.rule_names(v["reasons"]), "reasons", raw)
    # The same id on the socket: the stored verdict, the same bytes.
    r, raw2 = d.call(deny_req("h-deny"))
    eq(raw2, raw, "the NDJSON replay of the HTTP check")
    v, raw = h.json("POST", "/v1/check", rest(allow_req("h-allow")))
    eq(v["action"], "allow", "action of an unrelated pair")
    v, raw = h.json("POST", "/v1/observe", rest(rgtest.observe_req(
        "login", "h-obs-1", ip="192.0.2.7")))
    eq(v.get("ok"), True, "observe acknowledged")
    # op in the body: the route's own is accepted, another is not.
    v, raw = h.json("POST", "/v1/check", deny_req("h-deny"))
    eq(v["id"], "h-deny", "a body that names the same op")
    v, raw = h.json("POST", "/v1/check", dict(deny_req("h-x"), op="observe"),
                    want=400)
    is_error(v, "bad_request", "op", raw)


@T.case("GET /v1/verdicts/{id} and .../explain; 404 for an unknown id")
def _():
    d, h = shared()
    r, raw = d.call(deny_req("h-v/1 x"))
    eq(r.get("action"), "deny", "the check of an id with '/' and ' '")
    v, hraw = h.json("GET", "/v1/verdicts/h-v%2F1%20x")
    eq(hraw, raw, "GET verdict vs the check reply")
    v, hraw = h.json("GET", "/v1/verdicts/h-v%2F1%20x/explain")
    r, raw = d.call({"op": "explain", "id": "h-v/1 x"})
    eq(hraw, raw, "GET explain vs the NDJSON explain")
    v, hraw = h.json("GET", "/v1/verdicts/nope-404", want=404)
    r, raw = d.call({"op": "verdict", "id": "nope-404"})
    eq(hraw, raw, "404 body vs the NDJSON not_found reply")
    is_error(v, "not_found")
    # control bytes in a path id are refused, decoded or not
    v, raw = h.json("GET", "/v1/verdicts/a%01b", want=400)
    is_error(v, "bad_request", "id", raw)
    v, raw = h.json("GET", "/v1/verdicts/a%00b/explain", want=400)
    is_error(v, "bad_request", "id", raw)


@T.case("400: exactly the NDJSON error body (bad JSON, bad field, not an "
        "object)")
def _():
    d, h = shared()
    bad = check_req("h-bad", {"account": "x", "ip": "300.1.1.1"},
                    {"account": "y"})
    v, hraw = h.json("POST", "/v1/check", rest(bad), want=400)
    r, raw = d.call(bad)
    eq(hraw, raw, "bad field: HTTP body vs NDJSON reply")
    is_error(v, "bad_request", "referrer.ip", hraw)
    for body in ('{"id": "h-', '[1,2]', '"str"', '{"id":"a","id":"b"}'):
        v, hraw = h.json("POST", "/v1/check", body, want=400)
        with d.client() as c:
            c.send(body)
            r, raw = c.read()
        eq(hraw, raw, "body %r: HTTP vs NDJSON" % body)
    v, raw = h.json("POST", "/v1/check", {"id": "h-unknown-field",
                                          "bogus": 1}, want=400)
    is_error(v, "bad_request", "bogus", raw)


@T.case("GET /v1/stats, POST /v1/reload, GET /healthz")
def _():
    d, h = shared()
    v, raw = h.json("GET", "/v1/stats")
    check(v["requests"]["check"] >= 1 and "store" in v, "stats", raw)
    v, raw = h.json("POST", "/v1/reload")
    eq(v.get("ok"), True, "reload ok")
    status, heads, body = h("GET", "/healthz")
    eq((status, body), (200, b"ok\n"), "healthz")
    status, heads, body = h("HEAD", "/healthz")
    eq(status, 200, "HEAD /healthz")


@T.case("the rules op: the rule set in service with action, mode, score, "
        "hits and cost, the same over NDJSON, GET /v1/rules and refguardctl")
def _():
    d, h = http_daemon("rulesop")
    d.start()
    st = d.stats()["ruleset"]
    r, raw = d.call({"op": "rules"})
    check(r.get("ok") is True, "rules op acknowledged", raw)
    eq(r.get("ruleset"), st["hash"], "the serving set's hash")
    rules = r.get("rules")
    check(isinstance(rules, list) and len(rules) == st["rules"],
          "one entry per rule in service (%d)" % st["rules"], raw)
    by = {}
    for e in rules:
        base = {"action", "cost_ns", "hits", "mode", "rule", "score", "timed"}
        check(set(e) - {"msg", "group", "group_cap"} == base and
              ("group_cap" not in e or "group" in e),
              "the fields of a rule (msg: its desc, when it has one; "
              "group and its cap, when it has them)", raw)
        check(e["action"] in ("allow", "review", "deny"), "action", raw)
        check(e["mode"] in ("enforce", "shadow"), "mode", raw)
        eq(e["hits"], 0, "no hits before any check")
        # The rule tests run at load are not what serving costs.
        eq((e["timed"], e["cost_ns"]), (0, 0), "nothing timed before any "
           "check: %s" % e["rule"])
        by[e["rule"]] = e
    same = by.get(SAME_EMAIL[0])
    check(same is not None, "%s listed" % SAME_EMAIL[0], raw)
    eq(same.get("msg"), "referee email normalizes to one the referrer has "
       "used", "the rule's desc")
    eq((same["action"], same["mode"]), (SAME_EMAIL[1], "enforce"),
       "the same-email rule denies")
    eq("group" in same, False, "the same-email rule counts alone")
    phone = by.get("self_referral.same_phone")
    check(phone is not None, "self_referral.same_phone listed", raw)
    eq((phone.get("group"), phone.get("group_cap")), ("household", 150),
       "a shared phone counts in the household group, capped at 150")

    # A denied check counts one hit, as /metrics does.
    v, vraw = d.call(deny_req("rop-1"))
    check(v.get("action") == "deny", "the deny check", vraw)
    d.call(deny_req("rop-1"))       # a replay is not a new verdict
    r, raw = d.call({"op": "rules"})
    hits = {e["rule"]: e["hits"] for e in r["rules"]}
    eq(hits[SAME_EMAIL[0]], 1, "hits after one denied check")
    for name in rgtest.rule_names(v["reasons"]):
        eq(hits[name], 1, "hits of %s, a reason of the check" % name)
    # A thread times every rule of its first evaluation (then one in 16).
    for e in r["rules"]:
        eq(e["timed"], 1, "%s timed once, in the one evaluation" % e["rule"])
        check(e["cost_ns"] >= 0, "cost of %s" % e["rule"], raw)
    check(sum(e["cost_ns"] for e in r["rules"]) > 0, "the check took time",
          raw)
    status, heads, body = h("GET", "/metrics")
    check(('refguard_rule_hits_total{rule="%s",mode="enforce"} 1' %
           SAME_EMAIL[0]).encode() in body, "/metrics agrees", body)
    check(('refguard_rule_eval_seconds_count{rule="%s"} 1' %
           SAME_EMAIL[0]).encode() in body, "/metrics: the evaluation timed",
          body)

    # The same bytes over HTTP; the op takes no fields.
    v, hraw = h.json("GET", "/v1/rules")
    eq(hraw, raw, "GET /v1/rules vs the NDJSON reply")
    status, heads, body = h("POST", "/v1/rules", {})
    eq((status, heads.get("allow")), (405, "GET, HEAD"), "POST /v1/rules")
    r, raw = d.call({"op": "rules", "rule": SAME_EMAIL[0]})
    rgtest.is_error(r, "bad_request", "rule", raw)

    # refguardctl rules list: the same reply, and readable.
    rc, out, err = d.ctl("--json", "rules", "list")
    eq(rc, 0, "refguardctl --json rules list exit status (%s)" % err)
    eq(json.loads(out), json.loads(hraw), "refguardctl --json rules list")
    rc, out, err = d.ctl("rules", "list")
    eq(rc, 0, "refguardctl rules list exit status (%s)" % err)
    check(SAME_EMAIL[0] in out and "enforce" in out, "the human list", out)
    check("COST" in out.splitlines()[1], "a table with the rules' cost", out)
    phone_row = [l for l in out.splitlines()
                 if l.split()[:1] == ["self_referral.same_phone"]]
    check(len(phone_row) == 1 and "household<=150" in phone_row[0].split(),
          "the human list names a rule's group and its cap", out)
    check(out.splitlines()[-1].startswith("all rules: "), "what the set "
          "costs an evaluation", out)
    d.stop()


@T.case("404 for no route, 405 with Allow for a wrong method")
def _():
    d, h = shared()
    for path in ("/", "/v1", "/v1/checks", "/v1/verdicts", "/v2/check",
                 "/v1/verdicts/a/b/c", "/metrics/x"):
        v, raw = h.json("GET", path, want=404)
        is_error(v, "not_found", raw=raw)
    for method, path, allow in (
            ("GET", "/v1/check", "POST"),
            ("DELETE", "/v1/verdicts/x", "GET, HEAD"),
            ("PATCH", "/v1/lists/l/v", "GET, HEAD, PUT, DELETE"),
            ("POST", "/metrics", "GET, HEAD"),
            ("PUT", "/v1/reload", "POST")):
        status, heads, body = h(method, path)
        eq(status, 405, "%s %s status" % (method, path))
        eq(heads.get("allow"), allow, "%s %s Allow" % (method, path))
        is_error(json.loads(body), "method_not_allowed")


@T.case("feedback, recheck and lists: the daemon's answer for the op, "
        "passed through")
def _():
    d, h = shared()
    d.call(deny_req("h-fb"))
    cases = [
        ("POST", "/v1/feedback", {"id": "h-fb", "label": "fraud"},
         {"op": "feedback", "id": "h-fb", "label": "fraud"}),
        ("POST", "/v1/verdicts/h-fb/recheck", None,
         {"op": "recheck", "id": "h-fb"}),
        ("PUT", "/v1/lists/blocked/a%40b.example", {"reason": "test"},
         {"op": "list.add", "list": "blocked", "value": "a@b.example",
          "reason": "test"}),
        ("GET", "/v1/lists/blocked/a%40b.example", None,
         {"op": "list.get", "list": "blocked", "value": "a@b.example"}),
        ("DELETE", "/v1/lists/blocked/a%40b.example", None,
         {"op": "list.del", "list": "blocked", "value": "a@b.example"}),
    ]
    codes = {None: 200, "not_found": 404, "store_full": 503}
    for method, path, body, nd in cases:
        status, heads, data = h(method, path, body)
        r, raw = d.call(nd)
        code = r.get("error", {}).get("code") if isinstance(r, dict) else None
        want = codes.get(code, 500 if code in ("store_error", "internal")
                         else 400)
        eq(status, want, "%s %s status (NDJSON said %s)" % (
            method, path, rgtest.short(raw)))
        if code == "unknown_op":
            # not in this daemon yet: its own error, as on the socket
            eq(data.rstrip(b"\n"), raw, "%s %s body" % (method, path))
            print("     %s: unknown_op in this daemon, passed through as 400"
                  % nd["op"])


@T.case("POST /v1/verdicts/{id}/recheck with a ts: as of then; 400 "
        "before the referral")
def _():
    d, h = shared()
    t0 = rgtest.now_ms() - 5 * 86400000
    d.call(check_req("h-ts", {"account": "h-ts-a"}, {"account": "h-ts-b"},
                     ts=t0))
    v, raw = h.json("POST", "/v1/verdicts/h-ts/recheck", {"ts": t0 + 1000})
    eq(v["rechecked_at"], rgtest.rfc3339(t0 + 1000), "as of the body's ts")
    v, raw = h.json("POST", "/v1/verdicts/h-ts/recheck", {"ts": t0 - 1000},
                    want=400)
    is_error(v, "bad_request", "ts", raw)


@T.case("413 past http_max_body; a body within it is served")
def _():
    need_curl()
    d, h = http_daemon("body", conf={"http_max_body": "1k"})
    d.start()
    small = rest(deny_req("h-small"))
    v, raw = h.json("POST", "/v1/check", small)
    eq(v["action"], "deny", "a small body")
    big = dict(small, id="h-big", meta={"pad": "x" * 2000})
    status, heads, data = h("POST", "/v1/check", big)
    eq(status, 413, "a 2 KB body over http_max_body = 1k")
    status, heads, data = h("POST", "/v1/check", big, headers=["Expect:"])
    eq(status, 413, "the same without Expect: 100-continue")
    r, raw = d.call({"op": "verdict", "id": "h-big"})
    is_error(r, "not_found", raw=raw)
    v, raw = h.json("GET", "/v1/stats")     # and it goes on serving
    d.stop()


@T.case("503 while the store is full, from the routes and /healthz",
        timeout=120)
def _():
    need_curl()
    d, h = http_daemon("full", conf={"map_size": "1m", "map_max": "1m"})
    d.start()
    # Until a whole burst is refused. A lone check may still fit where
    # the burst did not (pages an older snapshot held are free once its
    # reader is done): send lone checks until one is refused too.
    i = 0
    with d.client(timeout=60) as c:
        while True:
            reqs = [allow_req("h-fill-%06d" % j) for j in range(i, i + 200)]
            i += 200
            replies = [json.loads(x) for x in c.pipeline(reqs)]
            if all("error" in r for r in replies):
                break
            check(i < 40000, "the store never filled")
    for k in range(2000):
        status, heads, data = h("POST", "/v1/check",
                                rest(allow_req("h-full-%d" % k)))
        if status != 200:
            break
    check(status == 503, "a lone check into a full store: status %d, "
          "expected 503" % status, data)
    v = json.loads(data)
    is_error(v, "store_full", raw=data.rstrip(b"\n"))
    status, heads, body = h("GET", "/healthz")
    eq((status, body), (503, b"store full\n"), "healthz of a full store")
    # reads still work, and do not make the store look writable again
    v, raw = h.json("GET", "/v1/verdicts/h-fill-000000")
    eq(v["id"], "h-fill-000000", "a lookup in a full store")
    status, heads, body = h("GET", "/healthz")
    eq((status, body), (503, b"store full\n"), "healthz after a read")
    d.stop()


@T.case("http_max_connections: one connection too many gets 503")
def _():
    d, h = http_daemon("conns", conf={"http_max_connections": 2})
    d.start()
    path = d.conf["http_listen"]

    def get(s, p="/healthz"):
        s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" %
                   p).encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            check(chunk, "connection closed before a response", data)
            data += chunk
        head, rest_ = data.split(b"\r\n\r\n", 1)
        n = int(re.search(rb"Content-Length: (\d+)", head).group(1))
        while len(rest_) < n:
            rest_ += s.recv(4096)
        return int(head.split()[1]), rest_

    socks = []
    for k in range(2):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(rgtest.IO_TIMEOUT)
        s.connect(path)
        eq(get(s)[0], 200, "connection %d of 2" % (k + 1))
        socks.append(s)
    s3 = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s3.settimeout(rgtest.IO_TIMEOUT)
    s3.connect(path)
    status, body = get(s3)
    eq(status, 503, "a third connection")
    is_error(json.loads(body), "too_many_connections")
    # the two kept connections still work; once one closes, a new one does
    eq(get(socks[0], "/v1/stats")[0], 200, "a kept connection")
    socks[1].close()
    d.wait_stats(lambda st: st["http"]["connections"] == 1,
                 "the closed connection uncounted")
    s4 = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s4.settimeout(rgtest.IO_TIMEOUT)
    s4.connect(path)
    eq(get(s4)[0], 200, "a new connection after one closed")
    for s in (socks[0], s3, s4):
        s.close()
    d.stop()


def curl_check_bg(d, body_file, out_file):
    """POST /v1/check with curl in the background; stdout: the status."""
    return subprocess.Popen(
        [CURL, "-sS", "-o", out_file, "-w", "%{http_code}", "--max-time",
         "30", "--unix-socket", d.conf["http_listen"], "--json",
         "@" + body_file, "http://localhost/v1/check"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def unix_conn(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(rgtest.IO_TIMEOUT)
    s.connect(path)
    return s


def read_to_eof(s):
    """Everything the daemon sends on s until it closes: the responses
    (see responses()). A reset instead of a close fails."""
    data = b""
    while True:
        try:
            b = s.recv(65536)
        except ConnectionResetError:
            raise rgtest.Fail("connection reset after %r" % data)
        except socket.timeout:
            raise rgtest.Fail("no answer and no close within %.0fs after "
                              "%r" % (s.gettimeout(), data))
        if not b:
            break
        data += b
    s.close()
    return responses(data)


def stopping_only(got, what):
    """got (responses()) is one 503 "stopping" and nothing else."""
    eq([g[0] for g in got], [503], what + ": statuses")
    is_error(json.loads(got[0][2]), "stopping")


@T.case("SIGTERM while HTTP checks are in flight: each is answered; an "
        "idle, a half-sent and a served keep-alive connection get 503 "
        "stopping at once; none is cut off; the socket file is removed")
def _():
    need_curl()
    d, h = http_daemon("drain")
    d.start()
    path = d.conf["http_listen"]
    tmp = rgtest.mkdtemp("drain")
    kept = unix_conn(path)
    kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    data = b""
    while not data.endswith(b"ok\n"):
        b = kept.recv(4096)
        check(b, "keep-alive connection closed", data)
        data += b
    idle = unix_conn(path)
    half = unix_conn(path)
    half.sendall(b"POST /v1/check HTTP/1.1\r\nHost: localhost\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 200"
                 b"\r\n\r\n{\"id\":")
    d.wait_stats(lambda st: st["http"]["connections"] == 3,
                 "the three HTTP connections accepted")
    n = 8
    procs = []
    # The writer is held: the checks stay in flight until release().
    with rgtest.StoreLock(d) as lock:
        for k in range(n):
            bf = os.path.join(tmp, "in%d" % k)
            with open(bf, "w") as f:
                f.write(rgtest.jdump(rest(allow_req("h-drain-%d" % k))))
            procs.append(curl_check_bg(d, bf, os.path.join(tmp, "out%d" % k)))
        d.wait_stats(lambda st: st["requests"]["check"] == n,
                     "the %d checks handed to the writer" % n)
        d.signal(signal.SIGTERM)
        d.wait_log(r"draining signal=SIGTERM")
        stopping_only(read_to_eof(idle), "an idle connection")
        stopping_only(read_to_eof(half), "a half-sent request")
        stopping_only(read_to_eof(kept), "a served keep-alive connection")
        for k, p in enumerate(procs):
            check(p.poll() is None, "curl %d ended while its check was "
                  "still in the writer" % k, p.poll())
        check(d.alive(), "the drain ended with checks in flight")
        lock.release()
    for k, p in enumerate(procs):
        out, err = p.communicate(timeout=rgtest.IO_TIMEOUT)
        check(p.returncode == 0 and out == b"200", "curl %d: exit %d, "
              "status %s" % (k, p.returncode, out.decode()), err)
        with open(os.path.join(tmp, "out%d" % k), "rb") as f:
            v = json.loads(f.read())
        eq(v.get("action"), "allow", "a check answered while draining")
    d.wait(0)
    check(not os.path.exists(path), "the HTTP socket file is left behind")


@T.case("SIGTERM with HTTP connections still in the listen queue: each "
        "gets 200 or 503 stopping, none is reset")
def _():
    d, h = http_daemon("drainq")
    d.start()
    path = d.conf["http_listen"]
    body = rgtest.jdump(rest(allow_req("h-drainq"))).encode()
    req = (b"POST /v1/check HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
           b"application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
           + body)
    # Stopped, the daemon accepts nothing: a Unix connect() returns once
    # the connection is in the listen queue, where TERM finds it.
    os.kill(d.proc.pid, signal.SIGSTOP)
    socks = []
    try:
        for k in range(10):
            s = unix_conn(path)
            s.sendall(req)
            socks.append(s)
        d.signal(signal.SIGTERM)
    finally:
        os.kill(d.proc.pid, signal.SIGCONT)
    statuses = []
    for k, s in enumerate(socks):
        got = read_to_eof(s)
        check(got, "connection %d closed without an answer" % k)
        status, heads, b = got[0]
        check(status in (200, 503), "connection %d: status %d" % (
            k, status), b)
        if status == 503:
            is_error(json.loads(b), "stopping")
        else:
            eq(json.loads(b).get("action"), "allow", "connection %d" % k)
        # after an answer, at most one "stopping" before the close
        for st, _, b2 in got[1:]:
            eq(st, 503, "connection %d: a second answer" % k)
        check(len(got) <= 2, "connection %d: %d answers" % (k, len(got)))
        statuses.append(str(status))
    d.wait(0)
    print("     %s" % " ".join(statuses))


# ---- TCP, tokens, refusals ---------------------------------------------

@T.case("SIGTERM with a TCP listener: once its queue is empty it closes, "
        "so the drain refuses new connections instead of serving them")
def _():
    port = rgtest.free_ports(1)[0]
    d = rgtest.Daemon("tcpdrain")
    d.conf["http_listen"] = "127.0.0.1:%d" % port
    d.write_conf()
    d.start()
    # A check held in the writer keeps the drain going.
    lock = rgtest.StoreLock(d)
    c = d.client()
    c.send(allow_req("tcpdrain-1"))
    d.wait_stats(lambda st: st["requests"]["check"] == 1,
                 "the check handed to the writer")
    d.signal(signal.SIGTERM)
    d.wait_log(r"draining signal=SIGTERM")
    # The listener closes at the drain's first tick with its queue empty:
    # until then a connection is queued and refused with 503 stopping,
    # after it refused by the kernel; never served.
    refused = False
    for attempt in range(2000):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(rgtest.IO_TIMEOUT)
        try:
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            got = read_to_eof(s)
            check(got and got[0][0] == 503, "a new TCP connection during "
                  "the drain was served", got)
            is_error(json.loads(got[0][2]), "stopping")
        except ConnectionRefusedError:
            refused = True
            break
        finally:
            s.close()
    check(refused, "the TCP listener still accepted during the drain")
    check(d.alive(), "the drain ended with a check in flight")
    lock.release()
    v, raw = c.read()
    eq(v.get("action"), "allow", "the check held through the drain")
    c.close()
    d.wait(0)


def token_file(d, mode=0o600, text=TOKEN + "\n"):
    p = os.path.join(d.dir, "http.token")
    with open(p, "w") as f:
        f.write(text)
    os.chmod(p, mode)
    return p


@T.case("TCP loopback with a bearer token: required, accepted, rejected")
def _():
    need_curl()
    port = rgtest.free_ports(1)[0]
    d = rgtest.Daemon("tcp")
    d.conf["http_listen"] = "127.0.0.1:%d" % port
    d.conf["http_token_file"] = token_file(d)
    d.write_conf()
    d.start()
    h = Http(d, "127.0.0.1:%d" % port)
    for tok, what in ((None, "no token"), ("wrong-" + TOKEN, "wrong token"),
                      (TOKEN[:-1], "a prefix of the token"),
                      (TOKEN + "x", "the token and more")):
        status, heads, body = h("GET", "/v1/stats", token=tok or "")
        eq(status, 401, "%s: status" % what)
        check(heads.get("www-authenticate", "").startswith("Bearer"),
              "%s: WWW-Authenticate" % what, heads)
        is_error(json.loads(body), "unauthorized")
    status, heads, body = h("GET", "/metrics", headers=[
        "Authorization: Basic " + TOKEN])
    eq(status, 401, "a Basic header")
    v, raw = h.json("POST", "/v1/check", rest(deny_req("h-tcp")),
                    token=TOKEN)
    eq(v["action"], "deny", "the right token")
    status, heads, body = h("GET", "/healthz", token=TOKEN)
    eq((status, body), (200, b"ok\n"), "healthz with the token")
    # the NDJSON socket is not behind the token
    r, raw = d.call({"op": "ping"})
    eq(r, {"ok": True}, "ping on the socket")
    d.stop()


@T.case("[::1] is loopback too")
def _():
    need_curl()
    if not socket.has_ipv6:
        raise rgtest.Skip("no IPv6")
    port = rgtest.free_ports(1)[0]
    d = rgtest.Daemon("tcp6", conf={"http_listen": "[::1]:%d" % port})
    try:
        d.start()
    except rgtest.Fail as e:
        if "assign requested address" in str(e) or "family" in str(e):
            raise rgtest.Skip("no ::1 here")
        raise
    status, heads, body = Http(d, "[::1]:%d" % port)("GET", "/healthz")
    eq(status, 200, "healthz on [::1]")
    d.stop()


@T.case("a failed start-up removes the sockets it made; http_listen "
        "takes a bare relative path")
def _():
    # The NDJSON socket is made before the HTTP listener fails.
    d = rgtest.Daemon("sockgone", conf={"http_listen": "http.sock"})
    with open(os.path.join(d.dir, "http.sock"), "w") as f:
        f.write("not a socket\n")
    rc, err = d.run_to_exit()
    check(rc != 0 and "is not a socket" in err, "http.sock a regular file",
          rc, err)
    check(not os.path.exists(d.sock), "a failed start left " + d.sock, err)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        d = rgtest.Daemon("sockgone2", conf={
            "http_listen": "127.0.0.1:%d" % busy.getsockname()[1]})
        rc, err = d.run_to_exit()
        check(rc != 0 and "in use" in err, "http port in use", rc, err)
        check(not os.path.exists(d.sock), "a failed start left " + d.sock,
              err)
    finally:
        busy.close()
    # A bare name is a path beside the configuration, as for socket.
    d = rgtest.Daemon("relhttp", conf={"http_listen": "http.sock"})
    d.start()
    check(os.path.exists(os.path.join(d.dir, "http.sock")),
          "http_listen = http.sock not beside the configuration",
          os.listdir(d.dir))
    d.stop()


@T.case("start-up refused: non-loopback without http_allow_remote, "
        "allow_remote without a token file, a readable token file")
def _():
    port = rgtest.free_ports(1)[0]
    for listen, extra, want in (
            ("0.0.0.0:%d" % port, {}, "not a loopback address"),
            ("192.0.2.1:%d" % port, {}, "not a loopback address"),
            ("[::]:%d" % port, {}, "not a loopback address"),
            ("0.0.0.0:%d" % port, {"http_allow_remote": "yes"},
             "needs http_token_file"),
            ("localhost:%d" % port, {}, "numeric address"),
            ("127.0.0.1", {}, "numeric address"),
            ("127.0.0.1:0", {}, "numeric address")):
        d = rgtest.Daemon("refuse", conf=dict(extra, http_listen=listen))
        rc, err = d.run_to_exit()
        check(rc != 0 and want in err, "http_listen = %s %s: exit %d, "
              "expected a message with %r" % (listen, extra, rc, want), err)
        rc, out, err2 = rgtest.run(d.argv("-t"))
        check(rc != 0 and want in err2 + out, "-t with http_listen = %s" %
              listen, out, err2)
    d = rgtest.Daemon("refuse-tok")
    d.conf.update(http_listen="127.0.0.1:%d" % port,
                  http_token_file=token_file(d, 0o644))
    d.write_conf()
    rc, err = d.run_to_exit()
    check(rc != 0 and "group or others" in err and "chmod 600" in err,
          "a 0644 token file", rc, err)
    check(TOKEN not in err, "the token is not in the log", err)
    rc, out, err = rgtest.run(d.argv("-t"))
    check(rc != 0 and "group or others" in err, "-t with a 0644 token file",
          out, err)
    d = rgtest.Daemon("short-tok")
    d.conf.update(http_listen="127.0.0.1:%d" % port,
                  http_token_file=token_file(d, 0o600, "short\n"))
    d.write_conf()
    rc, err = d.run_to_exit()
    check(rc != 0 and "printable characters" in err, "a short token", rc, err)


@T.case("http_allow_remote with a token serves 0.0.0.0, token required")
def _():
    need_curl()
    port = rgtest.free_ports(1)[0]
    d = rgtest.Daemon("remote")
    d.conf.update(http_listen="0.0.0.0:%d" % port, http_allow_remote="yes",
                  http_token_file=token_file(d))
    d.write_conf()
    d.start()
    h = Http(d, "127.0.0.1:%d" % port)
    eq(h("GET", "/healthz")[0], 401, "no token")
    eq(h("GET", "/healthz", token=TOKEN)[0], 200, "the token")
    d.stop()


# ---- /metrics ------------------------------------------------------------

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\\\|\\"|\\n)*"'
SAMPLE = re.compile(r"^(%s)(\{(?:%s)(?:,(?:%s))*\})? (\S+)$" % (
    NAME, LABEL, LABEL))
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def unescape(v):
    return re.sub(r'\\(.)', lambda m: {"n": "\n"}.get(m.group(1),
                                                       m.group(1)), v)


def parse_metrics(text):
    """Check the text exposition format (0.0.4) and return
    {(name, frozenset(labels.items())): value} and {family: type}."""
    check(text.endswith("\n"), "the exposition ends with a newline")
    types, helps, samples, seen_family = {}, {}, {}, []
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = "line %d: %r" % (n, line)
        check(line != "", "an empty line in the exposition, " + where)
        if line.startswith("#"):
            m = re.match(r"^# (HELP|TYPE) (%s) (.+)$" % NAME, line)
            check(m, "a malformed comment, " + where)
            kind, fam, rest_ = m.groups()
            if kind == "TYPE":
                check(rest_ in ("counter", "gauge", "histogram", "summary",
                                "untyped"), "unknown type, " + where)
                check(fam not in types, "TYPE twice, " + where)
                # process_*: the client libraries' standard names
                check(fam.startswith(("refguard_", "process_")),
                      "no refguard_ or process_ prefix, "
                      + where)
                types[fam] = rest_
                seen_family.append(fam)
            else:
                check(fam not in helps, "HELP twice, " + where)
                helps[fam] = rest_
            continue
        m = SAMPLE.match(line)
        check(m, "a malformed sample, " + where)
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        fam = name
        for suf in ("_bucket", "_sum", "_count"):
            if name.endswith(suf) and types.get(name[:-len(suf)]) in \
                    (("histogram",) if suf == "_bucket" else
                     ("histogram", "summary")):
                fam = name[:-len(suf)]
        check(fam in types, "a sample before its TYPE, " + where)
        check(seen_family[-1] == fam, "a family's samples are not "
              "together, " + where)
        if types[fam] == "counter":
            check(fam.endswith("_total"), "a counter without _total, "
                  + where)
        try:
            v = float(value)
        except ValueError:
            raise rgtest.Fail("a value that is not a number, " + where)
        lab = dict((k, unescape(x)) for k, x in LABEL_RE.findall(labels))
        key = (name, frozenset(lab.items()))
        check(key not in samples, "a sample twice, " + where)
        samples[key] = v
    for fam in types:
        check(fam in helps, "no HELP for " + fam)
    # histograms: buckets cumulative, +Inf equal to _count
    for fam, t in types.items():
        if t != "histogram":
            continue
        series = {}
        for (name, lab), v in samples.items():
            if name != fam + "_bucket":
                continue
            d = dict(lab)
            le = d.pop("le")
            series.setdefault(frozenset(d.items()), []).append(
                (float("inf") if le == "+Inf" else float(le), v))
        check(series, "histogram %s has no buckets" % fam)
        for lab, bs in series.items():
            bs.sort()
            check(bs[-1][0] == float("inf"), "%s: no +Inf bucket" % fam)
            vals = [v for _, v in bs]
            check(vals == sorted(vals), "%s%s: buckets not cumulative" % (
                fam, dict(lab)), vals)
            eq(samples.get((fam + "_count", lab)), bs[-1][1],
               "%s%s: _count vs +Inf" % (fam, dict(lab)))
            check((fam + "_sum", lab) in samples, "%s: no _sum" % fam)
    return samples, types


def metric(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


@T.case("/metrics: the exposition format (promtool and a parser here); "
        "the counters move")
def _():
    need_curl()
    d, h = http_daemon("metrics", conf={"audit_log": "none"})
    d.start()
    status, heads, body = h("GET", "/metrics")
    eq(status, 200, "GET /metrics")
    check(heads.get("content-type", "").startswith("text/plain; version="
                                                    "0.0.4"),
          "content type", heads)
    text = body.decode()
    s0, types = parse_metrics(text)
    for fam, t in (("refguard_checks_total", "counter"),
                   ("refguard_rule_hits_total", "counter"),
                   ("refguard_request_errors_total", "counter"),
                   ("refguard_request_duration_seconds", "histogram"),
                   ("refguard_commit_batch_jobs", "histogram"),
                   ("refguard_commit_duration_seconds", "histogram"),
                   ("refguard_store_size_bytes", "gauge"),
                   ("refguard_store_map_size_bytes", "gauge"),
                   ("refguard_store_map_max_bytes", "gauge"),
                   ("refguard_store_events", "gauge"),
                   ("refguard_ruleset_info", "gauge"),
                   ("refguard_reload_failures_total", "counter"),
                   ("refguard_geoip_build_timestamp_seconds", "gauge"),
                   ("refguard_connections_open", "gauge"),
                   ("refguard_uptime_seconds", "gauge")):
        eq(types.get(fam), t, "type of " + fam)
    h.json("POST", "/v1/check", rest(deny_req("m-deny")))
    d.call(allow_req("m-allow"))
    d.call({"op": "nope"})
    d.call(deny_req("m-deny"))      # a replay: no new verdict, no hits
    status, heads, body = h("GET", "/metrics")
    s1, _t = parse_metrics(body.decode())
    for name, labels, delta in (
            ("refguard_checks_total", {"action": "deny"}, 1),
            ("refguard_checks_total", {"action": "allow"}, 1),
            ("refguard_check_replays_total", {}, 1),
            ("refguard_rule_hits_total", {"rule": SAME_EMAIL[0],
                                          "mode": "enforce"}, 1),
            ("refguard_rule_hits_total", {"rule": SAME_EMAIL[0],
                                          "mode": "shadow"}, 0),
            ("refguard_request_errors_total", {"code": "unknown_op"}, 1),
            ("refguard_requests_total", {"op": "check"}, 3),
            ("refguard_request_duration_seconds_count", {"op": "check"}, 3),
            ("refguard_http_responses_total", {"status": "200"}, 2)):
        eq(metric(s1, name, **labels) - metric(s0, name, **labels), delta,
           "%s%s moved by" % (name, labels))
    st = d.stats()
    eq(metric(s1, "refguard_store_events"), st["store"]["events"],
       "store events vs stats")
    for m, k in (("feedback", "feedback"), ("labels", "labels"),
                 ("list_entries", "list_entries"), ("list_log", "list_log"),
                 ("recent_flush_waits", "recent_flush_waits"),
                 ("pairs_indexed", "pairs_indexed")):
        eq(metric(s1, "refguard_store_" + m), st["store"][k],
           "store %s vs stats" % k)
    check(("refguard_store_recent_bytes", frozenset()) in s1 and
          "recent_bytes" in st["store"], "the recent tier's memory, in "
          "both")
    eq(metric(s1, "refguard_eval_threads"), st["writer"]["eval_threads"],
       "eval threads vs stats")
    eq(metric(s1, "refguard_parallel_jobs_total"), st["writer"]["parallel_jobs"],
       "parallel jobs vs stats")
    eq(metric(s1, "refguard_ruleset_info", hash=st["ruleset"]["hash"]), 1,
       "ruleset_info with the hash of the rules in service")
    check(metric(s1, "refguard_commit_batch_jobs_count") >= 2,
          "commits counted")
    # a failed reload is counted
    d.conf["rules"] = os.path.join(d.dir, "no-such-rules")
    d.write_conf()
    r, raw = h.json("POST", "/v1/reload", want=500)
    is_error(r, "reload_failed", raw=raw)
    status, heads, body = h("GET", "/metrics")
    s2, _t = parse_metrics(body.decode())
    eq(metric(s2, "refguard_reload_failures_total"), 1, "reload failures")
    if PROMTOOL is None:
        print("     promtool not installed (Debian package prometheus): "
              "the format was checked by this test's parser only")
    else:
        p = subprocess.run([PROMTOOL, "check", "metrics"], input=body,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60)
        check(p.returncode == 0, "promtool check metrics failed",
              p.stdout)
        print("     promtool check metrics: ok")
    d.stop()


@T.case("the parser of this test rejects broken expositions")
def _():
    good = ('# HELP refguard_x_total X.\n# TYPE refguard_x_total counter\n'
            'refguard_x_total{a="q\\"\\\\\\n"} 1\n')
    samples, types = parse_metrics(good)
    eq(metric(samples, "refguard_x_total", a='q"\\\n'), 1,
       "an escaped label value, unescaped")
    for bad, what in (
            (good.replace("_total counter", "_total counter\n"), "empty"),
            (good.replace('a="q', 'a=q'), "unquoted label"),
            (good.replace("} 1", "} one"), "a non-number"),
            (good.replace("# TYPE refguard_x_total counter\n", ""),
             "no TYPE"),
            (good.replace('\\"', '"'), "an unescaped quote"),
            (good.replace("refguard_x_total counter",
                          "refguard_x counter").replace(
                "# HELP refguard_x_total", "# HELP refguard_x").replace(
                "refguard_x_total{", "refguard_x{"), "a counter without "
             "_total")):
        try:
            parse_metrics(bad)
        except rgtest.Fail:
            continue
        raise rgtest.Fail("the parser accepted %s: %r" % (what, bad))


@T.case("every curl example of docs/http.md works")
def _():
    need_curl()
    with open(os.path.join(rgtest.SRCDIR, "docs", "http.md")) as f:
        doc = f.read()
    cmds = []
    for block in re.findall(r"```sh\n(.*?)```", doc, re.S):
        for cmd in block.replace("\\\n", " ").split("\n"):
            if cmd.strip().startswith("curl "):
                cmds.append(cmd.strip())
    check(len(cmds) >= 10, "curl examples found in docs/http.md", cmds)
    d, h = http_daemon("docs")
    d.start()
    for cmd in cmds:
        check("/run/refguard/http.sock" in cmd, "an example without the "
              "socket path", cmd)
        real = cmd.replace("/run/refguard/http.sock", d.conf["http_listen"])
        rc, out, err = rgtest.run(["sh", "-c", real])
        check(rc == 0, "exit %d: %s" % (rc, cmd), out, err)
        if "/v1/check" in cmd and "ref-5" in cmd:
            eq(json.loads(out)["action"], "deny", "the example check")
        if "/v1/verdicts/nope" in cmd:
            check(out.startswith("HTTP/1.1 404"), "the 404 example", out)
    d.stop()


# ---- hostile clients: RFC 9112, slowloris, browsers ----------------------

def raw_exchange(where, data, timeout=rgtest.IO_TIMEOUT):
    """Send data on a new connection (a Unix socket path, or host:port)
    and read until the daemon closes it or timeout: (bytes, closed)."""
    if where.startswith("/"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(where)
    else:
        host, port = where.rsplit(":", 1)
        s = socket.create_connection((host.strip("[]"), int(port)))
    s.settimeout(timeout)
    got, closed = b"", False
    try:
        try:
            s.sendall(data)
        except BrokenPipeError:
            pass            # answered and shut already: read the answer
        while True:
            b = s.recv(65536)
            if not b:
                closed = True
                break
            got += b
    except socket.timeout:
        pass
    except (ConnectionResetError, BrokenPipeError):
        closed = True
    s.close()
    return got, closed


def responses(data):
    """Split an HTTP/1.1 byte stream into (status, headers, body) by
    Content-Length; what is left over (a body without a length) goes with
    the last."""
    out = []
    while data:
        check(data.startswith(b"HTTP/1."), "not a response", data)
        head, _, data = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        heads = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            heads[k.strip().lower()] = v.strip()
        n = int(heads.get("content-length", len(data)))
        body, data = data[:n], data[n:]
        out.append((int(lines[0].split()[1]), heads, body))
    return out


@T.case("HEAD: the GET's headers and Content-Length, no body; the next "
        "reply on the connection is read right")
def _():
    d, h = shared()
    for path in ("/healthz", "/v1/stats", "/v1/verdicts/nope-head"):
        got, closed = raw_exchange(h.where, (
            "HEAD %s HTTP/1.1\r\nHost: localhost\r\n\r\n"
            "GET /healthz HTTP/1.1\r\nHost: localhost\r\n"
            "Connection: close\r\n\r\n" % path).encode())
        head, _, rest_ = got.partition(b"\r\n\r\n")
        check(b"Content-Length: " in head, "HEAD %s: no Content-Length" %
              path, head)
        check(rest_.startswith(b"HTTP/1.1 200 ") and rest_.endswith(
            b"\r\n\r\nok\n"), "HEAD %s: a body, or the GET after it "
              "misread" % path, got)


# (name, request bytes, status, connection closed after it)
def rfc9112_table():
    ok = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n"
    post = (b"POST /v1/observe HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/json\r\n")
    obs = b'{"kind":"login","account":"rfc-1"}'
    n = b"%d" % len(obs)
    return [
        ("two different Content-Length, the first shorter",
         post + b"Content-Length: 2\r\nContent-Length: " + n +
         b"\r\n\r\n" + obs, 400),
        ("two different Content-Length, the first longer",
         post + b"Content-Length: " + n + b"\r\nContent-Length: 2\r\n\r\n"
         + b"{}", 400),
        ("Content-Length not a number",
         post + b"Content-Length: +34\r\n\r\n" + obs, 400),
        ("Content-Length and Transfer-Encoding",
         post + b"Content-Length: " + n + b"\r\nTransfer-Encoding: "
         b"chunked\r\n\r\n0\r\n\r\n", 400),
        ("Transfer-Encoding other than chunked",
         post + b"Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
        ("bare LF line ends",
         b"GET /healthz HTTP/1.1\nHost: localhost\n\n", 400),
        ("bare LF after a CRLF request line",
         b"GET /healthz HTTP/1.1\r\nHost: localhost\n\r\n", 400),
        ("NUL in a header value", ok + b"X-A: a\x00b\r\n\r\n", 400),
        ("CR inside a header line", ok + b"X-A: a\rb\r\n\r\n", 400),
        ("a control byte in a header value", ok + b"X-A: a\x01\r\n\r\n",
         400),
        ("HTTP/1.1 without Host",
         b"GET /healthz HTTP/1.1\r\nAccept: */*\r\n\r\n", 400),
        ("two Host headers", ok + b"Host: localhost\r\n\r\n", 400),
        ("obsolete line folding", ok + b"X-A: a\r\n b\r\n\r\n", 400),
        ("whitespace before the colon",
         b"GET /healthz HTTP/1.1\r\nHost : localhost\r\n\r\n", 400),
        ("a GET with a body (evhttp would read it as the next request)",
         ok + b"Content-Length: 38\r\n\r\nGET /v1/stats HTTP/1.1\r\n"
         b"Host: x\r\n\r\n", 400),
        ("a space in the target",
         b"GET /healthz x HTTP/1.1\r\nHost: localhost\r\n\r\n", 400),
        ("HTTP/1.2", b"GET /healthz HTTP/1.2\r\nHost: localhost\r\n\r\n",
         400),
    ]


@T.case("RFC 9112: malformed heads and smuggling vectors get 400 (501) "
        "and a close; valid pipelines and chunked bodies are served")
def _():
    d, h = shared()
    before = d.stats().get("http", {}).get("bad_requests", 0)
    fails = []
    tab = rfc9112_table()
    for name, data, want in tab:
        # after a good request on the same connection: it must be answered
        # and the bad one refused, in order
        got, closed = raw_exchange(h.where, b"GET /healthz HTTP/1.1\r\n"
                                   b"Host: localhost\r\n\r\n" + data)
        try:
            rs = responses(got)
            check(len(rs) == 2, "two replies", got)
            eq(rs[0][0], 200, "the good request before")
            eq(rs[1][0], want, "status")
            # ours, or evhttp's own page where it refuses the line itself
            if rs[1][1].get("content-type") == "application/json":
                is_error(json.loads(rs[1][2]), "bad_request")
            check(closed, "connection left open")
        except rgtest.Fail as ex:
            fails.append("%s: %s" % (name, ex))
    check(not fails, "%d of %d mishandled:\n    %s" % (
        len(fails), len(tab), "\n    ".join(fails)))
    eq(d.stats()["http"]["bad_requests"] - before, len(tab),
       "stats http.bad_requests")
    # valid: pipelined, equal Content-Length twice, a chunked body (the
    # connection closes after it: its end is evhttp's to find)
    obs = b'{"kind":"login","account":"rfc-2"}'
    post = (b"POST /v1/observe HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/json\r\n")
    got, closed = raw_exchange(h.where, (
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n" +
        post + b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (
            len(obs), len(obs)) + obs +
        b"GET /v1/verdicts/nope-rfc HTTP/1.1\r\nHost: localhost\r\n\r\n" +
        b"GET /healthz HTTP/1.0\r\n\r\n"))
    eq([r[0] for r in responses(got)], [200, 200, 404, 200],
       "pipelined valid requests")
    got, closed = raw_exchange(h.where, post + b"Transfer-Encoding: "
                               b"chunked\r\n\r\n%x\r\n" % len(obs) + obs +
                               b"\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\n"
                               b"Host: localhost\r\n\r\n")
    rs = responses(got)
    eq([r[0] for r in rs], [200], "a chunked request, then the close")
    eq(json.loads(rs[0][2]).get("ok"), True, "the chunked observe")
    check(closed, "connection open after a chunked request")


@T.case("slowloris over HTTP: a head trickled a byte at a time is cut off "
        "at http_timeout from its first byte", timeout=90)
def _():
    d, h = http_daemon("hloris", conf={"http_timeout": "1s"})
    d.start()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(h.where)
    s.settimeout(0.1)
    head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + \
        b"a" * 300
    t0 = time.monotonic()
    got, closed, sent = b"", False, 0
    # a byte every 0.1 s, each well inside http_timeout, until closed
    while not closed and sent < len(head):
        try:
            s.send(head[sent:sent + 1])
            sent += 1
        except (BrokenPipeError, ConnectionResetError):
            break           # closed: read the answer below
        try:
            b = s.recv(4096)
            got += b
            closed = b == b""
        except socket.timeout:
            pass
        except ConnectionResetError:
            closed = True
    lasted = time.monotonic() - t0
    s.settimeout(rgtest.IO_TIMEOUT)
    try:
        while not closed:
            b = s.recv(4096)
            got += b
            closed = b == b""
    except ConnectionResetError:
        closed = True
    except socket.timeout:
        pass
    s.close()
    check(closed, "still open after trickling %d bytes over %.1f s with "
          "http_timeout = 1s" % (sent, lasted))
    check(got.startswith(b"HTTP/1.1 408 "), "the answer", got)
    st = d.stats()["http"]
    eq(st["request_timeouts"], 1, "stats http.request_timeouts")
    # a whole request right away is still served, on a new connection
    got, closed = raw_exchange(h.where, b"GET /healthz HTTP/1.1\r\n"
                               b"Host: localhost\r\nConnection: close\r\n"
                               b"\r\n")
    check(got.startswith(b"HTTP/1.1 200 "), "healthz after", got)
    print("     cut off after %d bytes, %.1f s" % (sent, lasted))
    d.stop()


@T.case("http_max_connections counts connections from accept: partial "
        "requests fill it, the next gets 503 at once")
def _():
    d, h = http_daemon("hpartial", conf={"http_max_connections": 3,
                                          "http_timeout": "60s"})
    d.start()
    held = []
    for i in range(3):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(h.where)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHo")
        held.append(s)
    d.wait_stats(lambda st: st["http"]["connections"] == 3,
                 "the three partial requests' connections accepted")
    got, closed = raw_exchange(h.where, b"GET /healthz HTTP/1.1\r\n"
                               b"Host: localhost\r\n\r\n")
    check(got.startswith(b"HTTP/1.1 503 ") and b"too_many_connections" in
          got and closed, "a fourth connection", got)
    st = d.stats()["http"]
    eq((st["connections"], st["connections_refused"]), (3, 1),
       "stats http.connections, connections_refused")
    # the partial requests, completed, are served
    held[0].sendall(b"st: localhost\r\nConnection: close\r\n\r\n")
    held[0].settimeout(rgtest.IO_TIMEOUT)
    data = b""
    while True:
        b = held[0].recv(4096)
        if not b:
            break
        data += b
    check(data.startswith(b"HTTP/1.1 200 "), "a completed partial request",
          data)
    for s in held:
        s.close()
    d.stop()


@T.case("browsers: POST needs application/json (415), a foreign Host or "
        "Origin gets 403 (DNS rebinding, cross-site requests)")
def _():
    need_curl()
    port = rgtest.free_ports(1)[0]
    d = rgtest.Daemon("browser")
    d.conf["http_listen"] = "127.0.0.1:%d" % port
    d.conf["http_host"] = "refguard.internal"
    d.write_conf()
    d.start()
    h = Http(d, "127.0.0.1:%d" % port)
    fb = {"id": "nope-b", "label": "fraud"}
    reloads = d.stats()["ruleset"]["reloads"]
    for ctype in ("text/plain", "application/x-www-form-urlencoded",
                  "multipart/form-data; boundary=x", None,
                  "application/jsonp"):
        for method, path, body in (("POST", "/v1/feedback", fb),
                                   ("POST", "/v1/reload", None),
                                   ("POST", "/v1/check", deny_req("b-1")),
                                   ("PUT", "/v1/lists/blocked_emails/"
                                    "b%40example.org", {})):
            status, heads, data = h(method, path, body, ctype=ctype)
            eq(status, 415, "%s %s with Content-Type %s" % (method, path,
                                                            ctype))
            is_error(json.loads(data), "unsupported_media_type")
    eq(d.stats()["ruleset"]["reloads"], reloads, "reloads run by refused "
       "requests")
    r, raw = d.call({"op": "verdict", "id": "b-1"})
    is_error(r, "not_found", raw=raw)
    v, raw = h.json("POST", "/v1/feedback", fb, want=404,
                    ctype="application/json; charset=utf-8")
    is_error(v, "not_found")
    # Host: the listener's own names and port, and http_host
    for host, want in (("rebind.evil.example:%d" % port, 403),
                       ("rebind.evil.example", 403),
                       ("127.0.0.1:%d" % (port + 1), 403),
                       ("127.0.0.1.evil.example:%d" % port, 403),
                       ("0.0.0.0:%d" % port, 403),
                       ("localhost:%d" % port, 200),
                       ("LOCALHOST:%d" % port, 200),
                       ("127.0.0.1:%d" % port, 200),
                       ("[::1]:%d" % port, 200),
                       ("127.0.0.1", 200),
                       ("refguard.internal:%d" % port, 200)):
        status, heads, data = h("GET", "/v1/stats", headers=["Host: " +
                                                             host])
        eq(status, want, "GET /v1/stats with Host: %s" % host)
        if want == 403:
            is_error(json.loads(data), "forbidden")
    for origin, want in (("http://rebind.evil.example", 403),
                         ("https://evil.example", 403), ("null", 403),
                         ("http://127.0.0.1:%d" % (port + 1), 403),
                         ("http://localhost:%d" % port, 200),
                         ("http://127.0.0.1:%d" % port, 200)):
        status, heads, data = h("POST", "/v1/feedback", fb,
                                headers=["Origin: " + origin])
        eq(status, want if want == 403 else 404, "POST with Origin: %s" %
           origin)
        check("access-control-allow-origin" not in heads, "CORS headers",
              heads)
    st = d.stats()["http"]
    check(st["forbidden"] >= 9, "stats http.forbidden", st)
    d.stop()


# ---- logging -------------------------------------------------------------

def audit_lines(d):
    return [l for l in d.stderr().splitlines() if re.search(r"\baudit ", l)]


@T.case("audit_log = flagged: one line for a deny, none for an allow")
def _():
    d = rgtest.Daemon("audit", conf={"audit_log": "flagged"})
    d.start()
    d.call(allow_req("a-allow"))
    r, raw = d.call(deny_req("a-deny"))
    d.stop()
    lines = audit_lines(d)
    eq(len(lines), 1, "audit lines (%r)" % lines)
    line = lines[0]
    kv = dict(re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', line))
    eq(kv.get("id"), "a-deny", "audit id")
    eq(kv.get("action"), "deny", "audit action")
    eq(kv.get("score"), str(r["score"]), "audit score")
    check(SAME_EMAIL[0] in kv.get("rules", "").split(","), "audit rules",
          line)
    eq(kv.get("ruleset"), r["ruleset"], "audit ruleset")
    eq(kv.get("replay"), "no", "audit replay")
    for raw_value in ("Jo.Doe", "jodoe@", "googlemail", "deny-a"):
        check(raw_value.lower() not in line.lower(),
              "personal data in the audit line", line)


@T.case("audit_log = all and hostile ids: escaped, one line each")
def _():
    d = rgtest.Daemon("audit-all", conf={"audit_log": "all"})
    d.start()
    hostile = 'x" action=allow\\ é=\u2028 y'
    for q in (deny_req(hostile), allow_req("plain-id"), deny_req(hostile)):
        r, raw = d.call(q)       # (the second deny: a replay, audited too)
        check("error" not in r, "check", raw)
    d.stop()
    lines = audit_lines(d)
    eq(len(lines), 3, "audit lines with audit_log = all (%r)" % lines)
    first = lines[0]
    check('id="x\\" action=allow\\\\ \\xc3\\xa9=\\xe2\\x80\\xa8 y"' in first,
          "the hostile id, escaped and quoted", first)
    eq(first.count("action="), 2, "one action= outside the quoted id")
    check(re.search(r"\" action=deny ", first), "the real action", first)
    check("id=plain-id action=allow" in lines[1], "the allow line", lines[1])
    check("replay=yes" in lines[2], "the replay", lines[2])
    for l in d.stderr().splitlines():
        check("\u2028" not in l and "é" not in l, "raw bytes in the log", l)


@T.case("audit_log = flagged: each recheck version that is or was flagged")
def _():
    d = rgtest.Daemon("audit-re", conf={"audit_log": "flagged"})
    d.start()
    email = "listed.%d@example.org" % os.getpid()
    lst = {"list": "blocked_emails", "value": email}
    for req in (dict(lst, op="list.add"),
                check_req("re-1", {"account": "re-a"},
                          {"account": "re-b", "email": email}),
                dict(lst, op="list.del"),
                {"op": "recheck", "id": "re-1"},      # deny -> allow
                {"op": "recheck", "id": "re-1"}):     # allow -> allow
        r, raw = d.call(req)
        check("error" not in r, req["op"], raw)
    eq((r["version"], r["action"], r["previous"]["action"]),
       (3, "allow", "allow"), "the last recheck")
    d.stop()
    lines = audit_lines(d)
    kvs = [dict(re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', l))
           for l in lines]
    eq([(kv.get("id"), kv.get("action"), kv.get("version"),
         kv.get("previous")) for kv in kvs],
       [("re-1", "deny", "1", None), ("re-1", "allow", "2", "deny")],
       "audit lines: the check, and the recheck that lifted the deny "
       "(%r)" % lines)


@T.case("log lines: key=value, no raw personal data at debug level")
def _():
    d = rgtest.Daemon("logs", debug=True)
    d.start()
    d.call(check_req("l-1", {"account": "l-a", "email": "Secret.Person@"
                             "example.org", "ip": "198.51.100.77",
                             "phone": "+44 7700 900777"},
                     {"account": "l-b", "email": "secret.person@example.org",
                      "payment": "pm_card_secret_777"}))
    d.call({"op": "nope", "email": "Secret.Person@example.org"})
    d.signal(signal.SIGHUP)
    d.wait_log(r"reloaded ruleset=")
    d.stop()
    text = d.stderr()
    for raw in ("Secret.Person", "secret.person", "198.51.100.77",
                "7700 900777", "pm_card_secret"):
        check(raw not in text, "raw %r in the log" % raw, text[-2000:])
    ready = [l for l in text.splitlines() if " ready " in l]
    check(ready and re.search(r"ready version=\S+ socket=\S+ http=none "
                              r"store=\S+ sync=full eval_threads=\d+ ruleset=\w+ rules=\d+ "
                              r"data=(none|\"[^\"]*\")$",
                              ready[0]), "the ready line", ready)
    check(re.search(r"reloaded ruleset=\w+ rules=\d+", text),
          "the reload line", text[-2000:])


if __name__ == "__main__":
    sys.exit(T.main())
