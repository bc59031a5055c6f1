#!/usr/bin/env python3
"""refguard under systemd, as far as it can be tested without systemd as
PID 1: the units pass `systemd-analyze verify`, `systemd-analyze security
--offline` rates the service 2.0 or lower, the sysusers.d and tmpfiles.d
files make the user and the directories, and the daemon speaks the
sd_notify protocol (READY=1 only once it serves, STATUS=, WATCHDOG=1 at
half of WATCHDOG_USEC, RELOADING=1, STOPPING=1) to a NOTIFY_SOCKET this
test binds, and serves a socket passed the socket-activation way.

Cases that need a tool this machine lacks (systemd-analyze with
--offline, systemd-sysusers, root) or a daemon built without libsystemd
are skipped with the reason."""

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
from rgtest import Fail, Skip, check, eq  # noqa: E402

T = rgtest.Suite("test_systemd")
SYSTEMD_DIR = os.path.join(rgtest.SRCDIR, "systemd")
MAX_EXPOSURE = 2.0


def have_libsystemd():
    try:
        with open(os.path.join(rgtest.BUILDDIR, "config.h")) as f:
            return re.search(r"^#define HAVE_SYSTEMD 1$", f.read(),
                             re.M) is not None
    except OSError:
        return False


def need_libsystemd():
    if not have_libsystemd():
        raise Skip("refguardd built without libsystemd (no sd_notify)")


def tool(name):
    p = shutil.which(name)
    if p is None:
        raise Skip("%s not installed (Debian package systemd)" % name)
    return p


def analyze_supports(sub, opt):
    rc, out, err = rgtest.run([tool("systemd-analyze"), sub, "--help"])
    return opt in out + err


def units_for_test(tmp):
    """The .in templates with this build's refguardd, as make would
    substitute them for an install into the build tree."""
    subst = {
        "sbindir": os.path.dirname(rgtest.REFGUARDD),
        "sysconfdir": os.path.join(tmp, "etc"),
        "localstatedir": "/var",
        "runstatedir": "/run",
    }
    out = {}
    shutil.copy(os.path.join(SYSTEMD_DIR, "refguard-update-data.timer"), tmp)
    out["refguard-update-data.timer"] = os.path.join(
        tmp, "refguard-update-data.timer")
    for name in ("refguard.service", "refguard.socket",
                 "refguard-update-data.service"):
        with open(os.path.join(SYSTEMD_DIR, name + ".in")) as f:
            text = f.read()
        for k, v in subst.items():
            text = text.replace("@%s@" % k, v)
        check(re.search(r"@[a-z_]+@", text) is None,
              "%s.in has a substitution make does not do" % name,
              re.findall(r"@[a-z_]+@", text))
        p = os.path.join(tmp, name)
        with open(p, "w") as f:
            f.write(text)
        out[name] = p
    return out


def unit_settings(path):
    """{key: [values]} of a unit file (all sections)."""
    kv = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;[" or "=" not in line:
                continue
            k, v = line.split("=", 1)
            kv.setdefault(k, []).append(v)
    return kv


# ---- the unit files ---------------------------------------------------

@T.case("generated units are fully substituted")
def generated_units():
    for name in ("refguard.service", "refguard.socket",
                 "refguard-update-data.service"):
        p = os.path.join(rgtest.BUILDDIR, "systemd", name)
        if not os.path.exists(p):
            raise Skip("%s not built (run through make check)" % p)
        with open(p) as f:
            text = f.read()
        check(re.search(r"@[a-z_]+@|\$\{prefix\}", text) is None,
              "%s has unexpanded paths" % p, text)
    kv = unit_settings(os.path.join(rgtest.BUILDDIR, "systemd",
                                    "refguard.service"))
    check(kv["ExecStart"][0].split()[0].endswith("/sbin/refguardd"),
          "ExecStart is not the installed refguardd", kv["ExecStart"])


@T.case("units agree with each other and the daemon's defaults")
def units_agree():
    tmp = rgtest.mkdtemp("sdu")
    u = units_for_test(tmp)
    svc = unit_settings(u["refguard.service"])
    sck = unit_settings(u["refguard.socket"])
    eq(svc["Type"], ["notify"], "Type=")
    eq(svc["ExecReload"], ["/bin/kill -HUP $MAINPID"], "ExecReload=")
    check(" -t " in svc["ExecStartPre"][0], "ExecStartPre= is not -t",
          svc["ExecStartPre"])
    check(" -f " in svc["ExecStart"][0], "ExecStart= is not -f",
          svc["ExecStart"])
    check("WatchdogSec" in svc, "no WatchdogSec=")
    # a descriptor per connection at the default limits, and the daemon's
    # own (ACCEPT_FD_RESERVE in src/accept.h)
    with open(os.path.join(rgtest.SRCDIR, "refguard.conf.sample")) as f:
        sample = f.read()
    need = 64
    for key in ("max_connections", "http_max_connections"):
        m = re.search(r"(?m)^#%s = (\d+)$" % key, sample)
        check(m is not None, "refguard.conf.sample has no #%s" % key)
        need += int(m.group(1))
    check(int(svc.get("LimitNOFILE", ["0"])[0]) >= need, "LimitNOFILE= "
          "does not fit the default connection limits (%d)" % need,
          svc.get("LimitNOFILE"))
    eq(svc["User"], ["refguard"], "User=")
    eq(svc["Group"], ["refguard"], "Group=")
    eq(svc["StateDirectory"], ["refguard"], "StateDirectory=")
    eq(svc["RuntimeDirectory"], ["refguard"], "RuntimeDirectory=")
    # The socket lives in the runtime directory and is the daemon's and
    # refguardctl's default path (with --runstatedir=/run).
    eq(sck["ListenStream"], ["/run/refguard/refguard.sock"], "ListenStream=")
    eq(sck["SocketMode"], ["0660"], "SocketMode=")
    eq(sck["SocketGroup"], ["refguard"], "SocketGroup=")
    check("refguard.socket" in svc["Requires"][0], "service does not "
          "require its socket", svc.get("Requires"))
    with open(os.path.join(rgtest.SRCDIR, "refguard.conf.sample")) as f:
        sample = f.read()
    check("#socket = /run/refguard/refguard.sock" in sample,
          "refguard.conf.sample's socket default differs from the unit")
    check("#state_dir = /var/lib/refguard" in sample,
          "refguard.conf.sample's state_dir default differs from the unit")


@T.case("systemd-analyze verify")
def analyze_verify():
    sa = tool("systemd-analyze")
    if not analyze_supports("verify", "--man"):
        raise Skip("systemd-analyze verify has no --man=no here")
    tmp = rgtest.mkdtemp("sdv")
    u = units_for_test(tmp)
    rc, out, err = rgtest.run([sa, "verify", "--man=no",
                               u["refguard.service"], u["refguard.socket"],
                               u["refguard-update-data.service"],
                               u["refguard-update-data.timer"]],
                              cwd=tmp, timeout=60)
    check(rc == 0 and err.strip() == "", "systemd-analyze verify "
          "complained (exit %d)" % rc, out + err)


@T.case("systemd-analyze security rates it %.1f or lower" % MAX_EXPOSURE)
def analyze_security():
    sa = tool("systemd-analyze")
    if not analyze_supports("security", "--offline"):
        raise Skip("systemd-analyze is too old for security --offline "
                   "(needs systemd 250)")
    tmp = rgtest.mkdtemp("sds")
    u = units_for_test(tmp)
    rc, out, err = rgtest.run([sa, "security", "--offline=true",
                               "--no-pager", u["refguard.service"]],
                              cwd=tmp, timeout=60)
    m = re.search(r"Overall exposure level for refguard\.service: "
                  r"([0-9]+\.[0-9]+)", out + err)
    check(m is not None, "no exposure level in the output (exit %d)" % rc,
          out + err)
    level = float(m.group(1))
    print("#   exposure level %.1f" % level)
    if level > MAX_EXPOSURE:
        bad = [l for l in out.splitlines() if l.startswith("\u2717")]
        raise Fail("exposure %.1f > %.1f; open items:\n%s" % (
            level, MAX_EXPOSURE, "\n".join(bad)))


@T.case("sysusers.d and tmpfiles.d make the user and directories")
def sysusers_tmpfiles():
    su = tool("systemd-sysusers")
    tf = tool("systemd-tmpfiles")
    if os.geteuid() != 0:
        raise Skip("needs root to give the directories their owner")
    root = rgtest.mkdtemp("sdr")
    os.makedirs(os.path.join(root, "etc"))
    for f in ("passwd", "group", "shadow", "gshadow"):
        open(os.path.join(root, "etc", f), "w").close()
    rc, out, err = rgtest.run([su, "--root=" + root, os.path.join(
        SYSTEMD_DIR, "refguard.sysusers")])
    eq(rc, 0, "systemd-sysusers exit status (%s)" % err.strip())
    with open(os.path.join(root, "etc", "passwd")) as f:
        pw = [l.split(":") for l in f.read().splitlines()
              if l.startswith("refguard:")]
    check(len(pw) == 1, "no refguard user in passwd")
    uid, gid = int(pw[0][2]), int(pw[0][3])
    check(uid != 0 and gid != 0, "refguard is root", pw)
    rc, out, err = rgtest.run([tf, "--root=" + root, "--create",
                               os.path.join(SYSTEMD_DIR,
                                            "refguard.tmpfiles")])
    eq(rc, 0, "systemd-tmpfiles exit status (%s)" % err.strip())
    for d, mode in (("var/lib/refguard", 0o700), ("run/refguard", 0o750)):
        st = os.stat(os.path.join(root, d))
        eq((st.st_uid, st.st_gid), (uid, gid), "owner of /" + d)
        eq(st.st_mode & 0o7777, mode, "mode of /" + d)


# ---- sd_notify --------------------------------------------------------

class Notify:
    """A NOTIFY_SOCKET: the datagram socket systemd would listen on."""

    def __init__(self, dir):
        self.path = os.path.join(dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.msgs = []      # (monotonic time, {key: value})

    def close(self):
        self.sock.close()

    def recv(self, timeout):
        """The next message as a dict, or None after timeout."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return None
        kv = {}
        for line in data.decode("utf-8", "replace").split("\n"):
            if "=" in line:
                k, v = line.split("=", 1)
                kv[k] = v
        self.msgs.append((time.monotonic(), kv))
        return kv

    def wait_for(self, key, value=None, timeout=10.0):
        """Read until a message has key (=value); returns it."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Fail("no %s%s from the daemon within %.0fs; got %s" % (
                    key, "=" + value if value else "", timeout,
                    [m for _, m in self.msgs][-10:]))
            m = self.recv(left)
            if m is not None and key in m and (value is None or
                                               m[key] == value):
                return m

    def collect(self, seconds):
        """Every message within seconds."""
        out = []
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            m = self.recv(left)
            if m is not None:
                out.append(m)


def spawn_with_env(d, env):
    old = {k: os.environ.get(k) for k in env}
    os.environ.update({k: v for k, v in env.items() if v is not None})
    for k, v in env.items():
        if v is None:
            os.environ.pop(k, None)
    try:
        return d.spawn()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def ping(path):
    with rgtest.Client(path, timeout=5.0) as c:
        r, raw = c.call({"op": "ping"})
        check(r.get("ok") is True, "ping failed", raw)


@T.case("READY=1 only once serving, STATUS=, WATCHDOG=1, reload, stop")
def notify_lifecycle():
    need_libsystemd()
    d = rgtest.Daemon("sdn", rules="empty")
    n = Notify(d.dir)
    try:
        # 400 ms: pings every 200 ms from the event loop.
        spawn_with_env(d, {"NOTIFY_SOCKET": n.path,
                           "WATCHDOG_USEC": "400000", "WATCHDOG_PID": None})
        ready = n.wait_for("READY", "1")
        before = [m for _, m in n.msgs[:-1]]
        check(any("STATUS" in m for m in before),
              "no STATUS= while starting", before)
        check(not any("WATCHDOG" in m for m in before),
              "WATCHDOG=1 before READY=1", before)
        check("serving" in ready.get("STATUS", ""), "READY=1 without a "
              "serving STATUS=", ready)
        # READY=1 means it serves: the socket answers at once, no retry.
        ping(d.sock)

        # The pings keep coming: three in a row (how fast is the timer's
        # business; a loaded machine sends them late, not wrong).
        for k in range(3):
            n.wait_for("WATCHDOG", "1")

        d.signal(signal.SIGHUP)
        m = n.wait_for("RELOADING", "1")
        check("reloading" in m.get("STATUS", ""), "no reloading STATUS=", m)
        m = n.wait_for("READY", "1")
        check("serving" in m.get("STATUS", "") and
              "failed" not in m["STATUS"], "bad STATUS= after a reload", m)

        # A reload that fails keeps serving and says so.
        with open(os.path.join(d.rules, "99-broken.rules"), "w") as f:
            f.write("this is not a rule\n")
        d.signal(signal.SIGHUP)
        n.wait_for("RELOADING", "1")
        m = n.wait_for("READY", "1")
        check("last reload failed" in m.get("STATUS", ""),
              "STATUS= does not tell of the failed reload", m)
        ping(d.sock)

        d.signal(signal.SIGTERM)
        n.wait_for("STOPPING", "1")
        d.wait(0)
    finally:
        n.close()


@T.case("no WATCHDOG=1 unless asked, or asked for another pid")
def notify_no_watchdog():
    need_libsystemd()
    for env in ({"WATCHDOG_USEC": None, "WATCHDOG_PID": None},
                {"WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"}):
        d = rgtest.Daemon("sdw", rules="empty")
        n = Notify(d.dir)
        try:
            env = dict(env, NOTIFY_SOCKET=n.path)
            spawn_with_env(d, env)
            n.wait_for("READY", "1")
            got = n.collect(0.6)
            check(not any("WATCHDOG" in m for m in got),
                  "WATCHDOG=1 sent with %s" % env, got)
            d.stop()
        finally:
            n.close()


class ActivatedDaemon(rgtest.Daemon):
    """refguardd started the way systemd starts a socket-activated
    service: the listening socket as fd 3, LISTEN_FDS=1, LISTEN_PID=its
    own pid (a tiny exec wrapper sets it)."""

    listen = None

    def spawn(self):
        self.runs += 1
        self.errpath = os.path.join(self.dir, "stderr.%d" % self.runs)
        errf = open(self.errpath, "wb")
        fd = self.listen.fileno()
        wrap = ("import os, sys\n"
                "fd = int(sys.argv[1])\n"
                "if fd != 3:\n"
                "    os.dup2(fd, 3)\n"
                "    os.close(fd)\n"
                "os.environ['LISTEN_PID'] = str(os.getpid())\n"
                "os.environ['LISTEN_FDS'] = '1'\n"
                "os.execv(sys.argv[2], sys.argv[2:])\n")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", wrap, str(fd)] + self.argv(),
            stdin=subprocess.DEVNULL, stdout=errf, stderr=errf,
            cwd=self.dir, pass_fds=(fd,))
        errf.close()
        if self not in rgtest._live:
            rgtest._live.append(self)
        return self.proc


@T.case("socket activation: serves the passed socket, never unlinks it")
def socket_activation():
    need_libsystemd()
    d = ActivatedDaemon("sda", rules="empty")
    own = d.sock                                # what the config names
    d.sock = os.path.join(d.dir, "activated.sock")
    d.listen = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    d.listen.bind(d.sock)
    d.listen.listen(16)
    n = Notify(d.dir)
    try:
        os.environ["NOTIFY_SOCKET"] = n.path
        try:
            d.spawn()
        finally:
            del os.environ["NOTIFY_SOCKET"]
        m = n.wait_for("READY", "1")
        check("systemd passed" in m.get("STATUS", ""),
              "STATUS= does not name the passed socket", m)
        ping(d.sock)
        check(not os.path.exists(own), "bound its own socket as well")
        d.stop()
        check(os.path.exists(d.sock), "unlinked the passed socket")
        # The socket unit keeps listening: a connection queues for the
        # next start, as systemd would.
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(rgtest.IO_TIMEOUT)
        c.connect(d.sock)
        c.close()
    finally:
        n.close()
        d.listen.close()


if __name__ == "__main__":
    sys.exit(T.main())
