"""rgtest: the shared harness of refguard's integration tests.

Each test_*.py is a script run by automake's test harness. It starts the
real refguardd (from $REFGUARDD) in a fresh temporary directory with a
generated refguard.conf, talks NDJSON to its Unix socket, and reports one
line per case and a last line "N passed, F failed". Exit status: 0 all
passed, 1 a case failed, 77 skipped (the binaries are missing).

Environment (set by Makefile.am's AM_TESTS_ENVIRONMENT):
    REFGUARDD, REFGUARDCTL   absolute paths of the built programs
    top_srcdir, top_builddir the trees (rules/ and tests/fixtures/ are
                             taken from top_srcdir)
    RGTEST_KEEP=1            keep the temporary directories for a look
    RGTEST_VERBOSE=1         copy each daemon's stderr to ours on failure
                             (always done for a failed case)
    ASAN_OPTIONS, UBSAN_OPTIONS  inherited by the daemons (contrib/setup.sh
                             sanitize); a case whose daemon printed a
                             sanitizer report fails, and timeouts stretch
                             (a sanitized daemon runs two to three times
                             slower, its start-up's rule tests too)
    RG_VALGRIND=1            run each refguardd under valgrind (memcheck,
                             --leak-check=full, definite leaks are errors,
                             exit status 1 on any error: contrib/setup.sh
                             valgrind); a case whose daemon printed a
                             valgrind error fails, and timeouts stretch

Only the Python standard library is used.
"""

import errno
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

SKIP = 77

SRCDIR = os.path.abspath(os.environ.get(
    "top_srcdir", os.path.join(os.path.dirname(__file__), "..", "..")))
BUILDDIR = os.path.abspath(os.environ.get("top_builddir", "."))
RULES_DIR = os.path.join(SRCDIR, "rules")
# The policy shipped before the layered one, frozen: tests of other
# features (backtest, analyst tools, reloads, store safety) that need
# its simple, well-known verdicts (velocity, farm and self-referral
# rules) use it, so policy changes do not move them.
CLASSIC_RULES_DIR = os.path.join(SRCDIR, "tests", "fixtures", "rules-classic")
FIXTURES = os.path.join(SRCDIR, "tests", "fixtures")
KEEP = os.environ.get("RGTEST_KEEP", "") not in ("", "0")

VALGRIND = os.environ.get("RG_VALGRIND", "") not in ("", "0")
VALGRIND_ARGV = ["valgrind", "--quiet", "--error-exitcode=1",
                 "--leak-check=full", "--errors-for-leak-kinds=definite",
                 "--show-leak-kinds=definite", "--num-callers=30"]
SANITIZED = any(os.environ.get(v) for v in ("ASAN_OPTIONS",
                                             "UBSAN_OPTIONS"))
# Timeouts are hang guards: they stretch where the daemon is slower.
_SLOW = 10.0 if VALGRIND else 3.0 if SANITIZED else 1.0

START_TIMEOUT = 10.0 * _SLOW    # daemon start-up until it answers ping
STOP_TIMEOUT = 40.0 * _SLOW     # SIGTERM until exit (drains up to 30 s)
IO_TIMEOUT = 20.0 * _SLOW       # one socket read or write

_live = []              # daemons to kill at exit
_tmpdirs = []           # temporary directories to remove at exit


class Skip(Exception):
    """Raised by a case that cannot run here; the message says why."""


class Fail(AssertionError):
    pass


def _binary(var, name):
    p = os.environ.get(var)
    if not p:
        cand = os.path.join(BUILDDIR, name)
        p = cand if os.path.exists(cand) else None
    return p


REFGUARDD = _binary("REFGUARDD", "refguardd")
REFGUARDCTL = _binary("REFGUARDCTL", "refguardctl")


def now_ms():
    return int(time.time() * 1000)


def rfc3339(ms):
    """Unix milliseconds as the daemon writes a time: ...T10:00:00.250Z"""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + \
        ".%03dZ" % (ms % 1000)


def free_ports(n):
    """n loopback ports free now, below the kernel's ephemeral range: a
    server may start on one many seconds later, and a port the kernel
    hands out by itself (to any connection made meanwhile, by the daemon
    or a test running beside) could be taken by then."""
    low = 32768
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    rnd = random.SystemRandom()
    ports = []
    while len(ports) < n:
        if low < 1024 + 4096:   # no room below that range: any port
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
            s.close()
            continue
        p = rnd.randrange(max(1024, low - 16384), low)
        if p in ports:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            s.close()
        ports.append(p)
    return ports


def mkdtemp(tag="rg"):
    """A fresh directory short enough for a Unix socket path inside it."""
    base = os.environ.get("TMPDIR") or "/tmp"
    if len(base) > 60:
        base = "/tmp"
    d = tempfile.mkdtemp(prefix="rgt-%s-" % tag, dir=base)
    _tmpdirs.append(d)
    return d


def jdump(obj):
    """Compact JSON as a request line (no newline)."""
    return json.dumps(obj, separators=(",", ":"))


def short(b, n=400):
    """A reply or output for a failure message, cut to n characters."""
    if isinstance(b, (bytes, bytearray)):
        b = bytes(b).decode("utf-8", "replace")
    b = str(b)
    return b if len(b) <= n else b[:n] + "...(%d more)" % (len(b) - n)


# ---- assertions -------------------------------------------------------

def check(cond, msg, *got):
    """Fail the case with msg (and what was got) unless cond."""
    if not cond:
        if got:
            msg += ": got " + " | ".join(short(g) for g in got)
        raise Fail(msg)


def eq(got, want, what):
    if got != want:
        raise Fail("%s: expected %s, got %s" % (what, short(repr(want)),
                                                short(repr(got))))


def is_error(reply, code=None, field=None, raw=None):
    """reply (a dict) is {"error":{"code":..,"msg":..}} with code/field."""
    raw = raw if raw is not None else reply
    check(isinstance(reply, dict) and isinstance(reply.get("error"), dict),
          "expected an error reply", raw)
    e = reply["error"]
    check(isinstance(e.get("code"), str) and isinstance(e.get("msg"), str)
          and e["msg"] != "", "error without code or msg", raw)
    if code is not None:
        check(e["code"] == code, "expected error code %r" % code, raw)
    if field is not None:
        check(e.get("field") == field, "expected error field %r" % field,
              raw)
    return e


# ---- the client -------------------------------------------------------

class Closed(Exception):
    """The daemon closed the connection (EOF or reset)."""


class Client:
    """One connection to the daemon's socket: lines out, lines in."""

    def __init__(self, path, timeout=IO_TIMEOUT):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        # A full listen backlog makes a non-blocking Unix connect fail
        # with EAGAIN (Python's timeout mode is non-blocking): retry.
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock.connect(path)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self.sock.close()
                    raise
                time.sleep(0.005)
        self.buf = bytearray()
        self.eof = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def send(self, req):
        """Send one request: a dict (JSON-encoded), str or bytes line."""
        if isinstance(req, dict):
            req = jdump(req)
        if isinstance(req, str):
            req = req.encode()
        self.sock.sendall(req + b"\n")

    def _fill(self):
        try:
            data = self.sock.recv(1 << 16)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            raise Closed("connection closed by the daemon")
        self.buf += data

    def read_raw(self):
        """One reply line as bytes, without the newline."""
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 1]
                return line
            if self.eof:
                raise Closed("connection closed by the daemon")
            self._fill()

    def read(self):
        """One reply line, decoded: (dict, raw bytes)."""
        raw = self.read_raw()
        try:
            return json.loads(raw), raw
        except ValueError:
            raise Fail("reply is not JSON: %s" % short(raw))

    def call(self, req):
        """Send one request, return (reply dict, raw reply bytes)."""
        self.send(req)
        return self.read()

    def at_eof(self, timeout=IO_TIMEOUT):
        """True once the daemon has closed (after any buffered lines);
        False if it has not within timeout (a hang guard; the default,
        IO_TIMEOUT, stretched under valgrind)."""
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            while not self.eof:
                self._fill()
        except Closed:
            return True
        except socket.timeout:
            return False
        finally:
            self.sock.settimeout(old)
        return True

    def pipeline(self, reqs, stop_after=None, on_progress=None):
        """Send every request without waiting, read the replies as they
        come (a thread writes while this one reads, so neither side can
        deadlock on full buffers). Returns the raw reply lines in order.
        If the daemon closes early, returns what arrived (the caller
        compares the count)."""
        lines = [(jdump(r) if isinstance(r, dict) else r) for r in reqs]
        payload = "".join(l + "\n" for l in lines).encode()
        err = []

        def writer():
            try:
                self.sock.sendall(payload)
            except OSError as e:    # closed under us: the reader says why
                err.append(e)
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        out = []
        try:
            while len(out) < len(lines):
                out.append(self.read_raw())
                if on_progress is not None:
                    on_progress(len(out))
        except Closed:
            pass
        t.join(IO_TIMEOUT)
        return out


# ---- the daemon -------------------------------------------------------

class Daemon:
    """A refguardd in its own temporary directory.

    conf: extra refguard.conf keys (None values are left out). rules:
    a path, "shipped" (the repository's rules/), or "empty" (an empty
    directory holding one empty .rules file: no rules at all)."""

    def __init__(self, tag="d", rules="shipped", conf=None, dir=None,
                 debug=False):
        self.dir = dir or mkdtemp(tag)
        self.sock = os.path.join(self.dir, "rg.sock")
        self.state = os.path.join(self.dir, "state")
        self.conf_path = os.path.join(self.dir, "refguard.conf")
        self.debug = debug
        if rules == "shipped":
            rules = RULES_DIR
        elif rules == "classic":
            rules = CLASSIC_RULES_DIR
        elif rules == "empty":
            rules = os.path.join(self.dir, "rules.empty")
            os.makedirs(rules, exist_ok=True)
            open(os.path.join(rules, "00-empty.rules"), "w").close()
        self.rules = rules
        self.conf = {
            "socket": "rg.sock",
            "state_dir": "state",
            "rules": rules,
            "log_level": "info",
            "sync": "full",
        }
        if conf:
            self.conf.update(conf)
        self.proc = None
        self.persistent = False     # shared by cases: not killed after one
        self.runs = 0
        # Added to the daemon's environment (preload_hold_open()).
        self.env = {}
        self.errpath = None
        self.write_conf()

    def write_conf(self, text=None):
        """(Re)write refguard.conf from self.conf, or write text as is."""
        if text is None:
            text = "# generated by rgtest.py\n" + "".join(
                "%s = %s\n" % (k, _confval(v))
                for k, v in self.conf.items() if v is not None)
        with open(self.conf_path, "w") as f:
            f.write(text)

    def preload_hold_open(self, path):
        """Run the daemon with tests/integration/hold_open.so, which holds
        an open() of path while path + ".hold" exists (hold_open())."""
        lib = os.path.join(BUILDDIR, "tests", "integration", "hold_open.so")
        check(os.path.exists(lib), "%s not built" % lib)
        self.env["LD_PRELOAD"] = lib
        self.env["RGTEST_HOLD_OPEN"] = path
        # (the sanitizer runtime is then not first in the library list)
        asan = os.environ.get("ASAN_OPTIONS", "")
        self.env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + \
            "verify_asan_link_order=0"

    def hold_open(self, path):
        """Hold the daemon's next open() of path (preload_hold_open()).
        Returns release(), which returns once that open() waits (the
        caller's sign that the daemon got there) and lets it go on; later
        opens are not held."""
        gate = path + ".hold"
        os.mkfifo(gate)

        def release():
            fd = os.open(gate, os.O_WRONLY)
            os.unlink(gate)
            os.close(fd)
        return release

    def argv(self, *extra):
        a = (VALGRIND_ARGV if VALGRIND else []) + [
            REFGUARDD, "-f", "-c", self.conf_path]
        if self.debug:
            a.append("-d")
        return a + list(extra)

    def spawn(self):
        """Start the process, do not wait for it to answer."""
        check(self.proc is None or self.proc.poll() is not None,
              "daemon already running")
        self.runs += 1
        self.errpath = os.path.join(self.dir, "stderr.%d" % self.runs)
        errf = open(self.errpath, "wb")
        env = dict(os.environ, **self.env) if self.env else None
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                     stdout=errf, stderr=errf,
                                     cwd=self.dir, env=env)
        errf.close()
        if self not in _live:
            _live.append(self)
        return self.proc

    def start(self, timeout=START_TIMEOUT):
        """Start and wait until the socket answers ping; fail with the
        daemon's stderr if it exits or does not answer in time."""
        self.spawn()
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise Fail("refguardd exited with %d during start-up; "
                           "stderr:\n%s" % (rc, self.stderr()))
            try:
                with Client(self.sock, timeout=2.0) as c:
                    r, raw = c.call({"op": "ping"})
                    if r.get("ok") is True:
                        return self
                    last = raw
            except (OSError, Closed, Fail) as e:
                last = e
            time.sleep(0.02)
        self.kill()
        raise Fail("refguardd did not answer ping within %.0fs (last: %s); "
                   "stderr:\n%s" % (timeout, short(str(last)), self.stderr()))

    def run_to_exit(self, timeout=START_TIMEOUT):
        """Start a daemon that is expected to stop by itself (a refused
        start-up): returns (exit status, stderr text)."""
        self.spawn()
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Fail("refguardd kept running (expected it to refuse to "
                       "start); stderr:\n%s" % self.stderr())
        return rc, self.stderr()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def holder(self):
        """How a refused second writer of this daemon's state directory
        names it (under valgrind the process is valgrind's tool)."""
        if VALGRIND:
            return "(pid %d)" % self.proc.pid
        return "in use by refguardd (pid %d)" % self.proc.pid

    def stderr(self, run=None):
        """The stderr (and stdout) text of this run (or of run N)."""
        p = self.errpath if run is None else os.path.join(
            self.dir, "stderr.%d" % run)
        if p is None or not os.path.exists(p):
            return ""
        with open(p, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_mark(self):
        """Where this run's log ends now: wait_log(..., after=mark) then
        only looks at what the daemon wrote since."""
        return len(self.stderr())

    def wait_log(self, pattern, after=0, timeout=IO_TIMEOUT):
        """Wait until this run's log has a line matching the regular
        expression pattern past offset after (log_mark()); returns the
        match. Fails if the daemon exits or nothing matches in time."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.stderr(), after)
            if m is not None:
                return m
            if not self.alive():
                raise Fail("refguardd exited (%s) before logging /%s/; "
                           "stderr:\n%s" % (self.proc.poll(), pattern,
                                             self.stderr()))
            if time.monotonic() > deadline:
                raise Fail("no log line /%s/ within %.0fs; stderr:\n%s" % (
                    pattern, timeout, self.stderr()[-3000:]))
            time.sleep(0.02)

    def signal(self, sig):
        check(self.alive(), "daemon not running (exit %s); stderr:\n%s" % (
            self.proc and self.proc.poll(), self.stderr()))
        self.proc.send_signal(sig)

    def stop(self, expect=0, timeout=STOP_TIMEOUT):
        """SIGTERM, wait, and check the exit status (None: any)."""
        self.signal(signal.SIGTERM)
        return self.wait(expect, timeout)

    def wait(self, expect=0, timeout=STOP_TIMEOUT):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Fail("refguardd did not exit within %.0fs of SIGTERM; "
                       "stderr:\n%s" % (timeout, self.stderr()))
        if expect is not None and rc != expect:
            raise Fail("refguardd exited with %d, expected %d; stderr:\n%s"
                       % (rc, expect, self.stderr()))
        return rc

    def kill(self):
        """SIGKILL (a crash); the state dir and socket file stay."""
        if self.alive():
            self.proc.kill()
            self.proc.wait(10)

    def restart(self, timeout=START_TIMEOUT):
        if self.alive():
            self.stop()
        return self.start(timeout)

    def client(self, timeout=IO_TIMEOUT):
        return Client(self.sock, timeout)

    def call(self, req):
        with self.client() as c:
            return c.call(req)

    def ok(self, req):
        """call(req), failing the case on an error reply: (reply, raw)."""
        r, raw = self.call(req)
        check(isinstance(r, dict) and "error" not in r,
              "%s failed" % req.get("op"), raw)
        return r, raw

    def import_from(self, src, export):
        """refguardctl import of the file export (made from Daemon src)
        into this daemon's fresh state directory, then src's secret beside
        it, as an operator moves a store. Fails unless the import exits 0;
        returns its stderr (the summary and any warning)."""
        rc, out, err = run([REFGUARDCTL, "import", "--state", self.state,
                            export], timeout=120)
        eq(rc, 0, "import exit status (stderr %r)" % err)
        secret = os.path.join(self.state, "secret")
        shutil.copy(os.path.join(src.state, "secret"), secret)
        os.chmod(secret, 0o600)
        return err

    def stats(self):
        r, raw = self.call({"op": "stats"})
        check("error" not in r, "stats failed", raw)
        return r

    def wait_stats(self, pred, what, timeout=IO_TIMEOUT, via=None):
        """Ask stats until pred(stats) holds: how a case waits for
        something the daemon does by itself (a connection accepted, a
        request decoded, a timer fired). The timeout only keeps a broken
        daemon from hanging the case; it is not a bound on speed. via: a
        Client to ask on (when no new connection would be taken), else a
        new connection each time. Returns the stats that satisfied pred."""
        deadline = time.monotonic() + timeout
        while True:
            if via is not None:
                st, raw = via.call({"op": "stats"})
                check("error" not in st, "stats failed", raw)
            else:
                st = self.stats()
            if pred(st):
                return st
            if time.monotonic() > deadline:
                raise Fail("waited %.0fs for %s; stats: %s" % (
                    timeout, what, short(jdump(st), 1500)))
            time.sleep(0.01)

    def ctl(self, *args, input=None, timeout=30, sock=None):
        """Run refguardctl -s SOCK args: (exit status, stdout, stderr)."""
        argv = [REFGUARDCTL, "-s", sock or self.sock] + list(args)
        return run(argv, input=input, timeout=timeout)


class Shared:
    """The daemon a test file's cases share (Daemon.persistent): started at
    the first call, and again whenever a case left it stopped. Calling it
    gives the running Daemon; call() and ok() are that daemon's. http: an
    HTTP listener on a Unix socket in its directory (conf "http_listen")."""

    def __init__(self, tag, rules="classic", http=False, conf=None):
        self.tag, self.rules, self.http, self.conf = tag, rules, http, conf
        self.d = None

    def __call__(self):
        if self.d is None or not self.d.alive():
            d = Daemon(self.tag, rules=self.rules, conf=self.conf)
            d.persistent = True
            if self.http:
                d.conf["http_listen"] = os.path.join(d.dir, "http.sock")
                d.write_conf()
            self.d = d.start()
        return self.d

    def use(self, d):
        """Share d (a case's own daemon) from now on."""
        self.d = d

    def call(self, req):
        return self().call(req)

    def ok(self, req):
        return self().ok(req)


class StoreLock:
    """Hold the write lock of a daemon's store from this process (the
    LMDB library through ctypes: a write transaction begun and held).
    The daemon's writer thread then blocks at its next batch, so the
    requests handed to it stay in flight (stats writer.inflight) until
    release(): a case can act while they are pending, which no sleep
    could promise. Use as a context manager, or call release()."""

    MDB_NOTLS = 0x200000

    def __init__(self, d):
        import ctypes
        import ctypes.util
        name = ctypes.util.find_library("lmdb") or "liblmdb.so.0"
        try:
            self.lib = ctypes.CDLL(name)
        except OSError as e:
            raise Skip("cannot load the LMDB library (%s): %s" % (name, e))
        self.env = ctypes.c_void_p()
        self.txn = ctypes.c_void_p()
        lib = self.lib
        lib.mdb_strerror.restype = ctypes.c_char_p
        rc = lib.mdb_env_create(ctypes.byref(self.env))
        if rc == 0:
            rc = lib.mdb_env_set_maxdbs(self.env, 64)
        if rc == 0:
            rc = lib.mdb_env_open(self.env, d.state.encode(),
                                  self.MDB_NOTLS, 0o600)
        if rc == 0:
            rc = lib.mdb_txn_begin(self.env, None, 0,
                                   ctypes.byref(self.txn))
        if rc != 0:
            msg = lib.mdb_strerror(rc).decode()
            if self.env:
                lib.mdb_env_close(self.env)
            raise Fail("cannot take the store's write lock: %s" % msg)

    def release(self):
        if self.txn:
            self.lib.mdb_txn_abort(self.txn)
            self.txn = None
        if self.env:
            self.lib.mdb_env_close(self.env)
            self.env = None

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.release()


def _confval(v):
    if isinstance(v, bool):
        return "yes" if v else "no"
    v = str(v)
    if v == "" or any(c in v for c in " #\"\t"):
        return '"%s"' % v.replace("\\", "\\\\").replace('"', '\\"')
    return v


def run(argv, input=None, timeout=30, cwd=None):
    """Run a program: (exit status, stdout text, stderr text)."""
    try:
        p = subprocess.run(argv, input=input.encode() if isinstance(
            input, str) else input, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired:
        raise Fail("%s timed out after %ss" % (" ".join(argv), timeout))
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


# ---- the suite --------------------------------------------------------

class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


class Suite:
    """Cases run in order; each gets a wall-clock limit (SIGALRM) so that
    a hang fails the case instead of blocking the test run."""

    def __init__(self, name):
        self.name = name
        self.cases = []

    def case(self, name, timeout=60):
        def deco(fn):
            self.cases.append((name, fn, timeout))
            return fn
        return deco

    def main(self):
        for var, p in (("REFGUARDD", REFGUARDD),
                       ("REFGUARDCTL", REFGUARDCTL)):
            if not p or not os.access(p, os.X_OK):
                print("SKIP: %s not set or not executable (%r); build "
                      "first and run through make check" % (var, p))
                return SKIP
        signal.signal(signal.SIGALRM, _alarm)
        npass = nfail = nskip = 0
        t_all = time.monotonic()
        only = set(a for a in sys.argv[1:])
        for name, fn, timeout in self.cases:
            if only and name not in only:
                continue
            t0 = time.monotonic()
            before = len(_live)
            signal.alarm(int(timeout * _SLOW))
            self._passed_last = False
            try:
                fn()
                signal.alarm(0)
                npass += 1
                self._passed_last = True
                print("ok   %s (%.2fs)" % (name, time.monotonic() - t0))
            except Skip as e:
                signal.alarm(0)
                nskip += 1
                print("SKIP %s: %s" % (name, e))
            except _Timeout:
                nfail += 1
                print("FAIL %s: timed out after %ds" % (name, timeout))
                self._dump_daemons(before)
            except Fail as e:
                signal.alarm(0)
                nfail += 1
                print("FAIL %s: %s" % (name, e))
                self._dump_daemons(before)
            except Exception:
                signal.alarm(0)
                nfail += 1
                print("FAIL %s: unexpected exception:\n%s" % (
                    name, traceback.format_exc()))
                self._dump_daemons(before)
            finally:
                signal.alarm(0)
                rep = _sanitizer_reports(before)
                _reap(before)
            if rep:
                print("FAIL %s: sanitizer report from refguardd:\n%s" % (
                    name, rep))
                if self._passed_last:
                    npass -= 1
                    nfail += 1
            sys.stdout.flush()
        if nskip:
            print("%d skipped" % nskip)
        print("# %s: %.1fs" % (self.name, time.monotonic() - t_all))
        print("%d passed, %d failed" % (npass, nfail))
        sys.stdout.flush()
        _cleanup()
        if nfail:
            return 1
        if npass == 0 and nskip:
            return SKIP
        return 0

    @staticmethod
    def _dump_daemons(before):
        for d in [x for x in _live[:before] if x.persistent] + \
                _live[before:]:
            text = d.stderr()
            if text:
                print("  --- refguardd stderr (%s, run %d) ---" % (d.dir,
                                                                  d.runs))
                for line in text.splitlines()[-40:]:
                    print("  | " + line)


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "WARNING: ThreadSanitizer")
# valgrind (--quiet) prints nothing but errors: each starts with one of
# these, and a leak at exit with "definitely lost" (a SIGKILLed daemon
# gets no leak check, only the errors seen while it ran).
if VALGRIND:
    SANITIZER_MARKS += ("Invalid read", "Invalid write", "Invalid free",
                        "Mismatched free", "uninitialised", "Syscall param",
                        "Source and destination overlap",
                        "definitely lost in", "Process terminating with")
_scanned = {}       # stderr file -> bytes already scanned


def _sanitizer_reports(before):
    """Sanitizer reports in the stderr of the daemons of this case (and
    the shared ones) not seen before: the text, or "" when none."""
    out = []
    for d in [x for x in _live[:before] if x.persistent] + _live[before:]:
        for run in range(1, d.runs + 1):
            p = os.path.join(d.dir, "stderr.%d" % run)
            try:
                with open(p, "rb") as f:
                    f.seek(_scanned.get(p, 0))
                    text = f.read()
            except OSError:
                continue
            _scanned[p] = _scanned.get(p, 0) + len(text)
            text = text.decode("utf-8", "replace")
            if any(m in text for m in SANITIZER_MARKS):
                lines = text.splitlines()
                i = next(k for k, l in enumerate(lines)
                         if any(m in l for m in SANITIZER_MARKS))
                out += ["  | " + l for l in lines[max(0, i - 2):i + 30]]
    return "\n".join(out)


def _reap(before, everything=False):
    """Kill the daemons a case left running (not the persistent ones,
    which several cases share, unless everything)."""
    keep = []
    for d in _live[before:]:
        if d.persistent and not everything:
            keep.append(d)
        elif d.alive():
            d.kill()
    _live[before:] = keep


def _cleanup():
    _reap(0, everything=True)
    if KEEP:
        for d in _tmpdirs:
            print("# kept %s" % d)
        return
    for d in _tmpdirs:
        shutil.rmtree(d, ignore_errors=True)
    del _tmpdirs[:]


# ---- request builders ------------------------------------------------

class Ids:
    """Unique names, network addresses and devices within one test file,
    so that scenarios sharing a daemon never link by accident."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.n = 0

    def next(self):
        self.n += 1
        return self.n

    def id(self, what="ref"):
        return "%s-%s-%d" % (self.prefix, what, self.next())

    def account(self):
        return self.id("acct")

    def ip(self):
        # A distinct /24 each time (farm rules count per address and /24).
        n = self.next()
        return "100.%d.%d.%d" % (64 + (n >> 16) % 64, (n >> 8) & 255,
                                 n & 255)

    def device(self, **over):
        n = self.next()
        d = {"ua": "Mozilla/5.0 (X11; Linux x86_64) TestBrowser/%d.0" % n,
             "tz": "Etc/GMT+%d" % (n % 12), "screen": "%dx%d" % (
                 800 + n % 1000, 600 + n % 500),
             "lang": "en-US", "canvas": "cv%d" % n}
        d.update(over)
        return d


# Devices from the rule files' own tests, shared by the rule scenarios.
LAPTOP = {"ua": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0",
          "tz": "Europe/Berlin", "screen": "1920x1080", "lang": "de-DE",
          "canvas": "c1"}
LAPTOP2 = dict(LAPTOP, ua="Mozilla/5.0 (Windows NT 10.0; Win64; x64) "
               "Chrome/121.0", canvas="c2")
PHONE = {"ua": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) "
         "Safari/604.1", "tz": "America/New_York", "screen": "390x844",
         "lang": "en-US"}
FARM = {"ua": "Mozilla/5.0 (Linux; Android 13) Chrome/119.0",
        "tz": "Asia/Jakarta", "screen": "720x1600", "lang": "id-ID"}


def check_req(rid, referrer, referee, ts=None, **extra):
    r = {"op": "check", "id": rid, "referrer": referrer, "referee": referee}
    if ts is not None:
        r["ts"] = ts
    r.update(extra)
    return r


def review_referrals(call, ids, n, net, campaign=None, device=None,
                     ts=None, amount=10, signup=False):
    """n referrals the classic rules send to review (the sixth and later
    from one referee address in a day), through call(req) -> reply: (their
    ids oldest first, their referees' device ids or None). The address is
    100.<net>.<fresh>.9. device: a prefix; referee i gets device id
    "<device>-<i>". signup: each referee signed up 2+i days before, with
    its device and an address at example.org (the referrer one at
    gmail.com). ts: the first referral's time, one second apart."""
    ip = "100.%d.%d.9" % (net, ids.next())
    out, devs = [], []
    for i in range(5 + n):
        rid, ref, ree = ids.id(), ids.account(), ids.account()
        referrer, referee = {"account": ref}, {"account": ree, "ip": ip}
        dev = None if device is None else "%s-%d" % (device, i)
        if dev is not None:
            referee["device"] = {"id": dev}
        if signup:
            referrer["email"] = "%s@gmail.com" % ref
            referee["email"] = "%s@example.org" % ree
            fields = {"email": referee["email"]}
            if dev is not None:
                fields["device"] = referee["device"]
            r = call(observe_req("signup", ree,
                                 ts=now_ms() - 86400000 * (2 + i), **fields))
            check(isinstance(r, dict) and "error" not in r,
                  "the referee's sign-up", r)
        extra = {"campaign": campaign} if campaign else {}
        v = call(check_req(rid, referrer, referee,
                           ts=None if ts is None else ts + i * 1000,
                           reward={"amount": amount, "currency": "EUR"},
                           **extra))
        eq(v.get("action") if isinstance(v, dict) else v,
           "review" if i >= 5 else "allow", "referral %d from one address" % i)
        if i >= 5:
            out.append(rid)
            devs.append(dev)
    return out, devs if device is not None else None


def observe_req(kind, account, ts=None, **fields):
    r = {"op": "observe", "kind": kind, "account": account}
    if ts is not None:
        r["ts"] = ts
    r.update(fields)
    return r


def verdict_shape(v, raw=None):
    """The fields every verdict carries, with their types."""
    raw = raw if raw is not None else v
    check(isinstance(v, dict) and "error" not in v, "expected a verdict",
          raw)
    for k, t in (("id", str), ("action", str), ("score", int),
                 ("reasons", list), ("shadow", list), ("ruleset", str),
                 ("ts", str)):
        check(isinstance(v.get(k), t), "verdict field %r missing or not %s"
              % (k, t.__name__), raw)
    check(v["action"] in ("allow", "review", "deny"), "bad action", raw)
    check(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", v["ts"])
          is not None, "verdict ts is not RFC 3339 UTC", raw)
    for h in v["reasons"] + v["shadow"]:
        check(isinstance(h, dict) and isinstance(h.get("rule"), str) and
              h.get("action") in ("allow", "review", "deny") and
              isinstance(h.get("score"), int), "bad reason entry", raw)


def rule_names(hits):
    return sorted(h["rule"] for h in hits)
