#!/usr/bin/env python3
"""Malformed requests: a table of broken lines — bad JSON,
wrong types, huge numbers, deep nesting, invalid UTF-8, NUL bytes, empty
lines, duplicate keys, enormous strings and arrays, control characters,
unknown fields at each level, bad ts forms, oversized ids — each answered
with an error naming the problem (code, and the field where there is
one), after which the same connection serves the next valid request.
The table is sent once request by request and once pipelined in one
write; the daemon must be alive and its error counters must add up.

test_protocol.py keeps a shorter list of the common mistakes; this is the
long one."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rgtest  # noqa: E402
from rgtest import check, eq, is_error, verdict_shape  # noqa: E402

T = rgtest.Suite("test_malformed")
ids = rgtest.Ids("mf")
D = {}
NOW = rgtest.now_ms()


def base(**over):
    """A valid check, then the changes: key=None deletes, a dict for
    referrer/referee replaces it whole."""
    r = {"op": "check", "id": ids.id(), "ts": NOW - 60000,
         "referrer": {"account": ids.account(), "email": "a@example.org",
                      "ip": "192.0.2.1", "device": {"ua": "UA", "tz": "UTC"}},
         "referee": {"account": ids.account(), "email": "b@example.org",
                     "ip": "198.51.100.7", "phone": "+1 555 0100 001",
                     "payment": "pm_tok_1"},
         "reward": {"amount": 10, "currency": "EUR"}}
    for k, v in over.items():
        if v is None:
            r.pop(k, None)
        else:
            r[k] = v
    return r


def ree(**over):
    p = {"account": ids.account()}
    p.update(over)
    return p


def J(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def Jraw(obj):
    """JSON without ASCII escaping, so raw bytes reach the daemon."""
    return json.dumps(obj, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8", "surrogatepass")


def table():
    big = "x" * 60000
    nest = lambda n: b'{"op":"check","meta":' + b'[' * n + b']' * n + b'}'
    return [
        # -- framing and JSON syntax --
        ("empty line", b"", "bad_request", None),
        ("blank line (spaces)", b"   ", "bad_json", None),
        ("CR only", b"\r", "bad_request", None),
        ("truncated object", b'{"op":"check","id":"x",', "bad_json", None),
        ("trailing garbage", b'{"op":"ping"} x', "bad_json", None),
        ("two objects on a line", b'{"op":"ping"}{"op":"ping"}', "bad_json",
         None),
        ("single quotes", b"{'op':'ping'}", "bad_json", None),
        ("unquoted key", b'{op:"ping"}', "bad_json", None),
        ("trailing comma", b'{"op":"ping",}', "bad_json", None),
        ("comment", b'{"op":"ping"} // hi', "bad_json", None),
        ("NaN literal", b'{"op":"check","ts":NaN}', "bad_json", None),
        ("bare string", b'"ping"', "bad_json", None),
        ("bare number", b"42", "bad_json", None),
        ("null", b"null", "bad_json", None),
        ("array", b'[{"op":"ping"}]', "bad_request", None),
        ("NUL byte after the object", b'{"op":"ping"}\x00', "bad_json",
         None),
        ("NUL byte inside a string", b'{"op":"pi\x00ng"}', "bad_json", None),
        ("escaped NUL in op", b'{"op":"ping\\u0000"}', "bad_json", None),
        ("invalid UTF-8 in a value", b'{"op":"check","id":"\xff\xfe"}',
         "bad_json", None),
        ("overlong UTF-8 encoding", b'{"op":"\xc0\xaf"}', "bad_json", None),
        ("lone surrogate escape", b'{"op":"check","id":"\\ud800"}',
         "bad_json", None),
        ("UTF-8 BOM", b'\xef\xbb\xbf{"op":"ping"}', "bad_json", None),
        ("raw control char in a string", b'{"op":"check","id":"a\x01b"}',
         "bad_json", None),
        ("duplicate top-level key", b'{"op":"ping","op":"stats"}',
         "bad_json", None),
        ("duplicate party key", b'{"op":"check","id":"d1","referrer":'
         b'{"account":"a","account":"b"},"referee":{"account":"c"}}',
         "bad_json", None),
        ("deep nesting (30,000 arrays)", b"[" * 30000, "bad_json", None),
        ("deep nesting in meta (3,000)", nest(3000), "bad_json", None),
        # -- op --
        ("missing op", J({"id": "x"}), "bad_request", "op"),
        ("op is a number", J({"op": 1}), "bad_request", "op"),
        ("op is null", J({"op": None}), "bad_request", "op"),
        ("op is an array", J({"op": ["ping"]}), "bad_request", "op"),
        ("unknown op", J({"op": "delete"}), "unknown_op", "op"),
        ("op in capitals", J({"op": "PING"}), "unknown_op", "op"),
        ("op with a control char", J({"op": "pi\x1bng"}), "unknown_op",
         "op"),
        ("enormous op", J({"op": big}), "unknown_op", "op"),
        # -- unknown fields at each level --
        ("unknown field on ping", J({"op": "ping", "x": 1}), "bad_request",
         "x"),
        ("unknown field on verdict", J({"op": "verdict", "id": "a",
                                        "explain": True}),
         "bad_request", "explain"),
        ("unknown top-level field on check", J(base(referer={})),
         "bad_request", "referer"),
        ("unknown top-level field on observe", J({
            "op": "observe", "kind": "login", "account": "u", "acount": "v"}),
         "bad_request", "acount"),
        ("unknown referrer field", J(base(referrer={"account": "r1",
                                                    "mail": "a@b.c"})),
         "bad_request", "referrer.mail"),
        ("unknown reward field", J(base(reward={"amount": 1, "cur": "EUR"})),
         "bad_request", "reward.cur"),
        ("unknown field with a control char in its name",
         J(base(**{"bad\nkey": 1})), "bad_request", None),
        # -- id --
        ("check without id", J(base(id=None)), "bad_request", "id"),
        ("id is a number", J(base(id=17)), "bad_request", "id"),
        ("id is an object", J(base(id={"a": 1})), "bad_request", "id"),
        ("empty id", J(base(id="")), "bad_request", "id"),
        ("id of 129 bytes", J(base(id="i" * 129)), "bad_request", "id"),
        ("id of 60,000 bytes", J(base(id=big)), "bad_request", "id"),
        ("id with a tab", J(base(id="a\tb")), "bad_request", "id"),
        ("id with DEL", J(base(id="a\x7fb")), "bad_request", "id"),
        ("verdict with an empty id", J({"op": "verdict", "id": ""}),
         "bad_request", "id"),
        ("explain with a numeric id", J({"op": "explain", "id": 5}),
         "bad_request", "id"),
        # -- ts --
        ("ts as a word", J(base(ts="now")), "bad_request", "ts"),
        ("ts as a date only", J(base(ts="2026-11-23")), "bad_request", "ts"),
        ("ts without a zone", J(base(ts="2026-11-23T10:00:00")),
         "bad_request", "ts"),
        ("ts with month 13", J(base(ts="2026-13-01T00:00:00Z")),
         "bad_request", "ts"),
        ("ts Feb 30", J(base(ts="2026-02-30T00:00:00Z")), "bad_request",
         "ts"),
        ("ts as a float", J(base(ts=1795000000000.5)), "bad_request", "ts"),
        ("ts negative", J(base(ts=-1)), "bad_request", "ts"),
        ("ts in seconds (ancient)", J(base(ts=1795000000)), "bad_request",
         "ts"),
        ("ts as a boolean", J(base(ts=False)), "bad_request", "ts"),
        ("ts as an array", J(base(ts=[NOW])), "bad_request", "ts"),
        ("ts past year 9999", J(base(ts=253402300800000)), "bad_request",
         "ts"),
        ("ts beyond int64", b'{"op":"check","id":"t","ts":'
         b'99999999999999999999999}', "bad_json", None),
        ("ts 1e400", b'{"op":"check","id":"t","ts":1e400}', "bad_json",
         None),
        ("ts with an enormous string", J(base(ts=big)), "bad_request", "ts"),
        # -- parties --
        ("referrer missing", J(base(referrer=None)), "bad_request",
         "referrer"),
        ("referee is a string", J(base(referee="u-1")), "bad_request",
         "referee"),
        ("referee is an array", J(base(referee=[{"account": "u"}])),
         "bad_request", "referee"),
        ("referee without account", J(base(referee={"email": "a@b.org"})),
         "bad_request", "referee.account"),
        ("account is a number", J(base(referee={"account": 9})),
         "bad_request", "referee.account"),
        ("account empty", J(base(referee={"account": ""})), "bad_request",
         "referee.account"),
        ("account of 60,000 bytes", J(base(referee={"account": big})),
         "bad_request", "referee.account"),
        ("self-referral by account", J(base(referrer={"account": "same"},
                                            referee={"account": "same"})),
         "bad_request", "referee.account"),
        ("email without @", J(base(referee=ree(email="nobody"))),
         "bad_request", "referee.email"),
        ("email of 60,000 bytes", J(base(referee=ree(email=big + "@x.org"))),
         "bad_request", "referee.email"),
        ("email as an array", J(base(referee=ree(email=["a@b.org"]))),
         "bad_request", "referee.email"),
        ("email with a NUL escape", J(base(referee=ree(
            email="a\x00b@example.org"))), "bad_json", None),
        ("ip 256.1.1.1", J(base(referee=ree(ip="256.1.1.1"))),
         "bad_request", "referee.ip"),
        ("ip with a port", J(base(referee=ree(ip="192.0.2.1:80"))),
         "bad_request", "referee.ip"),
        ("ip as packed bytes in a string", Jraw(base(referee=ree(
            ip="\u00c0\u0000\u0002\u0001"))), "bad_json", None),
        ("ip as an integer", J(base(referee=ree(ip=3221225985))),
         "bad_request", "referee.ip"),
        ("ip of 60,000 bytes", J(base(referee=ree(ip=big))), "bad_request",
         "referee.ip"),
        ("phone as a number", J(base(referee=ree(phone=15550100))),
         "bad_request", "referee.phone"),
        ("phone without digits", J(base(referee=ree(phone="call me"))),
         "bad_request", "referee.phone"),
        ("payment of 60,000 bytes", J(base(referee=ree(payment=big))),
         "bad_request", "referee.payment"),
        ("payment as an object", J(base(referee=ree(payment={"t": 1}))),
         "bad_request", "referee.payment"),
        # -- device --
        ("device as a string", J(base(referee=ree(device="iPhone"))),
         "bad_request", "referee.device"),
        ("device attribute as an array", J(base(referee=ree(
            device={"ua": ["a", "b"]}))), "bad_request", "referee.device.ua"),
        ("device attribute as a float", J(base(referee=ree(
            device={"screen": 1.5}))), "bad_request",
         "referee.device.screen"),
        ("device with 1,000 attributes", J(base(referee=ree(
            device={"k%d" % i: "v" for i in range(1000)}))),
         "bad_request", "referee.device"),
        ("device attribute of 60,000 bytes", J(base(referee=ree(
            device={"ua": big}))), "bad_request", "referee.device.ua"),
        ("device id as a boolean", J(base(referee=ree(
            device={"id": True}))), "bad_request", "referee.device.id"),
        # -- reward, campaign --
        ("reward as a number", J(base(reward=10)), "bad_request", "reward"),
        ("reward amount as a string", J(base(reward={"amount": "10"})),
         "bad_request", "reward.amount"),
        ("reward amount negative", J(base(reward={"amount": -1})),
         "bad_request", "reward.amount"),
        ("reward amount 1e300", J(base(reward={"amount": 1e300})),
         "bad_request", "reward.amount"),
        ("reward without amount", J(base(reward={"currency": "EUR"})),
         "bad_request", "reward.amount"),
        ("currency in lower case", J(base(reward={"amount": 1,
                                                  "currency": "eur"})),
         "bad_request", "reward.currency"),
        ("currency of 4 letters", J(base(reward={"amount": 1,
                                                 "currency": "EURO"})),
         "bad_request", "reward.currency"),
        ("campaign as a number", J(base(campaign=3)), "bad_request",
         "campaign"),
        ("campaign with a newline", J(base(campaign="a\nb")), "bad_request",
         "campaign"),
        ("campaign of 60,000 bytes", J(base(campaign=big)), "bad_request",
         "campaign"),
        # -- observe --
        ("observe without account", J({"op": "observe", "kind": "login"}),
         "bad_request", "account"),
        ("observe with kind referral", J({"op": "observe", "kind": "referral",
                                          "account": "u"}),
         "bad_request", "kind"),
        ("observe kind as a number", J({"op": "observe", "kind": 1,
                                        "account": "u"}),
         "bad_request", "kind"),
        ("observe with referrer", J({"op": "observe", "kind": "login",
                                     "account": "u", "referrer": {}}),
         "bad_request", "referrer"),
        ("observe with a bad ip", J({"op": "observe", "kind": "login",
                                     "account": "u", "ip": "::g"}),
         "bad_request", "ip"),
        # -- enormous arrays and objects (inside the 64k line limit) --
        ("meta with 20,000 array elements", J(base(meta=[0] * 20000)),
         None, None),
        ("party as an array of 10,000 strings", J(base(
            referee=["a"] * 10000)), "bad_request", "referee"),
        ("ping with 5,000 unknown keys", J(dict({"op": "ping"}, **{
            "k%d" % i: 1 for i in range(5000)})), "bad_request", None),
    ]


def daemon():
    if "d" not in D or not D["d"].alive():
        D["d"] = rgtest.Daemon("malformed")
        D["d"].persistent = True
        D["d"].start()
    return D["d"]


def valid():
    return base()


def judge(name, line, code, field, r, raw):
    """The reply to one malformed line: (None, code) or (problem, code)."""
    if code is None:    # accepted or refused, either is fine: not a crash
        if "error" in r:
            is_error(r, raw=raw)
        else:
            verdict_shape(r, raw)
        return
    e = is_error(r, code, raw=raw)
    if field is not None:
        check(e.get("field") == field, "expected field %r" % field, raw)
    check(len(raw) < 2000, "error reply of %d bytes (echoes the input?)"
          % len(raw), raw)


@T.case("at least 50 malformed requests in the table")
def _():
    n = len(table())
    check(n >= 50, "only %d" % n)
    print("     %d malformed requests" % n)


@T.case("one by one: each gets a clear error; the connection serves on",
        timeout=120)
def _():
    d = daemon()
    fails = []
    before = d.stats()["errors"]
    nerr = 0
    c = d.client()
    for name, line, code, field in table():
        try:
            c.send(line)
            r, raw = c.read()
            judge(name, line, code, field, r, raw)
            nerr += "error" in r
            v, raw2 = c.call(valid())
            verdict_shape(v, raw2)
        except (rgtest.Fail, rgtest.Closed, OSError) as ex:
            fails.append("%s: %s" % (name, ex))
            c.close()
            c = d.client()
    c.close()
    check(not fails, "%d of %d malformed requests mishandled:\n    %s" % (
        len(fails), len(table()), "\n    ".join(fails)))
    after = d.stats()["errors"]
    counted = sum(after.values()) - sum(before.values())
    eq(counted, nerr, "errors counted in stats")


@T.case("pipelined in one write, interleaved with valid checks", timeout=120)
def _():
    d = daemon()
    tab = table()
    lines, want = [], []
    for name, line, code, field in tab:
        lines += [line, J(valid())]
        want += [(name, line, code, field), None]
    payload = b"".join(l + b"\n" for l in lines)
    with d.client(timeout=60) as c:
        c.send_raw(payload)
        fails = []
        for w in want:
            r, raw = c.read()
            try:
                if w is None:
                    verdict_shape(r, raw)
                else:
                    judge(*w, r, raw)
            except rgtest.Fail as ex:
                fails.append("%s: %s" % (w[0] if w else "valid", ex))
        check(not fails, "\n    " + "\n    ".join(fails[:10]))
        r, raw = c.call({"op": "ping"})
        eq(r, {"ok": True}, "ping after the table")
    check(d.alive(), "daemon died")
    d.stop()


@T.case("times and durations out of range: one error for every form")
def _():
    # retention = 0: no horizon, so that only the range itself refuses
    d = rgtest.Daemon("mfrange", conf={"retention": 0}).start()
    with d.client() as c:
        msgs = {}
        for ts in (-1, 253402300800000, "1969-12-31T23:59:59.999Z",
                   "0000-01-01T00:30:00+01:00", "9999-12-31T23:59:59-01:00",
                   "1970-01-01T00:59:59+01:00"):
            r, raw = c.call(base(ts=ts))
            e = is_error(r, "bad_request", "ts", raw=raw)
            msgs[e["msg"]] = ts
        for ts in (-1, "1969-12-31T23:59:59.999Z"):     # a recheck's
            r, raw = c.call({"op": "recheck", "id": "mf-none", "ts": ts})
            e = is_error(r, "bad_request", "ts", raw=raw)
            msgs[e["msg"]] = ts
        eq(len(msgs), 1, "one message for every out-of-range ts, "
           "string or integer (%s)" % msgs)
        # the first moment there is, as a string or an integer
        for ts in (0, "1970-01-01T01:00:00+01:00"):
            v, raw = c.call(base(ts=ts))
            verdict_shape(v, raw)
            eq(v["ts"], "1970-01-01T00:00:00.000Z", "ts of %r" % (ts,))
        # list.add expires: a duration from now, a time, milliseconds
        lst = {"op": "list.add", "list": "blocked_emails",
               "value": "range@example.org"}
        msgs = {}
        for exp in ("9223372036854775807ms", "9223372036854775s",
                    "106751991167d", "99999999w", 253402300800000,
                    9223372036854775807):
            r, raw = c.call(dict(lst, expires=exp))
            e = is_error(r, "bad_request", "expires", raw=raw)
            msgs[e["msg"]] = exp
        eq(len(msgs), 1, "one message for every out-of-range expires "
           "(%s)" % msgs)
        for exp in ("30d", "9999-12-31T23:59:59.999Z", 253402300799999):
            r, raw = c.call(dict(lst, expires=exp))
            check("error" not in r, "list.add expires %r" % (exp,), raw)
        r, raw = c.call({"op": "list.get", "list": "blocked_emails",
                         "value": "range@example.org"})
        check(b"9999-12-31T23:59:59.999Z" in raw, "the entry's expiry", raw)
    check(d.alive(), "daemon died")
    d.stop()


if __name__ == "__main__":
    sys.exit(T.main())
