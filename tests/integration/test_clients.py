#!/usr/bin/env python3
"""The example clients in contrib/clients/ against a real refguardd with
the shipped rules: each (Python, Node.js, Go, sh+socat, where its
interpreter is installed) must grant a clean referral, refuse a
self-referral (two spellings of one Gmail address), print the error code
and exit non-zero on a bad request, and survive a connection that drops
before the reply by resending the check with the same id."""

import os
import shutil
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rgtest  # noqa: E402
from rgtest import Skip, check, eq  # noqa: E402

T = rgtest.Suite("test_clients")
ids = rgtest.Ids("cl")
D = {}
CLIENTS = os.path.join(rgtest.SRCDIR, "contrib", "clients")


daemon = rgtest.Shared("cli", rules="shipped")


def go_binary(go):
    """The Go client built once: `go run` answers 1 for any failing
    program, hiding the client's own exit status (3: unreachable)."""
    if "go" not in D:
        import subprocess
        out = os.path.join(rgtest.mkdtemp("goclient"), "refguard_check")
        env = dict(os.environ)
        # A writable cache; the module has no dependencies.
        env.setdefault("GOCACHE", os.path.join(rgtest.mkdtemp("gocache"),
                                               "c"))
        env["GOFLAGS"] = "-mod=mod"
        env["GOTOOLCHAIN"] = "local"
        p = subprocess.run([go, "build", "-o", out, "."],
                           cwd=os.path.join(CLIENTS, "go"), env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=300)
        if p.returncode != 0:
            raise rgtest.Fail("go build of the Go client failed: %s"
                              % p.stdout.decode("utf-8", "replace"))
        D["go"] = out
    return D["go"]


def argv_of(lang):
    """The command running the client in lang; Skip when its interpreter
    is missing."""
    if lang == "python":
        return [sys.executable,
                os.path.join(CLIENTS, "python", "refguard_check.py")], None
    if lang == "node":
        node = shutil.which("node") or shutil.which("nodejs")
        if not node:
            raise Skip("node not installed")
        return [node, os.path.join(CLIENTS, "node", "refguard_check.js")], \
            None
    if lang == "go":
        go = shutil.which("go")
        if not go:
            raise Skip("no Go toolchain (`go` not in PATH)")
        return [go_binary(go)], None
    if lang == "shell":
        if not shutil.which("socat"):
            raise Skip("socat not installed")
        return ["sh", os.path.join(CLIENTS, "shell", "refguard_check.sh")], \
            None
    raise AssertionError(lang)


def opt(lang, name):
    """Go's flag package spells options with one dash."""
    return ("-" if lang == "go" else "--") + name


def run_client(lang, sock, rid, referrer, referee, use_env=False):
    argv, cwd = argv_of(lang)
    args = [] if use_env else ["-s", sock]
    args += [opt(lang, "id"), rid]
    for who, p in (("referrer", referrer), ("referee", referee)):
        for k, v in p.items():
            args += [opt(lang, "%s-%s" % (who, k)), v]
    env = dict(os.environ)
    env.pop("REFGUARD_SOCKET", None)
    if use_env:
        env["REFGUARD_SOCKET"] = sock
    import subprocess
    try:
        p = subprocess.run(argv + args, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, cwd=cwd, env=env,
                           timeout=120)
    except subprocess.TimeoutExpired:
        raise rgtest.Fail("%s client timed out" % lang)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def party(email=None):
    return {"account": ids.account(), "email": email or "%s@example.com"
            % ids.id("m"), "ip": ids.ip(), "device": ids.id("dev")}


def first_line(out):
    return out.strip().split("\n")[0] if out.strip() else ""


def case_clean(lang):
    d = daemon()
    rid = ids.id("clean-" + lang)
    rc, out, err = run_client(lang, d.sock, rid, party(), party(),
                              use_env=True)
    eq(rc, 0, "%s client exit status (stderr %r)" % (lang, err))
    check(first_line(out).startswith("%s: grant (action=allow" % rid),
          "clean referral not granted", out, err)
    check("granting the reward" in out, "no grant message", out)
    r, raw = d.call({"op": "verdict", "id": rid})
    eq(r.get("action"), "allow", "stored verdict of %s" % rid)
    # The signup observe went in before the check.
    check(d.stats()["observes"] >= 1, "no observe stored")


def case_self(lang):
    d = daemon()
    rid = ids.id("self-" + lang)
    tag = ids.id("jd").replace("-", "")
    rc, out, err = run_client(
        lang, d.sock, rid, party("Jane.Doe.%s+ref@gmail.com" % tag),
        party("janedoe%s@googlemail.com" % tag))
    eq(rc, 0, "%s client exit status (stderr %r)" % (lang, err))
    check(first_line(out).startswith("%s: refuse (action=deny" % rid),
          "self-referral not refused", out, err)
    check("reason: self_referral.same_email deny +100" in out,
          "reason self_referral.same_email not printed", out)
    check("refusing the reward" in out, "no refusal message", out)


def case_bad(lang):
    d = daemon()
    rid = ids.id("bad-" + lang)
    ref = party()
    ref["ip"] = "300.1.2.3"
    rc, out, err = run_client(lang, d.sock, rid, party(), ref)
    check(rc != 0, "bad request: exit status 0", out, err)
    check("code=bad_request" in err and "field=ip" in err
          and "not an IPv4 or IPv6 address" in err,
          "bad request: error code, field and msg not printed", out, err)
    check("grant" not in out and "refuse" not in out,
          "a decision printed for a bad request", out)
    r, raw = d.call({"op": "verdict", "id": rid})
    rgtest.is_error(r, "not_found", raw=raw)


def case_unreachable(lang):
    rc, out, err = run_client(lang, os.path.join(rgtest.mkdtemp("none"),
                                                 "no.sock"),
                              ids.id("nosock"), party(), party())
    eq(rc, 3, "exit status without a daemon (stderr %r)" % err)
    check("unreachable" in err, "no 'unreachable' message", err)


class DropFirst:
    """A Unix socket in front of the daemon that reads the first
    connection's requests and hangs up without a reply; later connections
    are relayed to the daemon. Records what each connection sent."""

    def __init__(self, target):
        self.target = target
        self.path = os.path.join(rgtest.mkdtemp("drop"), "drop.sock")
        self.ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.ls.bind(self.path)
        self.ls.listen(8)
        self.sent = []
        self.lock = threading.Lock()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        n = 0
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            n += 1
            threading.Thread(target=self.handle, args=(c, n),
                             daemon=True).start()

    def handle(self, c, n):
        got = bytearray()
        with self.lock:
            self.sent.append(got)
        c.settimeout(20)
        if n == 1:
            try:
                while got.count(b"\n") < 1:
                    data = c.recv(65536)
                    if not data:
                        break
                    got += data
            except OSError:
                pass
            c.close()
            return
        u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        u.connect(self.target)

        def up():
            try:
                while True:
                    data = c.recv(65536)
                    if not data:
                        break
                    got.extend(data)
                    u.sendall(data)
                u.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        t = threading.Thread(target=up, daemon=True)
        t.start()
        try:
            while True:
                data = u.recv(65536)
                if not data:
                    break
                c.sendall(data)
        except OSError:
            pass
        t.join(20)
        c.close()
        u.close()

    def close(self):
        self.ls.close()


def case_retry(lang):
    d = daemon()
    argv_of(lang)               # Skip early when missing
    proxy = DropFirst(d.sock)
    try:
        rid = ids.id("retry-" + lang)
        rc, out, err = run_client(lang, proxy.path, rid, party(), party())
        eq(rc, 0, "%s client exit status after a dropped connection "
           "(stderr %r)" % (lang, err))
        check(first_line(out).startswith("%s: grant" % rid),
              "no decision after the retry", out, err)
        with proxy.lock:
            sent = [bytes(s) for s in proxy.sent]
        eq(len(sent), 2, "connections made")
        # The retry carries the check with the same id, and not the
        # (non-idempotent) observe again.
        check(b'"op":"check"' in sent[1] and rid.encode() in sent[1],
              "the retry did not resend the check", sent[1])
        check(b'"op":"observe"' not in sent[1],
              "the retry resent the observe", sent[1])
        r, raw = d.call({"op": "verdict", "id": rid})
        eq(r.get("action"), "allow", "stored verdict after the retry")
    finally:
        proxy.close()


for lang in ("python", "node", "go", "shell"):
    for what, fn, tmo in (("clean", case_clean, 180),
                          ("self_referral", case_self, 60),
                          ("bad_request", case_bad, 60),
                          ("unreachable", case_unreachable, 60),
                          ("retry", case_retry, 60)):
        T.case("%s_%s" % (lang, what), timeout=tmo)(
            (lambda f, l: lambda: f(l))(fn, lang))


def case_python_pipeline():
    """RefguardClient.pipeline(): many requests, replies in order."""
    d = daemon()
    sys.path.insert(0, os.path.join(CLIENTS, "python"))
    import refguard_check as rc_mod
    reqs = []
    for i in range(300):
        reqs.append({"op": "check", "id": ids.id("pipe"),
                     "referrer": {"account": ids.account()},
                     "referee": {"account": ids.account()}})
    reqs.insert(150, {"op": "bogus"})
    with rc_mod.RefguardClient(d.sock) as c:
        c.connect()
        replies = c.pipeline(reqs)
        eq(len(replies), len(reqs), "reply count")
        for q, r in zip(reqs, replies):
            if q["op"] == "bogus":
                eq(r.get("error", {}).get("code"), "unknown_op", "bogus op")
            else:
                eq(r.get("id"), q["id"], "reply order")
        try:
            c.call({"op": "verdict", "id": "cl-no-such-id"})
            raise rgtest.Fail("call() did not raise on an error reply")
        except rc_mod.RefguardError as e:
            eq(e.code, "not_found", "RefguardError.code")
        eq(c.call({"op": "ping"}), {"ok": True}, "ping after an error")


T.case("python_pipeline")(case_python_pipeline)


if __name__ == "__main__":
    sys.exit(T.main())
