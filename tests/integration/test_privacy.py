#!/usr/bin/env python3
"""Privacy and access (DESIGN.md: "Raw personal data is never stored"):

  - after many checks and observes carrying known raw emails, phones, IPs,
    payment tokens and device ids, none of them appears in the LMDB file
    (data.mdb): not as text, not normalized, and IPs not as their packed
    4- or 16-byte forms either;
  - a hash_secret_file readable by group or others stops start-up with a
    clear message; the secret never appears in logs, stats or the store;
  - as root: a user outside the socket's group (nobody) cannot connect to
    the 0660 socket, and can once the mode allows it (the control)."""

import ipaddress
import json
import os
import pwd
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rgtest  # noqa: E402
from rgtest import check, check_req, eq  # noqa: E402

T = rgtest.Suite("test_privacy")
N = 150


def people(n):
    """n referrals' worth of distinctive raw values."""
    out = []
    for i in range(n):
        out.append({
            "email": "Priv.Acy%04d+tag@Example-Mail.org" % i,
            "email_norm": "priv.acy%04d@example-mail.org" % i,
            "phone": "+44 7700 9%05d" % i,
            "phone_digits": "447700 9%05d".replace(" ", "") % i,
            "ip4": "203.0.%d.%d" % (113 + i % 2, 10 + i % 200),
            "ip6": "2001:db8:%x:%x::%x" % (0xbeef, i, 0x1000 + i),
            "payment": "pm_card_priv_%06d_tok" % i,
            "device_id": "sdk-privdev-%06d" % i,
        })
    return out


def scan(path, needles):
    """The needles (name, bytes) found in the file at path."""
    with open(path, "rb") as f:
        data = f.read()
    return [(name, v) for name, v in needles if v in data], len(data)


@T.case("no raw email, phone, IP, payment token or device id in data.mdb",
        timeout=90)
def _():
    d = rgtest.Daemon("priv").start()
    ps = people(N)
    base = rgtest.now_ms() - 3600 * 1000
    reqs = []
    for i, p in enumerate(ps):
        q = ps[(i + 1) % N]
        reqs.append(check_req(
            "priv-%d" % i,
            {"account": "pv-r-%d" % i, "email": p["email"], "ip": p["ip4"],
             "phone": p["phone"], "payment": p["payment"],
             "device": {"id": p["device_id"], "ua": "PrivUA/%d" % i}},
            {"account": "pv-e-%d" % i, "email": q["email"], "ip": q["ip6"],
             "phone": q["phone"], "payment": q["payment"],
             "device": {"id": q["device_id"]}}, ts=base + i))
        reqs.append(rgtest.observe_req(
            "login", "pv-o-%d" % i, ts=base + i, email=p["email"],
            ip=p["ip6"], phone=p["phone"], payment=p["payment"],
            device={"id": p["device_id"]}))
    with d.client(timeout=60) as c:
        out = c.pipeline(reqs)
        eq(len(out), len(reqs), "replies")
        for raw in out:
            check("error" not in json.loads(raw), "request refused", raw)
        # explain replies carry facts, never raw values either
        ex = c.pipeline([{"op": "explain", "id": "priv-%d" % i}
                         for i in range(0, N, 10)])
    d.stop()        # everything on disk, file closed
    needles = []
    for p in ps:
        for k in ("email", "email_norm", "phone", "phone_digits", "ip4",
                  "ip6", "payment", "device_id"):
            needles.append((k, p[k].encode()))
        needles.append(("local part", p["email_norm"].split("@")[0]
                        .encode()))
        needles.append(("ip6 packed", ipaddress.ip_address(p["ip6"])
                        .packed))
        needles.append(("ip6 expanded", ipaddress.ip_address(p["ip6"])
                        .exploded.encode()))
    # packed IPv4: 4 bytes could occur by chance among hashes; a few
    # distinct ones keep that odds well under one in a thousand
    for p in ps[:6]:
        needles.append(("ip4 packed", ipaddress.ip_address(p["ip4"]).packed))
    found, size = scan(os.path.join(d.state, "data.mdb"), needles)
    # the control: referral ids are stored as keys, so the scan sees them
    ctl, _ = scan(os.path.join(d.state, "data.mdb"),
                  [("id", b"priv-%d" % i) for i in range(0, N, 7)])
    eq(len(ctl), len(range(0, N, 7)), "referral ids found by the scan "
       "(control)")
    check(not found, "%d raw values found in data.mdb, e.g. %s" % (
        len(found), ", ".join("%s %r" % f for f in found[:6])))
    text_needles = [n for n in needles if not n[0].endswith("packed")]
    for raw in ex:
        hit = [v for _, v in text_needles if v in raw]
        check(not hit, "raw values in an explain reply", hit[:3], raw)
    print("     %d values (%d kinds) absent from %d kB of data.mdb and %d "
          "explain replies" % (len(needles), 11, size // 1024, len(ex)))


@T.case("a group/other-readable hash_secret_file stops start-up clearly")
def _():
    for mode in (0o640, 0o604, 0o644):
        d = rgtest.Daemon("secret")
        path = os.path.join(d.dir, "secret.bin")
        with open(path, "wb") as f:
            f.write(os.urandom(32))
        os.chmod(path, mode)
        d.conf["hash_secret_file"] = path
        d.write_conf()
        rc, err = d.run_to_exit()
        check(rc != 0, "started with a mode %03o secret" % mode, err)
        check(path in err and "group or others" in err and "chmod 600" in
              err, "no clear message for mode %03o" % mode, err)
        check(not os.path.exists(d.sock), "socket created")


@T.case("the secret never appears in logs, stats or the store")
def _():
    d = rgtest.Daemon("secret2", conf={"log_level": "debug"}, debug=True)
    path = os.path.join(d.dir, "secret.bin")
    secret = os.urandom(32)
    with open(path, "wb") as f:
        f.write(secret)
    os.chmod(path, 0o600)
    d.conf["hash_secret_file"] = path
    d.write_conf()
    d.start()
    with d.client() as c:
        c.pipeline([check_req("s-%d" % i, {"account": "s-r-%d" % i,
                                           "email": "s%d@example.org" % i},
                              {"account": "s-e-%d" % i})
                    for i in range(50)])
        st = c.call({"op": "stats"})[1]
        ex = c.call({"op": "explain", "id": "s-1"})[1]
        rl = c.call({"op": "reload"})[1]
    d.signal(__import__("signal").SIGHUP)
    d.stop()
    forms = [("raw", secret), ("hex", secret.hex().encode()),
             ("HEX", secret.hex().upper().encode()),
             ("base64", __import__("base64").b64encode(secret))]
    with open(d.errpath, "rb") as f:
        log = f.read()
    with open(os.path.join(d.state, "data.mdb"), "rb") as f:
        data = f.read()
    for where, blob in (("log", log), ("stats", st), ("explain", ex),
                        ("reload reply", rl), ("data.mdb", data)):
        for name, v in forms:
            check(v not in blob, "the secret (%s) is in the %s" % (
                name, where))


@T.case("as root: 'nobody' cannot connect to the 0660 socket")
def _():
    if os.geteuid() != 0:
        raise rgtest.Skip("not root: cannot switch to nobody to test the "
                          "socket mode")
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        raise rgtest.Skip("no user 'nobody'")

    def try_as_nobody(path):
        """0 connected and pinged, else the errno (from a child)."""
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 99
            try:
                os.close(r)
                os.setgroups([])
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(rgtest.IO_TIMEOUT)
                try:
                    s.connect(path)
                    s.sendall(b'{"op":"ping"}\n')
                    code = 0 if s.recv(100).startswith(b'{"ok":true') \
                        else 98
                except OSError as e:
                    code = e.errno or 97
            finally:
                os.write(w, bytes([code & 255]))
                os._exit(0)
        os.close(w)
        got = os.read(r, 1)
        os.close(r)
        os.waitpid(pid, 0)
        return got[0] if got else 96

    import errno
    d = rgtest.Daemon("sockmode")
    os.chmod(d.dir, 0o755)      # only the socket's own mode may refuse
    d.start()
    eq(os.stat(d.sock).st_mode & 0o777, 0o660, "socket mode")
    rc = try_as_nobody(d.sock)
    eq(rc, errno.EACCES, "connect as nobody to a 0660 root socket "
       "(errno)")
    d.stop()
    # the control: with 0666 the same user gets in, so the mode is what
    # refused it above
    d.conf["socket_mode"] = "0666"
    d.write_conf()
    d.start()
    eq(try_as_nobody(d.sock), 0, "connect as nobody to a 0666 socket")
    d.stop()


if __name__ == "__main__":
    sys.exit(T.main())
