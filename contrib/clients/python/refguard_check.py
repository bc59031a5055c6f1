#!/usr/bin/env python3
"""refguard_check.py: ask refguard before granting a referral reward.

Python 3, standard library only. Records the referee's signup (`observe`),
then asks for a verdict on the referral (`check`), both pipelined on one
connection, and acts on the answer:

    allow  -> grant the reward
    review -> queue the referral for manual review
    deny   -> refuse the reward

Usage:
    refguard_check.py [-s SOCKET] [--id ID]
        [--referrer-account A] [--referrer-email E] [--referrer-ip IP]
        [--referrer-device ID] [--referee-account A] [--referee-email E]
        [--referee-ip IP] [--referee-device ID] [--amount N] [--currency C]

SOCKET defaults to $REFGUARD_SOCKET, then /run/refguard/refguard.sock.
Fields not given take demo values.

Exit status: 0 a decision was made (whatever it is), 1 refguard answered
with an error (code, field and msg are printed), 2 usage, 3 refguard could
not be reached (after one retry).

Retries: a `check` is idempotent by its id, so after a connection error it
is sent again, once, with the same id: if the first attempt was stored, the
stored verdict comes back. An `observe` has no id and would be stored
twice, so it is only resent when nothing of it can have reached the daemon
(the connection could not be opened).

RefguardClient can be reused on its own: call() for one request,
pipeline() for many requests on one connection, replies in order.
"""

import argparse
import json
import os
import socket
import sys
import threading
import time

DEFAULT_SOCKET = "/run/refguard/refguard.sock"


class RefguardError(Exception):
    """refguard answered with an error reply."""

    def __init__(self, reply):
        e = reply.get("error") or {}
        self.reply = reply
        self.code = e.get("code", "?")
        self.field = e.get("field")
        self.msg = e.get("msg", "")
        super().__init__("%s%s: %s" % (
            self.code, " (field %s)" % self.field if self.field else "",
            self.msg))


class ConnectFailed(ConnectionError):
    """The connection could not be opened: nothing was sent."""


class RefguardClient:
    """One NDJSON connection to refguardd. Not thread-safe: one user at
    a time. Replies come back in request order, so pipelined replies are
    matched to requests by position."""

    def __init__(self, path=None, timeout=10.0):
        self.path = path or os.environ.get("REFGUARD_SOCKET") \
            or DEFAULT_SOCKET
        self.timeout = timeout
        self.sock = None
        self.buf = bytearray()

    def connect(self):
        self.close()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self.path)
        except OSError as e:
            s.close()
            raise ConnectFailed("cannot connect to %s: %s" % (self.path, e))
        self.sock = s
        self.buf = bytearray()

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @staticmethod
    def encode(req):
        return json.dumps(req, separators=(",", ":")).encode() + b"\n"

    def _readline(self):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 1]
                return line
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise ConnectionError("no reply from refguardd within %gs"
                                      % self.timeout)
            if not data:
                raise ConnectionError("refguardd closed the connection")
            self.buf += data

    def _read_reply(self):
        line = self._readline()
        try:
            return json.loads(line)
        except ValueError:
            raise ConnectionError("reply is not JSON: %r" % line[:200])

    def pipeline(self, reqs):
        """Send every request without waiting, return the replies (dicts,
        error replies included) in request order. A thread writes while
        this one reads, so large batches cannot deadlock."""
        if self.sock is None:
            self.connect()
        payload = b"".join(self.encode(r) for r in reqs)
        werr = []

        def writer():
            try:
                self.sock.sendall(payload)
            except OSError as e:
                werr.append(e)
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        try:
            replies = [self._read_reply() for _ in reqs]
        except (OSError, ConnectionError):
            self.close()
            raise ConnectionError(str(werr[0]) if werr else
                                  str(sys.exc_info()[1]))
        finally:
            t.join(self.timeout)
        return replies

    def call(self, req):
        """One request; raises RefguardError on an error reply."""
        reply = self.pipeline([req])[0]
        if "error" in reply:
            raise RefguardError(reply)
        return reply


def decide(verdict):
    """What the backend does with a verdict."""
    return {"allow": "grant", "review": "queue",
            "deny": "refuse"}[verdict["action"]]


def check_referral(client, observe, check, retries=1):
    """Send the signup observe and the check pipelined; retry the check
    (same id) once on a connection error. Returns the verdict; raises
    RefguardError, or ConnectionError when refguard cannot be reached."""
    pending = [observe, check]
    for attempt in range(retries + 1):
        try:
            try:
                client.connect()
            except ConnectFailed:
                if attempt == retries:
                    raise
                time.sleep(0.2)
                continue            # nothing sent: resend everything
            replies = client.pipeline(pending)
            for reply in replies:   # the observe's error first, if any
                if "error" in reply:
                    raise RefguardError(reply)
            return replies[-1]
        except ConnectionError:
            if attempt == retries:
                raise
            # The observe may have been stored: never send it twice. The
            # check is idempotent by id: the same id is safe to resend.
            pending = [check]
            time.sleep(0.2)


def main(argv=None):
    p = argparse.ArgumentParser(description="ask refguard before granting "
                                "a referral reward")
    p.add_argument("-s", "--socket", default=None)
    p.add_argument("--id", default="demo-ref-1")
    p.add_argument("--referrer-account", default="demo-u-17")
    p.add_argument("--referrer-email", default="jane.doe@example.com")
    p.add_argument("--referrer-ip", default="81.2.69.160")
    p.add_argument("--referrer-device", default="demo-dev-17")
    p.add_argument("--referee-account", default="demo-u-9001")
    p.add_argument("--referee-email", default="john.roe@example.org")
    p.add_argument("--referee-ip", default="198.51.100.23")
    p.add_argument("--referee-device", default="demo-dev-9001")
    p.add_argument("--amount", type=float, default=10)
    p.add_argument("--currency", default="EUR")
    a = p.parse_args(argv)

    def party(pre):
        d = {"account": getattr(a, pre + "_account")}
        for k in ("email", "ip"):
            v = getattr(a, pre + "_" + k)
            if v:
                d[k] = v
        if getattr(a, pre + "_device"):
            d["device"] = {"id": getattr(a, pre + "_device")}
        return d

    referrer, referee = party("referrer"), party("referee")
    observe = dict(referee, op="observe", kind="signup")
    amount = int(a.amount) if a.amount == int(a.amount) else a.amount
    check = {"op": "check", "id": a.id, "referrer": referrer,
             "referee": referee,
             "reward": {"amount": amount, "currency": a.currency}}

    client = RefguardClient(a.socket)
    try:
        v = check_referral(client, observe, check)
    except RefguardError as e:
        print("refguard error: code=%s field=%s msg=%s"
              % (e.code, e.field or "-", e.msg), file=sys.stderr)
        return 1
    except ConnectionError as e:
        print("refguard unreachable: %s" % e, file=sys.stderr)
        return 3
    finally:
        client.close()

    what = decide(v)
    print("%s: %s (action=%s score=%d)" % (v["id"], what, v["action"],
                                          v["score"]))
    for r in v["reasons"]:
        print("  reason: %s %s %+d%s" % (r["rule"], r["action"], r["score"],
                                         ": " + r["msg"] if r.get("msg")
                                         else ""))
    if what == "grant":
        print("granting the reward of %s %s" % (amount, a.currency))
    elif what == "queue":
        print("queued for manual review")
    else:
        print("refusing the reward")
    return 0


if __name__ == "__main__":
    sys.exit(main())
