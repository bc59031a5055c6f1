#!/usr/bin/env python3
"""Bad requests in the log: at debug level, each refused request is one
line with its error code and message, its size and its top-level keys,
escaped (no raw control bytes reach the log) and never a value (requests
carry personal data); at most a burst a second, the next line saying how
many were left out; nothing at info."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rgtest  # noqa: E402
from rgtest import check, eq  # noqa: E402

T = rgtest.Suite("test_logs")

HOSTILE = b'{"op":"check","id":"x\\u001b[31m","referrer":\x1b[31m oops\x07}'


def bad_lines(text):
    return [ln for ln in text.splitlines() if "bad request code=" in ln]


@T.case("debug: a bad request is logged escaped, with its code, size and "
        "keys, never a value")
def _():
    d = rgtest.Daemon("badlog", debug=True).start()
    with d.client() as c:
        c.send_raw(HOSTILE + b"\n")
        r, raw = c.read()
        check("error" in r, "hostile line answered without an error", raw)
        c.send_raw(b'{"op":"nope"}\n')
        c.read()
    text = d.stderr()
    lines = bad_lines(text)
    check(len(lines) == 2, "want two bad request lines", text)
    check("\x1b" not in text and "\x07" not in text,
          "raw control bytes in the log", text)
    check(re.search(r'code=bad_json field=- msg="column 45: invalid token" '
                    r'bytes=%d keys=- ' % len(HOSTILE), lines[0]),
          "the bad JSON line", lines[0])
    check(re.search(r'code=unknown_op field=op msg=.*nope.* bytes=13 '
                    r'keys=op ', lines[1]), "unknown op line", lines[1])
    # Keys, never values; a key's bytes escaped.
    with d.client() as c:
        c.send(rgtest.check_req("k\x1b", {"account": "p-a",
                                           "email": "Private.One@x.test"},
                                {"account": "p-b"}, ts="yesterday",
                                **{"we\x1bird": 1}))
        c.read()
    text = d.stderr()
    line = bad_lines(text)[-1]
    check(re.search(r'keys=op,id,referrer,referee,ts,we\\x1bird ', line),
          "keys of a bad check", line)
    for raw in ("Private.One", "p-a", "yesterday", "\x1b"):
        check(raw not in text, "%r in the log" % raw, line)
    d.stop()


@T.case("debug: bad request lines are rate-limited and count what they "
        "left out")
def _():
    d = rgtest.Daemon("badrate", debug=True).start()
    n = 300
    with d.client() as c:
        c.send_raw(b'{"op":"nope"}\n' * n)
        for _i in range(n):
            c.read()
        logged = len(bad_lines(d.stderr()))
        check(0 < logged < n, "%d of %d bad requests logged: no limit" %
              (logged, n), logged)
        # A logged line counts what its second's limit left out before
        # it. Keep sending, one at a time, until a line says so and the
        # last request was logged itself: then nothing sent is left
        # uncounted, however many seconds the burst took (a sanitizer
        # build is slow), and logged plus left out is every request.
        sent = n
        for _i in range(200000):
            c.send_raw(b'{"op":"nope"}\n')
            c.read()
            sent += 1
            lines = bad_lines(d.stderr())
            m = [int(x) for x in re.findall(r'not_logged=(\d+)',
                                              "\n".join(lines))]
            if len(lines) > logged and any(x > 0 for x in m):
                break
            logged = len(lines)
        else:
            raise rgtest.Fail("no line says how many were left out")
    total = sum(m) + len(lines)
    eq(total, sent, "logged plus left out, against requests sent")
    d.stop()


@T.case("info: bad requests are not logged")
def _():
    d = rgtest.Daemon("badinfo").start()
    d.call({"op": "nope"})
    d.stats()       # a request after it: the first was handled
    check(not bad_lines(d.stderr()), "a bad request line at info level",
          d.stderr())
    d.stop()


if __name__ == "__main__":
    sys.exit(T.main())
