#!/usr/bin/env python3
"""Hostile clients while a well-behaved client on another
connection keeps getting answers fast:

  - a slow reader pipelines requests with big replies and never reads:
    refguardd stops reading from it (back-pressure), and its own memory
    (VmRSS from /proc) stays bounded however much the client pushes;
  - a slowloris trickles a request a byte at a time, each byte well
    inside idle_timeout: it is cut off once its line has taken longer
    than idle_timeout, with an idle_timeout error line;
  - many half-open connections up to max_connections, then one more:
    refused with an error line, and the good client still served.

test_protocol.py covers the basic pause of a non-reading client and the
idle timeout of a silent one; these push harder.

Every claim here is checked against what the daemon reports (stats: the
connections open, a client paused, requests taken; the replies), never
against a clock: the good client's latency is printed (p50, p95, max) as
a figure, and bounded nowhere; tests/bench measures speed."""

import json
import os
import select
import shutil
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rgtest  # noqa: E402
from rgtest import Client, check, check_req, eq, is_error  # noqa: E402

T = rgtest.Suite("test_hostile")

def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise rgtest.Fail("no VmRSS for pid %d" % pid)


def served(d, what, n=20, c=None):
    """n pings from a well-behaved client (c, or a new connection), each
    answered: the daemon serves others while a hostile one holds on."""
    own = c is None
    c = c or d.client()
    try:
        for i in range(n):
            r, raw = c.call({"op": "ping"})
            eq(r, {"ok": True}, "%s: ping %d of the good client" % (what, i))
    finally:
        if own:
            c.close()


class Prober:
    """Pings on its own connection every few ms, recording latencies: the
    figures are printed, not bounded (a loaded machine is slow, not
    wrong)."""

    def __init__(self, d):
        self.c = Client(d.sock, timeout=10)
        self.lat = []
        self.err = []
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        try:
            while not self.stop.is_set():
                t0 = time.monotonic()
                r, raw = self.c.call({"op": "ping"})
                self.lat.append((time.monotonic() - t0) * 1000)
                if r != {"ok": True}:
                    self.err.append(raw)
                time.sleep(0.005)
        except Exception as e:      # reported by finish()
            self.err.append(repr(e))

    def finish(self, what):
        self.stop.set()
        self.t.join(15)
        self.c.close()
        check(not self.err, "%s: the good client got errors" % what,
              *self.err[:3])
        lat = sorted(self.lat)
        if not lat:
            return "no timed pings"
        p95 = lat[max(0, int(len(lat) * 0.95) - 1)]
        return "%d timed pings, p50 %.1f ms, p95 %.1f ms, max %.1f ms" % (
            len(lat), lat[len(lat) // 2], p95, lat[-1])


@T.case("slow reader: back-pressure, bounded RSS, others served fast",
        timeout=90)
def _():
    d = rgtest.Daemon("slowrd", conf={"max_pipeline": 64,
                                      "max_outbuf": "256k"}).start()
    # one stored verdict whose explain reply is big
    v, raw = d.call(check_req("h-big", {"account": "h-r", "email":
                                        "a@example.org", "ip": "192.0.2.9"},
                              {"account": "h-e", "email": "b@example.org",
                               "ip": "192.0.2.10", "phone": "+1 555 0101"},
                              ts=rgtest.now_ms() - 1000))
    r, raw = d.call({"op": "explain", "id": "h-big"})
    check("error" not in r, "explain", raw)
    rlen = len(raw) + 1
    base = rss_kb(d.proc.pid)
    line = (rgtest.jdump({"op": "explain", "id": "h-big"}) + "\n").encode()
    # Push ~200 MB worth of replies' requests; the daemon must stop
    # taking them long before.
    n_req = (200 << 20) // rlen + 1
    before = d.stats()["requests"]["explain"]
    slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    slow.connect(d.sock)

    def push():
        try:
            slow.sendall(line * n_req)
        except OSError:
            pass            # closed at the end of the case
    t = threading.Thread(target=push, daemon=True)
    t.start()
    probe = Prober(d)
    st, peak = settled(d, before + n_req, "a client that reads nothing",
                       base, 64 << 10)
    served(d, "slow reader")
    summary = probe.finish("slow reader")
    accepted = st["requests"]["explain"] - before
    check(accepted < n_req, "the daemon took all %d requests (%d MB of "
          "replies) from a client that reads nothing" % (
              accepted, accepted * rlen >> 20))
    peak = max(peak, rss_kb(d.proc.pid))
    grow = peak - base
    check(grow < 64 * 1024, "RSS grew by %d kB (base %d kB) for one "
          "client that does not read" % (grow, base))
    print("     slow reader: %d of %d requests taken before the daemon "
          "stopped reading; RSS %d -> peak %d kB; %s" % (
              accepted, n_req, base, peak, summary))
    slow.shutdown(socket.SHUT_RDWR)     # wakes the blocked sendall
    t.join(rgtest.IO_TIMEOUT)
    slow.close()
    # the daemon cleans up and keeps serving
    r, raw = d.call({"op": "ping"})
    eq(r, {"ok": True}, "ping after the slow reader left")
    d.stop()


@T.case("slowloris: a byte at a time is cut off after idle_timeout",
        timeout=60)
def _():
    d = rgtest.Daemon("loris", conf={"idle_timeout": "1s"},
                      debug=True).start()
    probe = Prober(d)
    loris = Client(d.sock, timeout=10)
    line = rgtest.jdump(check_req("h-loris", {"account": "l-r"},
                                  {"account": "l-e"}))
    # A byte every 0.25 s (the client's pace, not a wait for the daemon):
    # never idle for 1s, and never a whole line. The line timer runs from
    # the first byte, so it always fires before the idle timer can.
    t0 = time.monotonic()
    cut = None
    for ch in line:
        try:
            loris.send_raw(ch)
        except OSError:
            break
        r, _, _ = select.select([loris.sock], [], [], 0.25)
        if r:
            break           # the daemon spoke: the cut-off line
    check(loris.at_eof(rgtest.IO_TIMEOUT), "a client trickling a byte "
          "every 0.25 s is still connected after its whole line but the "
          "newline with idle_timeout = 1s")
    cut = time.monotonic() - t0
    got = bytes(loris.buf)
    check(b'"idle_timeout"' in got, "cut-off reply", got)
    d.wait_log(r"connection closed reason=slow_request_line")
    loris.close()
    served(d, "slowloris")
    summary = probe.finish("slowloris")
    # counted under its code, like any error reply (once: one client)
    eq(d.stats()["errors"].get("idle_timeout"), 1,
       "stats errors.idle_timeout after one slowloris cut-off")
    print("     cut off after %.1f s; %s" % (cut, summary))
    d.stop()


@T.case("idle_timeout's line timer is per line: slow lines, each whole "
        "within it, are served past it in total", timeout=60)
def _():
    # Each line takes 1.5 s of a 4 s idle_timeout (2.5 s to spare on a
    # loaded machine); the three take 4.5 s.
    d = rgtest.Daemon("lorisok", conf={"idle_timeout": "4s"}).start()
    ok = Client(d.sock)
    t0 = time.monotonic()
    for i in range(3):
        ok.send_raw(rgtest.jdump({"op": "ping"}))
        time.sleep(1.5)     # the client's pace
        r, raw = ok.call("")    # the newline (an empty line would err)
        eq(r, {"ok": True}, "slow line %d" % i)
    check(time.monotonic() - t0 > 4.0, "the lines took less than "
          "idle_timeout in total: nothing shown")
    ok.close()
    eq(d.stats()["errors"].get("idle_timeout"), 0, "stats errors."
       "idle_timeout")
    d.stop()


@T.case("max_connections: half-open clients fill it, the next is refused, "
        "the good client is served", timeout=60)
def _():
    d = rgtest.Daemon("maxc", conf={"max_connections": 50}).start()
    good = d.client()       # holds one connection, and asks stats
    held = []
    for i in range(49):
        c = Client(d.sock)
        c.send_raw('{"op":"pi')     # half a line each
        held.append(c)

    def wait_conns(n, what):
        d.wait_stats(lambda st: st["connections"] == n, what, via=good)

    # the next connection is refused once the daemon has taken all 50
    wait_conns(50, "the 50 connections accepted")
    extra = Client(d.sock)
    r, raw = extra.read()
    is_error(r, "too_many_connections", raw=raw)
    check(extra.at_eof(rgtest.IO_TIMEOUT), "refused connection left open")
    extra.close()
    served(d, "max_connections", c=good)
    for c in held:
        c.close()
    wait_conns(1, "the half-open connections closed")
    good.close()
    r, raw = d.call({"op": "ping"})
    eq(r, {"ok": True}, "ping after the half-open clients left")
    st = d.stats()
    eq(st["connections_refused"], 1, "stats connections_refused")
    eq(st["errors"].get("too_many_connections"), 1,
       "stats errors.too_many_connections")
    eq(st["connections"], 1, "connections once the half-open ones left")
    d.stop()


# ---- reply memory: max_outbuf and max_outbuf_total ---------------------

def big_verdict(d, rid, rechecks):
    """A verdict whose explain is large: a check, then rechecks (each adds
    a version and its facts). Returns the explain reply's size."""
    v, raw = d.call(check_req(rid, {"account": rid + "-r", "email":
                                    "a@example.org", "ip": "192.0.2.9"},
                              {"account": rid + "-e", "email":
                               "b@example.org", "ip": "192.0.2.10",
                               "phone": "+1 555 0101"},
                              ts=rgtest.now_ms() - 1000))
    check("error" not in v, "check", raw)
    if rechecks:
        with d.client() as c:
            out = c.pipeline([{"op": "recheck", "id": rid}] * rechecks)
        check(len(out) == rechecks and b"error" not in out[-1],
              "rechecks", out[-1:])
    r, raw = d.call({"op": "explain", "id": rid})
    check("error" not in r, "explain", raw)
    return len(raw) + 1


def settled(d, sent, what, base, grow_kb, timeout=60):
    """Stats once the daemon has stopped taking the non-readers' requests:
    nothing in flight, and either a connection paused for its replies or
    every request sent taken. Fails at once if the daemon's RSS grows more
    than grow_kb over base meanwhile; returns the stats and the RSS peak."""
    deadline = time.monotonic() + timeout * rgtest._SLOW
    peak = 0
    while True:
        peak = max(peak, rss_kb(d.proc.pid))
        check(peak - base < grow_kb, "%s: RSS grew by %d MB (base %d MB)" %
              (what, (peak - base) >> 10, base >> 10))
        st = d.stats()
        rp = st.get("replies", {})
        if st["writer"]["inflight"] == 0 and (
                rp.get("paused", 0) >= 1 and rp.get("reserved", 1) == 0 or
                st["requests"]["explain"] >= sent):
            return st, max(peak, rss_kb(d.proc.pid))
        check(time.monotonic() < deadline, "%s: the daemon neither paused "
              "nor finished" % what, st)
        time.sleep(0.05)


def nonreader(d, payload):
    """A connection that sends payload (all of it, or as much as the
    daemon takes) and never reads."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(d.sock)
    s.setblocking(False)
    try:
        s.send(payload)
    except BlockingIOError:
        pass
    return s


@T.case("unread replies: a client pipelining explains of a 64-version "
        "verdict and never reading holds max_outbuf, not its replies",
        timeout=120)
def _():
    d = rgtest.Daemon("unread", conf={"max_outbuf": "4m"}).start()
    size = big_verdict(d, "u-big", 63)
    base = rss_kb(d.proc.pid)
    n = 1100
    line = (rgtest.jdump({"op": "explain", "id": "u-big"}) + "\n").encode()
    before = d.stats()["requests"]["explain"]
    s = nonreader(d, line * n)
    st, peak = settled(d, before + n, "one client that never reads %d "
                       "explains of %d KB" % (n, size >> 10), base, 64 << 10)
    taken = st["requests"]["explain"] - before
    rp = st["replies"]
    check(rp["buffered_peak"] <= 4 * 1024 * 1024 + size, "replies held "
          "for the client: peak %d bytes, max_outbuf 4m" %
          rp["buffered_peak"], rp)
    check(taken < n, "all %d explains were run" % n)
    eq(rp["paused"], 1, "connections paused for their replies")
    # the others are served meanwhile, reads included
    r, raw = d.call({"op": "explain", "id": "u-big"})
    check("error" not in r, "explain on another connection", raw)
    s.close()
    # the held replies go with the connection, and so does its pause
    d.wait_stats(lambda st: st["replies"]["buffered"] == 0 and
                 st["replies"]["paused"] == 0,
                 "replies or the pause still counted after the client left")
    print("     %d of %d explains (%d KB each) taken; RSS %d -> %d kB; "
          "replies held at most %d KB" % (taken, n, size >> 10, base, peak,
                                          rp["buffered_peak"] >> 10))
    d.stop()


@T.case("unread replies of many clients stay under max_outbuf_total",
        timeout=120)
def _():
    d = rgtest.Daemon("unreadall", conf={"max_outbuf": "256k",
                                          "max_outbuf_total": "2m"}).start()
    size = big_verdict(d, "a-mid", 0)
    line = (rgtest.jdump({"op": "explain", "id": "a-mid"}) + "\n").encode()
    before = d.stats()["requests"]["explain"]
    base = rss_kb(d.proc.pid)
    socks = [nonreader(d, line * 300) for _ in range(40)]
    st, peak = settled(d, before + 40 * 300, "40 non-readers", base,
                       64 << 10)
    rp = st["replies"]
    check(rp["buffered_peak"] <= 2 * 1024 * 1024 + size, "replies held for "
          "40 clients that never read: peak %d bytes, max_outbuf_total 2m"
          % rp["buffered_peak"], rp)
    check(st["requests"]["explain"] - before < 40 * 300,
          "every explain was run", st["requests"])
    # a newcomer is served: if room must be made, the biggest holder goes
    with d.client() as c:
        r, raw = c.call({"op": "explain", "id": "a-mid"})
        check("error" not in r, "explain from a newcomer", raw)
        v, raw = c.call(check_req("a-new", {"account": "a-new-r"},
                                  {"account": "a-new-e"}))
        check("error" not in v, "check from a newcomer", raw)
    # Explains still running for the non-readers may close more of them
    # while this reads: the lines logged before the stats, the count, and
    # the lines logged after bracket each other.
    def closes():
        return len([l for l in d.stderr().splitlines()
                    if "reason=max_outbuf_total" in l])
    logged = closes()
    st = d.stats()
    check(logged <= st["replies"]["closed"] <= closes(),
          "a log line per connection closed for max_outbuf_total: %d "
          "logged before stats, %d counted" % (logged,
                                               st["replies"]["closed"]))
    check(st["replies"]["buffered"] <= 2 * 1024 * 1024 + size,
          "replies held after the newcomer", st["replies"])
    for s in socks:
        s.close()
    print("     40 clients x 300 explains (%d B): %d run, replies held at "
          "most %d KB, %d closed" % (size, st["requests"]["explain"] -
                                     before, rp["buffered_peak"] >> 10,
                                     st["replies"]["closed"]))
    d.stop()


@T.case("a slow reader of pipelined explains gets every reply, in order",
        timeout=120)
def _():
    d = rgtest.Daemon("slowok", conf={"max_outbuf": "64k"}).start()
    ids = ["o-%d" % i for i in range(4)]
    sizes = [big_verdict(d, rid, 4 * i) for i, rid in enumerate(ids)]
    n = 600
    reqs = [{"op": "explain", "id": ids[i % 4]} if i % 5 else {"op": "ping"}
            for i in range(n)]
    c = Client(d.sock, timeout=30)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    got = []

    def slow(k):
        if k % 16 == 0:
            time.sleep(0.002)     # a reader slower than the daemon
    got = c.pipeline(reqs, on_progress=slow)
    c.close()
    eq(len(got), n, "replies received")
    for i, (req, raw) in enumerate(zip(reqs, got)):
        r = json.loads(raw)
        if req["op"] == "ping":
            eq(r, {"ok": True}, "reply %d (ping)" % i)
        else:
            eq((r.get("id"), len(raw) + 1), (req["id"], sizes[i % 4]),
               "reply %d (explain of %s)" % (i, req["id"]))
    rp = d.stats()["replies"]
    check(rp["buffered_peak"] <= 64 * 1024 + max(sizes), "replies held for "
          "a slow reader: peak %d bytes, max_outbuf 64k" %
          rp["buffered_peak"], rp)
    print("     %d replies in order; explains of %s bytes; replies held at "
          "most %d bytes" % (n, "/".join(map(str, sizes)),
                             rp["buffered_peak"]))
    d.stop()


@T.case("history-sized reads: at most four in the writer over all "
        "connections; the others wait their turn, checks do not, and every "
        "one is answered in order", timeout=120)
def _():
    d = rgtest.Daemon("heavycap").start()
    big_verdict(d, "hc-big", 2)
    clients = [d.client() for _ in range(8)]
    before = d.stats()["requests"]
    with rgtest.StoreLock(d) as lock:
        # each client: an explain, then a ping behind it on the same line
        for c in clients:
            c.send({"op": "explain", "id": "hc-big"})
            c.send({"op": "ping"})
        st = d.wait_stats(lambda st: st["requests"]["explain"] ==
                          before["explain"] + 8 and
                          st["replies"]["heavy_waiting"] == 4,
                          "the eight explains decoded, four waiting")
        eq(st["replies"]["heavy"], 4, "explains in the writer at once")
        # a check is not held behind them
        chk = d.client()
        chk.send(check_req("hc-chk", {"account": "hc-r"},
                           {"account": "hc-e"}))
        d.wait_stats(lambda st: st["requests"]["check"] ==
                     before["check"] + 1, "the check decoded")
        eq(d.stats()["replies"]["heavy"], 4, "still four explains")
        lock.release()
    for k, c in enumerate(clients):
        r, raw = c.read()
        eq(r.get("id"), "hc-big", "client %d: its explain" % k)
        r, raw = c.read()
        eq(r, {"ok": True}, "client %d: then its ping" % k)
        c.close()
    v, raw = chk.read()
    check("error" not in v, "the check", raw)
    chk.close()
    d.wait_stats(lambda st: st["replies"]["heavy"] == 0 and
                 st["replies"]["heavy_waiting"] == 0,
                 "no history-sized read left counted")
    d.stop()


# ---- out of file descriptors ------------------------------------------

PRLIMIT = shutil.which("prlimit")


class LowFdDaemon(rgtest.Daemon):
    """A daemon started with RLIMIT_NOFILE = nofile (util-linux prlimit)."""

    nofile = 64

    def argv(self, *extra):
        return [PRLIMIT, "--nofile=%d:%d" % (self.nofile, self.nofile),
                "--"] + super().argv(*extra)


def first_bytes(socks, what, eof=False, timeout=20):
    """Read from every socket until each has an answer line (or, with eof,
    until the daemon closes it); fail if any stays silent."""
    got = {s: b"" for s in socks}
    done = set()
    deadline = time.monotonic() + timeout * rgtest._SLOW
    for s in socks:
        s.setblocking(False)
    while len(done) < len(socks):
        left = [s for s in socks if s not in done]
        check(time.monotonic() < deadline, "%s: %d of %d connections got "
              "no answer" % (what, len(left), len(socks)))
        r, _, _ = select.select(left, [], [], 0.5)
        for s in r:
            try:
                b = s.recv(65536)
            except (ConnectionResetError, BlockingIOError):
                b = b""
            got[s] += b
            if not b or (not eof and got[s].endswith(b"\n")):
                done.add(s)
    return [got[s] for s in socks]


@T.case("out of file descriptors: connections past the limit are refused; "
        "the accept loops back off, logging a line per episode", timeout=120)
def _():
    if PRLIMIT is None:
        raise rgtest.Skip("prlimit (util-linux) is not installed")
    if rgtest.VALGRIND:
        # valgrind lowers the limit for its own descriptors and, when an
        # accept() returns one past it, closes that connection unanswered
        raise rgtest.Skip("under valgrind, accept past the limit loses "
                          "connections in valgrind itself")
    d = LowFdDaemon("emfile")
    d.conf["http_listen"] = os.path.join(d.dir, "http.sock")
    d.write_conf()
    d.start()
    # NDJSON: twice as many connections as descriptors
    socks = []
    for i in range(2 * LowFdDaemon.nofile):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(d.sock)
        socks.append(s)
    for s in socks:
        try:
            s.sendall(b'{"op":"ping"}\n')
        except BrokenPipeError:
            pass            # refused and shut already: the answer waits
    got = first_bytes(socks, "NDJSON past the descriptor limit")
    served = sum(1 for g in got if g == b'{"ok":true}\n')
    refused = [g for g in got if b"too_many_connections" in g]
    check(served > 0 and len(refused) > 0 and served + len(refused) ==
          len(got), "each connection is served or refused: %d served, %d "
          "refused of %d" % (served, len(refused), len(got)),
          *["connection %d: %r" % (i, g) for i, g in enumerate(got)
            if g != b'{"ok":true}\n' and b"too_many_connections" not in
            g][:3])
    # HTTP, while the NDJSON connections hold every descriptor
    hsocks = []
    for i in range(16):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(d.conf["http_listen"])
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n"
                      b"Connection: close\r\n\r\n")
        except OSError:
            pass            # refused and closed already: the answer waits
        hsocks.append(s)
    hgot = first_bytes(hsocks, "HTTP past the descriptor limit", eof=True)
    hrefused = [g for g in hgot if g.startswith(b"HTTP/1.1 503 ") and
                b"too_many_connections" in g]
    for g in hgot:
        check(g in hrefused or g.startswith(b"HTTP/1.1 200 "), "HTTP "
              "answer past the descriptor limit", g)
    check(len(hrefused) > 0, "no HTTP connection refused")
    for s in socks + hsocks:
        s.close()
    # descriptors free again (once the daemon has seen the clients go)
    deadline = time.monotonic() + 20 * rgtest._SLOW
    retries = 0
    while True:
        r, raw = d.call({"op": "ping"})
        if r == {"ok": True}:
            break
        is_error(r, "too_many_connections", raw=raw)
        retries += 1
        check(time.monotonic() < deadline, "still refused after the "
              "connections left")
    st = d.stats()
    eq(st["accept"]["ndjson"]["refused"], len(refused) + retries, "stats "
       "accept.ndjson.refused")
    eq(st["accept"]["http"]["refused"], len(hrefused), "stats "
       "accept.http.refused")
    check(st["accept"]["ndjson"]["backoffs"] >= 1, "stats accept.ndjson."
          "backoffs", st["accept"])
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(d.conf["http_listen"])
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n"
                  b"Connection: close\r\n\r\n")
        data = first_bytes([s], "healthz after", eof=True)[0]
    check(data.startswith(b"HTTP/1.1 200 "), "healthz after", data)
    d.stop()
    lines = [l for l in d.stderr().splitlines()
             if "accept" in l or "Too many open files" in l]
    check(len(lines) <= 8, "%d log lines about accept (a line at the start "
          "and one at the end of each episode expected)" % len(lines),
          *lines[:4])
    check("need 4416 file descriptors, but the limit (RLIMIT_NOFILE) is 64"
          in d.stderr(), "no warning that the limits do not fit", d.stderr())
    print("     %d NDJSON connections served, %d refused; %d of %d HTTP "
          "refused; %d log lines" % (served, len(refused), len(hrefused),
                                     len(hgot), len(lines)))


if __name__ == "__main__":
    sys.exit(T.main())
