#!/usr/bin/env python3
"""Cluster mode (docs/cluster.md): three nats-server with JetStream
clustered on loopback and three refguardd sharing one stream, all
started here. Scenario traffic sent round-robin to the three nodes gives,
on every node, the verdicts of a single-node run of the same traffic in
the same order; a verdict acknowledged by one node is read on another;
one referral id sent to two nodes at once gets one verdict. Skipped,
saying so, when nats-server is not installed (contrib/setup.sh test
installs it)."""

import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import rgtest
from rgtest import Fail, Skip, check, eq

NATS = shutil.which("nats-server") or (
    "/usr/sbin/nats-server" if os.access("/usr/sbin/nats-server", os.X_OK)
    else None)
GEN = os.path.join(rgtest.SRCDIR, "contrib", "scenarios", "scengen.py")

suite = rgtest.Suite("cluster")
state = {}


def need_nats():
    if NATS is None:
        raise Skip("nats-server is not installed (Debian nats-server; "
                   "contrib/setup.sh test installs it): cluster mode "
                   "not tested")
    if "built_with_nats" not in state:
        d = rgtest.Daemon(tag="cl-t", conf={
            "cluster_nats_url": "nats://127.0.0.1:4222"})
        p = subprocess.run(d.argv("-t"), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, cwd=d.dir)
        state["built_with_nats"] = b"without libnats" not in p.stdout
    if not state["built_with_nats"]:
        raise Skip("refguardd was built without libnats (configure "
                   "--with-nats): cluster mode not tested")


class NatsCluster:
    """Three nats-server, JetStream clustered, on loopback ports."""

    def __init__(self, n=3):
        self.dir = rgtest.mkdtemp("nats")
        ports = rgtest.free_ports(3 * n)
        self.client = ports[0:n]
        self.route = ports[n:2 * n]
        self.mon = ports[2 * n:3 * n]
        self.procs = [None] * n
        self.n = n

    def url(self, i=None):
        idx = range(self.n) if i is None else [i]
        return ",".join("nats://127.0.0.1:%d" % self.client[j] for j in idx)

    def start(self, i):
        name = "n%d" % i
        conf = os.path.join(self.dir, name + ".conf")
        routes = ", ".join("nats://127.0.0.1:%d" % self.route[j]
                           for j in range(self.n) if j != i)
        with open(conf, "w") as f:
            f.write("server_name: %s\nlisten: 127.0.0.1:%d\n"
                    "http: 127.0.0.1:%d\n"
                    "jetstream { store_dir: \"%s\" }\n"
                    "cluster { name: rgtest, listen: 127.0.0.1:%d, "
                    "routes: [%s] }\n" % (
                        name, self.client[i], self.mon[i],
                        os.path.join(self.dir, name), self.route[i], routes))
        log = open(os.path.join(self.dir, name + ".log"), "ab")
        self.procs[i] = subprocess.Popen([NATS, "-c", conf],
                                         stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL)
        log.close()

    def wait_ready(self, i, timeout=30):
        """Until the monitoring port says JetStream is up on server i."""
        deadline = time.monotonic() + timeout
        url = "http://127.0.0.1:%d/healthz?js-enabled-only=true" % \
            self.mon[i]
        while True:
            if self.procs[i].poll() is not None:
                raise Fail("nats-server n%d exited: %s" % (i, self.log(i)))
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise Fail("nats-server n%d not ready: %s" % (i, self.log(i)))
            time.sleep(0.02)

    def log(self, i):
        try:
            with open(os.path.join(self.dir, "n%d.log" % i)) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def logs(self):
        """Every server's log tail, for a failure's message."""
        return "\n".join("--- nats-server n%d ---\n%s" % (i, self.log(i))
                         for i in range(self.n))

    def start_all(self):
        for i in range(self.n):
            self.start(i)
        for i in range(self.n):
            self.wait_ready(i)

    def kill(self, i):
        self.procs[i].kill()
        self.procs[i].wait()

    def stop(self):
        for p in self.procs:
            if p is not None and p.poll() is None:
                p.terminate()
        for p in self.procs:
            if p is not None:
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


class NatsClient:
    """Just enough of the NATS protocol for the tests to act as another
    client of the stream: JetStream API requests and publishes with
    headers, each waiting for its answer."""

    def __init__(self, url):
        host, port = url.split(",")[0].split("//")[1].rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=20)
        self.f = self.s.makefile("rb")
        self.f.readline()                       # INFO
        self.s.sendall(b'CONNECT {"verbose":false,"pedantic":false,'
                       b'"headers":true,"no_responders":true,'
                       b'"protocol":1}\r\nSUB _INBOX.rgtest.* 1\r\n')
        self.n = 0

    def close(self):
        self.f.close()
        self.s.close()

    def request(self, subject, payload=b"", headers=None):
        """The JSON answer; Fail on no responders."""
        self.n += 1
        inbox = b"_INBOX.rgtest.%d" % self.n
        subj = subject.encode()
        if headers:
            h = ("NATS/1.0\r\n" + "".join("%s: %s\r\n" % kv for kv in
                                          headers.items()) + "\r\n").encode()
            self.s.sendall(b"HPUB %s %s %d %d\r\n%s%s\r\n" % (
                subj, inbox, len(h), len(h) + len(payload), h, payload))
        else:
            self.s.sendall(b"PUB %s %s %d\r\n%s\r\n" % (
                subj, inbox, len(payload), payload))
        while True:
            w = self.f.readline().split()
            if not w:
                raise Fail("NATS closed the connection (%s)" % subject)
            if w[0] == b"PING":
                self.s.sendall(b"PONG\r\n")
            elif w[0] == b"-ERR":
                raise Fail("NATS: %s" % b" ".join(w).decode())
            elif w[0] in (b"MSG", b"HMSG"):
                body = self.f.read(int(w[-1]) + 2)[:-2]
                if w[1] != inbox:
                    continue
                if w[0] == b"HMSG":
                    hdr, body = body[:int(w[-2])], body[int(w[-2]):]
                    if b" 503" in hdr.split(b"\r\n")[0]:
                        raise Fail("no responders for %s" % subject)
                return json.loads(body) if body else {}

    def delete_stream(self, name):
        r = self.request("$JS.API.STREAM.DELETE." + name)
        check(r.get("success") is True, "stream %s deleted" % name, r)

    def create_stream(self, name):
        r = self.request("$JS.API.STREAM.CREATE." + name, json.dumps({
            "name": name, "subjects": [name + ".events"],
            "storage": "file", "num_replicas": 3}).encode())
        check("error" not in r, "stream %s created" % name, r)


class _XXH128(ctypes.Structure):
    _fields_ = [("low64", ctypes.c_uint64), ("high64", ctypes.c_uint64)]


def check_msgid(rid):
    """The Nats-Msg-Id refguard gives a check of referral id rid."""
    lib = ctypes.CDLL("libxxhash.so.0")
    lib.XXH3_128bits.restype = _XXH128
    lib.XXH3_128bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    b = rid.encode()
    h = lib.XXH3_128bits(b, len(b))
    return "check:%016x%016x" % (h.high64, h.low64)


BASE_CONF = {"retention": "1000d", "http_listen": None}


def node(nats, name, secret_from=None, stream="RG", extra=None):
    conf = dict(BASE_CONF)
    conf.update({"cluster_nats_url": nats.url(), "cluster_stream": stream,
                 "cluster_node": name, "cluster_replicas": "3"})
    conf.update(extra or {})
    d = rgtest.Daemon(tag="cl-" + name, conf=conf)
    if secret_from is not None:
        os.makedirs(d.state, mode=0o700, exist_ok=True)
        shutil.copy(os.path.join(secret_from.state, "secret"),
                    os.path.join(d.state, "secret"))
    return d


def traffic():
    if "traffic" not in state:
        out = rgtest.mkdtemp("scen")
        # The period (six to eight weeks) ends before today, whatever
        # the hour: every referral's check is in the past.
        start = time.strftime("%Y-%m-%d",
                              time.gmtime(time.time() - 75 * 86400))
        p = subprocess.run([sys.executable, GEN, "--referrals", "60",
                            "--seed", "11", "--start", start, "-o", out],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=dict(os.environ, PYTHONHASHSEED="1"))
        check(p.returncode == 0, "scengen.py failed", p.stderr)
        # (payouts run past today: only what has happened by now)
        cut = rgtest.rfc3339(int(time.time() * 1000) - 3600 * 1000)
        with open(os.path.join(out, "events.ndjson")) as f:
            state["traffic"] = [q for q in map(json.loads, f)
                                if q.get("ts", "") < cut]
    return state["traffic"]


def strip(reply):
    """A reply less what is a node's own: an observe's store seq."""
    r = dict(reply)
    r.pop("seq", None)
    return r


def applied(d):
    return d.stats()["cluster"]["applied_seq"]


def wait_applied(nodes, seq):
    for d in nodes:
        d.wait_stats(lambda st: st["cluster"]["applied_seq"] >= seq,
                     "applied_seq >= %d" % seq)


@suite.case("cluster_start", timeout=120)
def cluster_start():
    need_nats()
    nats = NatsCluster()
    state["nats"] = nats
    nats.start_all()
    state["http_a"] = "127.0.0.1:%d" % rgtest.free_ports(1)[0]
    a = node(nats, "a", extra={"http_listen": state["http_a"]})
    a.start(timeout=60)
    a.persistent = True
    b = node(nats, "b", secret_from=a)
    c = node(nats, "c", secret_from=a)
    for d in (b, c):
        d.start(timeout=60)
        d.persistent = True
    state["nodes"] = [a, b, c]
    for d in state["nodes"]:
        st = d.stats()["cluster"]
        eq(st["connected"], True, "connected")
        eq(st["applied_seq"], 0, "applied on a new stream")


def need_nodes():
    need_nats()
    if "nodes" not in state:
        raise Skip("the cluster did not start")
    return state["nodes"]


@suite.case("cluster_same_verdicts_as_single_node", timeout=300)
def same_verdicts():
    nodes = need_nodes()
    reqs = traffic()
    single = rgtest.Daemon(tag="cl-single", conf=dict(BASE_CONF))
    os.makedirs(single.state, mode=0o700, exist_ok=True)
    shutil.copy(os.path.join(nodes[0].state, "secret"),
                os.path.join(single.state, "secret"))
    single.start()
    want = []
    with single.client() as c:
        for q in reqs:
            r, raw = c.call(q)
            check("error" not in r, "single node refused a request", raw)
            want.append(strip(r))
    single.stop()
    clients = [d.client() for d in nodes]
    try:
        for i, q in enumerate(reqs):
            r, raw = clients[i % 3].call(q)
            check("error" not in r, "node %d refused request %d" % (
                i % 3, i), raw)
            if strip(r) != want[i]:
                raise Fail("request %d (%s) on node %d: %s, single node: "
                           "%s" % (i, q["op"], i % 3, raw,
                                   json.dumps(want[i])))
    finally:
        for c in clients:
            c.close()
    checks = [(q["id"], want[i]) for i, q in enumerate(reqs)
              if q["op"] == "check"]
    check(len(checks) >= 50, "traffic has checks", len(checks))
    check(any(w["action"] != "allow" for _, w in checks),
          "some verdict is not allow: history mattered")
    last = max(applied(d) for d in nodes)
    eq(last, len(reqs), "stream messages applied")
    wait_applied(nodes, last)
    for d in nodes:
        with d.client() as c:
            for rid, w in checks:
                r, raw = c.call({"op": "verdict", "id": rid})
                if r != w:
                    raise Fail("verdict %s on %s: %s, single node: %s" % (
                        rid, d.dir, raw, json.dumps(w)))
    st = nodes[0].stats()["cluster"]
    eq(st["ruleset_mismatches"], 0, "rule set mismatches")
    eq(st["publish_errors"], 0, "publish errors")


REF = {"referrer": {"account": "cl-r1", "email": "anna.k@example.org",
                    "ip": "81.2.69.160", "device": {"id": "dev-77"}},
       "referee": {"account": "cl-e1", "email": "annak@example.org",
                   "ip": "81.2.69.161", "device": {"id": "dev-77"}},
       "campaign": "spring", "ts": rgtest.rfc3339(
           int(time.time() * 1000) - 60000)}


@suite.case("cluster_read_on_another_node", timeout=120)
def read_elsewhere():
    a, b, c = need_nodes()
    q = dict(REF, op="check", id="cl-cross-1")
    r = a.ok(q)[0]
    # b's check is later in the log than a's acknowledged one: it sees it.
    q2 = dict(REF, op="check", id="cl-cross-2")
    q2["referee"] = dict(REF["referee"], account="cl-e2")
    r2 = b.ok(q2)[0]
    single = rgtest.Daemon(tag="cl-single2", conf=dict(BASE_CONF))
    single.start()
    s1 = single.ok(q)[0]
    s2 = single.ok(q2)[0]
    single.stop()
    eq(strip(r), strip(s1), "first check")
    eq(r2, s2, "second check, on another node, saw the first")
    wait_applied([b, c], applied(a))
    for d in (b, c):
        eq(d.ok({"op": "verdict", "id": "cl-cross-1"})[0], r,
           "verdict read on another node")


@suite.case("cluster_same_id_two_nodes_at_once", timeout=120)
def same_id():
    a, b, c = need_nodes()

    def replays():
        return sum(d.stats()["checks"]["replayed"] for d in (a, b))
    before = replays()
    for k in range(5):
        rid = "cl-race-%d" % k
        q = dict(REF, op="check", id=rid)
        q["referee"] = dict(REF["referee"], account="cl-race-e%d" % k)
        got = [None, None]
        go = threading.Barrier(2)

        def send(i, d, q=q):
            with d.client() as cl:
                go.wait()
                got[i] = cl.call(q)[1]
        t = [threading.Thread(target=send, args=(i, d))
             for i, d in enumerate((a, b))]
        for x in t:
            x.start()
        for x in t:
            x.join()
        check(got[0] is not None and got[1] is not None, "both answered")
        eq(got[0], got[1], "replies of %s from two nodes" % rid)
        check(b'"error"' not in got[0], "no error", got[0])
        wait_applied([a, b, c], max(applied(d) for d in (a, b, c)))
        for d in (a, b, c):
            eq(d.ok({"op": "verdict", "id": rid})[0], json.loads(got[0]),
               "stored verdict of %s" % rid)
    # One of each pair was evaluated, the other answered from it.
    eq(replays() - before, 5, "checks answered from the stored verdict")


def race_req(k):
    q = dict(REF, op="check", id="cl-load-%d" % k)
    q["referee"] = dict(REF["referee"], account="cl-load-e%d" % (k % 40),
                        ip="81.2.69.%d" % (k % 200 + 1))
    q["referrer"] = dict(REF["referrer"], account="cl-load-r%d" % (k % 7))
    return q


@suite.case("cluster_join_from_snapshot", timeout=120)
def join_from_snapshot():
    """A node seeded with a copy of another's store (mdb_copy of a live
    node, docs/cluster.md) resumes after the sequence the copy applied,
    not from the stream's start."""
    a = need_nodes()[0]
    mdb_copy = shutil.which("mdb_copy")
    if mdb_copy is None:
        raise Skip("mdb_copy (lmdb-utils) is not installed")
    s = node(state["nats"], "s", secret_from=a)
    p = subprocess.run([mdb_copy, a.state, s.state],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    check(p.returncode == 0, "mdb_copy", p.stdout)
    s.start(timeout=60)
    at_start = int(re.search(r"cluster joined node=s stream=RG "
                             r"applied=(\d+)", s.stderr()).group(1))
    check(at_start > 0, "resumed from the copy's sequence", s.stderr())
    last = applied(a)
    wait_applied([s], last)
    applied_here = s.stats()["cluster"]["applied"]
    eq(applied_here, last - at_start, "messages applied after the copy")
    for rid in ("cl-cross-1", "cl-cross-2", "cl-race-0"):
        eq(s.ok({"op": "verdict", "id": rid})[0],
           a.ok({"op": "verdict", "id": rid})[0], "verdict %s" % rid)
    s.stop()


@suite.case("cluster_other_secret_refused", timeout=120)
def other_secret():
    """A node set up without the cluster's hash secret would store hashes
    nobody matches: it refuses to start, saying what to copy."""
    need_nodes()
    x = node(state["nats"], "x")
    rc, err = x.run_to_exit(timeout=60)
    check(rc != 0, "refused", rc)
    check("another hash secret" in err and "hash_secret_file" in err,
          "says why", err)


@suite.case("cluster_other_ruleset_counted", timeout=120)
def other_ruleset():
    """A node serving another rule set (a rolling rule update) evaluates
    the log with its own, records which in each verdict, and counts the
    mismatches."""
    a = need_nodes()[0]
    m = node(state["nats"], "m", secret_from=a)
    m.rules = rgtest.CLASSIC_RULES_DIR
    m.conf["rules"] = m.rules
    m.write_conf()
    m.start(timeout=60)
    wait_applied([m], applied(a))
    st = m.stats()["cluster"]
    check(st["ruleset_mismatches"] > 0, "mismatches counted", st)
    mine = m.ok({"op": "rules"})[0]["ruleset"]
    theirs = a.ok({"op": "rules"})[0]["ruleset"]
    check(mine != theirs, "two rule sets", mine)
    eq(m.ok({"op": "verdict", "id": "cl-cross-1"})[0]["ruleset"], mine,
       "the verdict records the rule set it was computed with")
    eq(a.ok({"op": "verdict", "id": "cl-cross-1"})[0]["ruleset"], theirs,
       "on the origin too")
    m.stop()


@suite.case("cluster_metrics", timeout=60)
def cluster_metrics():
    a = need_nodes()[0]
    st = a.stats()["cluster"]
    with urllib.request.urlopen("http://%s/metrics" % state["http_a"],
                                timeout=10) as r:
        text = r.read().decode()
    for name in ("cluster_applied_seq", "cluster_stream_seq",
                 "cluster_lag_messages", "cluster_published_total"):
        check(("refguard_%s " % name) in text, "/metrics has %s" % name)
    check("refguard_cluster_connected 1\n" in text, "connected", text[-2000:])
    m = re.search(r"(?m)^refguard_cluster_applied_seq (\d+)$", text)
    check(m is not None, "applied_seq sample", text[-2000:])
    got = int(m.group(1))
    check(got >= st["applied_seq"], "applied_seq in /metrics", got, st)


@suite.case("cluster_config_refused", timeout=60)
def config_refused():
    for conf, want in (
            ({"cluster_nats_url": "http://127.0.0.1:4222"},
             "cluster_nats_url: 'http://127.0.0.1:4222' is not a nats://"),
            ({"cluster_nats_url": "nats://127.0.0.1:1",
              "cluster_stream": "a.b"}, "cluster_stream 'a.b' is not a"),
            ({"cluster_creds": "x.creds"}, "cluster_creds without"),
            ({"cluster_nats_url": ",".join(["nats://127.0.0.1:1"] * 17)},
             "cluster_nats_url lists more than 16 servers")):
        d = rgtest.Daemon(tag="cl-bad", conf=conf)
        rc, err = d.run_to_exit()
        check(rc != 0, "refused", rc)
        check(want in err, "says why: %r" % want, err)


def one_check(rid, k=0):
    q = dict(REF, op="check", id=rid)
    q["referee"] = dict(REF["referee"], account="cl-one-e%d" % k)
    return q


def stream_node(name, stream, extra=None):
    """A node of its own stream on the test's NATS servers, started, with
    one check acknowledged."""
    need_nodes()
    d = node(state["nats"], name, stream=stream, extra=extra)
    d.start(timeout=60)
    d.ok(one_check("cl-%s-warm" % name))
    return d


@suite.case("cluster_stop_while_publishes_retry", timeout=180)
def stop_while_retrying():
    """SIGTERM while the node's publishes are retried (the stream is
    gone: no responders): every client is answered, the daemon exits
    cleanly, and nothing of libnats runs on after the cluster is freed
    (under RG_VALGRIND or the sanitizers a use after free fails here)."""
    t = stream_node("t", "RGT")
    nc = NatsClient(state["nats"].url(0))
    nc.delete_stream("RGT")
    nc.close()
    n = 20
    cs = [t.client() for _ in range(n)]
    try:
        for k, c in enumerate(cs):
            c.send(one_check("cl-tr-%d" % k, k))
        t.wait_stats(lambda st: st["cluster"]["waiting"] == n,
                     "%d writes waiting for the log" % n)
        t.stop()
        for c in cs:
            raw = c.read_raw()
            check(b"cluster_unavailable" in raw or b"stopping" in raw,
                  "answered, not acknowledged", raw)
    finally:
        for c in cs:
            c.close()


@suite.case("cluster_stall_answers_writes_in_flight", timeout=300)
def stall_answers():
    """A node that cannot apply the log (its store is full) answers the
    write whose apply failed, and every later one, cluster_unavailable,
    saying why, instead of leaving the clients waiting."""
    f = stream_node("f", "RGF", {"map_size": "1m", "map_max": "1m"})
    pad = "x" * 100
    with f.client() as c:
        for k in range(100000):
            r, raw = c.call(one_check("cl-full-%d-%s" % (k, pad), k))
            if "error" in r:
                break
        check(b"cluster_unavailable" in raw and b"failed" in raw,
              "the write whose apply failed is refused, saying why", raw)
        r, raw = c.call(one_check("cl-full-after"))
        check(b"cluster_unavailable" in raw, "a new write is refused", raw)
    st = f.stats()["cluster"]
    eq(st["stalled"], True, "stalled")
    eq(st["waiting"], 0, "nothing left waiting")
    f.stop()


@suite.case("cluster_store_ahead_of_stream", timeout=180)
def store_ahead():
    """A store that applied past the stream's end (the stream deleted and
    created again) would skip the new messages reusing those sequences:
    at start the node refuses; at run time it stalls and answers."""
    h = stream_node("h", "RGH")
    for k in range(1, 3):
        h.ok(one_check("cl-ahead-%d" % k, k))
    nc = NatsClient(state["nats"].url(0))
    try:
        # While running: the stream is created again under the node.
        nc.delete_stream("RGH")
        nc.create_stream("RGH")
        r, raw = h.call(one_check("cl-ahead-new", 9))
        check(b"cluster_unavailable" in raw and b"ahead of the stream"
              in raw, "refused, saying why", raw)
        eq(h.stats()["cluster"]["stalled"], True, "stalled")
        h.stop()
        # At start.
        nc.delete_stream("RGH")
        rc, err = h.run_to_exit(timeout=60)
        check(rc != 0, "refused to start", rc)
        check("ahead of the stream" in err, "says why", err)
    finally:
        nc.close()


@suite.case("cluster_duplicate_id_without_verdict", timeout=180)
def dup_without_verdict():
    """A check whose id the stream already holds under a message that
    stored no verdict (not refguard's) is refused: never evaluated and
    stored on its origin alone."""
    g = stream_node("g", "RGD")
    nc = NatsClient(state["nats"].url(0))
    try:
        r = nc.request("RGD.events", b"not refguard's",
                       {"Nats-Msg-Id": check_msgid("cl-dup-victim")})
        check(r.get("seq", 0) > 0, "published", r)
    finally:
        nc.close()
    g.wait_stats(lambda st: st["cluster"]["applied_seq"] >= r["seq"],
                 "applied the foreign message")
    r2, raw = g.call(one_check("cl-dup-victim", 3))
    check(b"cluster_unavailable" in raw and b"stored no verdict" in raw,
          "refused, saying why", raw)
    r3, raw3 = g.call({"op": "verdict", "id": "cl-dup-victim"})
    check(b"not_found" in raw3, "no verdict stored", raw3)
    g.stop()


@suite.case("cluster_secret_fixed_in_stream", timeout=180)
def secret_fixed():
    """The cluster's hash secret is the one the stream records (its
    description), not that of its last message: a node with another
    secret is refused on an empty stream, and on one whose messages are
    not refguard's, instead of publishing and stopping every other
    node."""
    need_nodes()
    nats = state["nats"]
    nc = NatsClient(nats.url(0))
    try:
        nc.create_stream("RGS2")        # by hand: no fingerprint yet
    finally:
        nc.close()
    for stream in ("RGS", "RGS2"):
        a = node(nats, "sa", stream=stream)
        a.start(timeout=60)
        if stream == "RGS2":
            a.wait_log(r"cluster stream RGS2: recorded the hash secret's "
                       r"fingerprint")
        b = node(nats, "sb", stream=stream)
        rc, err = b.run_to_exit(timeout=60)
        check(rc != 0, "another secret refused on %s" % stream, rc)
        check("another hash secret" in err and "hash_secret_file" in err,
              "says why", err)
        eq(a.stats()["cluster"]["stalled"], False, "the first node serves")
        a.ok(one_check("cl-secret-%s" % stream))
        a.stop()


def same_on_all(nodes, req, what):
    """req's reply on every node, once each applied the log up to where
    the most advanced one is: byte for byte the same (these replies hold
    nothing that is a node's own). Returns it, parsed."""
    wait_applied(nodes, max(applied(d) for d in nodes))
    raws = [d.call(req)[1] for d in nodes]
    for d, raw in zip(nodes[1:], raws[1:]):
        if raw != raws[0]:
            raise Fail("%s on %s: %s, on %s: %s" % (
                what, d.dir, raw, nodes[0].dir, raws[0]))
    return json.loads(raws[0])


def own_check(rid, tag, referee):
    """A check whose referrer no other case uses: its verdict depends on
    this case's history only."""
    return {"op": "check", "id": rid, "ts": REF["ts"], "campaign": "spring",
            "referrer": {"account": "cl-%s-r" % tag}, "referee": referee}


def store_counts(d):
    st = d.stats()["store"]
    return {k: st[k] for k in ("feedback", "labels")}


@suite.case("cluster_feedback_replicated", timeout=120)
def feedback_replicated():
    """Feedback given on one node labels the referral on every node: a
    labeled() rule of a check sent to another node sees it, every node
    stores the same verdict, and explain names the same feedback."""
    a, b, c = need_nodes()
    dev = {"id": "cl-fb-dev"}
    q1 = own_check("cl-fb-1", "fb", {"account": "cl-fb-e1", "device": dev})
    eq(a.ok(q1)[0]["action"], "allow", "before the feedback")
    before = store_counts(b)
    fb = a.ok({"op": "feedback", "id": "cl-fb-1", "label": "fraud",
               "note": "stolen card", "by": "cl-test"})[0]
    check(fb["ok"] and fb["identities"] >= 2, "labelled", fb)
    q2 = own_check("cl-fb-2", "fb", {"account": "cl-fb-e2", "device": dev})
    r2 = b.ok(q2)[0]
    eq(r2["action"], "deny", "the check on another node saw the label")
    check("feedback.confirmed_fraud" in rgtest.rule_names(r2["reasons"]),
          "by the labeled() rule", r2)
    v = same_on_all([a, b, c], {"op": "verdict", "id": "cl-fb-2"},
                    "verdict")
    eq(v, r2, "the stored verdict is the reply")
    x = same_on_all([a, b, c], {"op": "explain", "id": "cl-fb-2"},
                    "explain")
    e = [e for e in x["rules"] if e["rule"] == "feedback.confirmed_fraud"][0]
    found = [f for f in e["facts"] if f["result"]][0]["found"]
    eq(found["feedback"], fb["feedback"], "explain names the feedback")
    after = [store_counts(d) for d in (a, b, c)]
    eq(after[0], after[1], "feedback and labels stored on a and b")
    eq(after[0], after[2], "and on c")
    eq(after[1]["feedback"], before["feedback"] + 1, "one feedback on b")


@suite.case("cluster_list_change_replicated", timeout=120)
def list_replicated():
    """list.add on one node changes a verdict checked on another; list.get
    answers the same everywhere; list.del on a third node undoes it."""
    a, b, c = need_nodes()
    email = "cl.listed.%d@example.org" % os.getpid()
    r = a.ok({"op": "list.add", "list": "blocked_emails", "value": email,
              "reason": "cl ticket", "by": "cl-ann"})[0]
    eq((r["kind"], r["replaced"]), ("email", False), "added")

    def q(rid, k):
        return own_check(rid, "list", {"account": "cl-list-e%d" % k,
                                       "email": email})
    v = b.ok(q("cl-list-1", 1))[0]
    eq(v["action"], "deny", "the listed email is denied on another node")
    eq(rgtest.rule_names(v["reasons"]), ["lists.blocked_referee"], "reason")
    eq(same_on_all([a, b, c], {"op": "verdict", "id": "cl-list-1"},
                   "verdict"), v, "stored verdict")
    g = same_on_all([a, b, c], {"op": "list.get", "list": "blocked_emails",
                                "value": email}, "list.get")
    eq((g["found"], g["reason"], g["by"]), (True, "cl ticket", "cl-ann"),
       "the entry")
    c.ok({"op": "list.del", "list": "blocked_emails", "value": email,
          "by": "cl-bob"})
    v = a.ok(q("cl-list-2", 2))[0]
    eq(v["action"], "allow", "deleted on a third node: allowed")
    eq(same_on_all([a, b, c], {"op": "verdict", "id": "cl-list-2"},
                   "verdict"), v, "stored verdict")
    g = same_on_all([a, b, c], {"op": "list.get", "list": "blocked_emails",
                                "value": email}, "list.get")
    eq(g["found"], False, "gone everywhere")


@suite.case("cluster_queue_replicated", timeout=180)
def queue_replicated():
    """A claim on one node and a decision on another are the queue of
    every node, audited the same."""
    a, b, c = need_nodes()
    camp = "cl-queue"
    dev = {"id": "cl-q-dev"}

    def q(k):
        return dict(own_check("cl-q-%d" % k, "q", {"account": "cl-q-e%d" % k,
                                                    "device": dev}),
                    campaign=camp)
    a.ok(q(0))
    a.ok({"op": "feedback", "id": "cl-q-0", "label": "abuse", "by": "t"})
    rids = ["cl-q-1", "cl-q-2"]
    for k in (1, 2):
        eq(a.ok(q(k))[0]["action"], "review", "a review verdict")
    cl = a.ok({"op": "queue.claim", "id": rids[0], "by": "cl-ana"})[0]
    eq((cl["item"]["state"], cl["item"]["assignee"]), ("claimed", "cl-ana"),
       "claimed on a")
    g = same_on_all([a, b, c], {"op": "queue.get", "id": rids[0]},
                    "queue.get")
    eq(g["item"]["state"], "claimed", "claimed everywhere")
    d = b.ok({"op": "queue.decide", "ids": rids, "decision": "void",
              "by": "cl-bob"})[0]
    eq(len(d["items"]), 2, "decided on b")
    ls = same_on_all([a, b, c], {"op": "queue.list", "campaign": camp,
                                 "state": "decided", "limit": 10},
                     "queue.list")
    eq(sorted(i["id"] for i in ls["items"]), sorted(rids),
       "decided everywhere")
    same_on_all([a, b, c], {"op": "queue.get", "id": rids[1]}, "queue.get")


@suite.case("cluster_recheck_replicated", timeout=120)
def recheck_replicated():
    """A recheck sent to one node is evaluated at its place in the log on
    every node: each stores the same new version of the verdict."""
    a, b, c = need_nodes()
    pm = "pm_card_cl_rc"
    q = own_check("cl-rc-1", "rc", {"account": "cl-rc-e1", "payment": pm})
    eq(a.ok(q)[0]["action"], "allow", "before")
    a.ok({"op": "feedback", "id": "cl-rc-1", "label": "chargeback",
          "by": "cl-pay"})
    r = b.ok({"op": "recheck", "id": "cl-rc-1"})[0]
    eq((r["action"], r["changed"]), ("deny", True), "rechecked on b")
    v = same_on_all([a, b, c], {"op": "verdict", "id": "cl-rc-1"},
                    "verdict")
    eq(v["version"], 2, "the rechecked version everywhere")
    same_on_all([a, b, c], {"op": "explain", "id": "cl-rc-1"}, "explain")


@suite.case("cluster_retention_by_the_log", timeout=180)
def retention_by_the_log():
    """Retention runs by the log's time, at a position of the log: checks
    sent while an event crosses the retention horizon get, on every node,
    the verdicts of the same history (by each node's own clock, one node
    still had the event for a check the other no longer did)."""
    need_nodes()
    nats = state["nats"]
    ret = 4000
    extra = {"retention": "4s"}
    r1 = node(nats, "r1", stream="RGR", extra=extra)
    r1.start(timeout=60)
    r2 = node(nats, "r2", secret_from=r1, stream="RGR", extra=extra)
    r2.start(timeout=60)
    dev = {"id": "cl-ret-dev"}
    # The referrer's device: only this event links it to the referees'.
    r1.ok({"op": "check", "id": "cl-ret-e", "ts": rgtest.now_ms() - ret +
           1500, "referrer": {"account": "cl-ret-r", "device": dev},
           "referee": {"account": "cl-ret-e0"}})
    rids = []
    for k in range(100000):
        rid = "cl-ret-%d" % k
        v = (r1, r2)[k % 2].ok({
            "op": "check", "id": rid, "referrer": {"account": "cl-ret-r"},
            "referee": {"account": "cl-ret-e%d" % (k + 1), "device": dev}})[0]
        rids.append(rid)
        if "self_referral.same_device_id" not in rgtest.rule_names(
                v["reasons"]):
            break
    check(len(rids) > 1, "the event was there for the first checks", rids)
    for rid in rids:
        same_on_all([r1, r2], {"op": "verdict", "id": rid}, "verdict")
    st = [d.stats()["store"] for d in (r1, r2)]
    check(st[0]["expired"] >= 1, "expired by the log", st[0]["expired"])
    eq(st[0]["expired"], st[1]["expired"], "the same events expired")
    eq(st[0]["events"], st[1]["events"], "events kept")
    print("     %d checks until the event expired" % len(rids))
    r1.stop()
    r2.stop()


@suite.case("cluster_retention_travels_in_the_log", timeout=180)
def retention_in_the_log():
    """Nodes whose retention differs (a rolling change, or a mistake)
    still expire the same events at the same message: each message
    carries its origin's retention, which every node applies."""
    need_nodes()
    nats = state["nats"]
    short = node(nats, "rs", stream="RGR2", extra={"retention": "4s"})
    short.start(timeout=60)
    long_ = node(nats, "rl", secret_from=short, stream="RGR2",
                 extra={"retention": "1000d"})
    long_.start(timeout=60)
    # A minute old: within the long node's retention, not the short's.
    long_.ok({"op": "check", "id": "cl-rt-old", "ts": rgtest.now_ms() -
              60000, "referrer": {"account": "cl-rt-r"},
              "referee": {"account": "cl-rt-e0"}})
    short.ok({"op": "check", "id": "cl-rt-new", "referrer": {
        "account": "cl-rt-r2"}, "referee": {"account": "cl-rt-e1"}})
    long_.ok({"op": "check", "id": "cl-rt-new2", "referrer": {
        "account": "cl-rt-r3"}, "referee": {"account": "cl-rt-e2"}})
    wait_applied([short, long_], max(applied(short), applied(long_)))
    st = [d.stats()["store"] for d in (short, long_)]
    eq(st[1]["expired"], 1, "the short origin's message expired the "
       "old event on the long node too")
    eq((st[0]["events"], st[0]["expired"]), (st[1]["events"],
                                             st[1]["expired"]),
       "the same events kept and expired")
    short.stop()
    long_.stop()


@suite.case("cluster_start_without_jetstream_majority", timeout=300)
def start_degraded():
    """A node started while JetStream has no majority (one of its three
    servers up) serves instead of giving up: writes are refused with
    cluster_unavailable saying why, reads are answered, stats say it is
    not ready; once the majority is back it sets up by itself and takes
    writes."""
    need_nodes()
    nats = NatsCluster()
    try:
        nats.start(0)
        nats.wait_ready(0)
        addr = "127.0.0.1:%d" % rgtest.free_ports(1)[0]
        u = node(nats, "u", stream="RGU", extra={"http_listen": addr})
        u.start(timeout=120)
        u.wait_log(r"cluster: the stream is not available after \d+ s")
        st = u.stats()["cluster"]
        eq(st["ready"], False, "not ready")
        check("not set up yet" in (st["error"] or ""), "stats say why", st)
        r, raw = u.call(one_check("cl-degraded-1"))
        check(b"cluster_unavailable" in raw and b"not available yet" in raw,
              "a write is refused, saying why", raw)
        r, raw = u.call({"op": "verdict", "id": "cl-degraded-1"})
        check(b"not_found" in raw, "a read is answered", raw)
        code, body = healthz(addr)
        check(code == 503 and "cluster not ready" in body,
              "/healthz says the node takes no write yet", code, body)
        nats.start(1)
        nats.start(2)
        nats.wait_ready(1)
        nats.wait_ready(2)
        try:
            u.wait_stats(lambda st: st["cluster"]["ready"],
                         "set up once JetStream has a majority",
                         timeout=120)
        except Fail as e:
            raise Fail("%s\n%s" % (e, nats.logs()))
        eq(u.stats()["cluster"]["error"], None, "no error once ready")
        eq(healthz(addr), (200, "ok\n"), "/healthz once ready")
        v = u.ok(one_check("cl-degraded-1"))[0]
        eq(u.ok({"op": "verdict", "id": "cl-degraded-1"})[0], v,
           "the write is applied")
        u.stop()
    finally:
        nats.stop()


@suite.case("cluster_max_age", timeout=120)
def max_age():
    """cluster_max_age gives the stream a node creates its age limit."""
    need_nodes()
    m = node(state["nats"], "ma", stream="RGM",
             extra={"cluster_max_age": "3d"})
    m.start(timeout=60)
    nc = NatsClient(state["nats"].url(0))
    try:
        info = nc.request("$JS.API.STREAM.INFO.RGM")
    finally:
        nc.close()
    eq(info["config"]["max_age"], 3 * 86400 * 10 ** 9, "the stream's age "
       "limit (ns)")
    m.ok(one_check("cl-max-age-1"))
    m.stop()


@suite.case("cluster_write_too_large_for_the_log", timeout=120)
def write_too_large():
    """A write whose message is larger than the NATS servers take (a
    list.add of a network of 65,536 prefixes) is refused as a bad request
    naming the limit, not as an outage to send again."""
    a, b, c = need_nodes()
    before = a.stats()["cluster"]["publish_errors"]
    r, raw = a.call({"op": "list.add", "list": "blocked_ips",
                     "value": "10.0.0.0/8", "by": "cl-big"})
    check(b"bad_request" in raw and b"max_payload" in raw and
          b"smaller networks" in raw, "refused, naming the limit", raw)
    eq(a.stats()["cluster"]["publish_errors"], before, "not a log failure")
    r = a.ok({"op": "list.add", "list": "blocked_ips", "value": "10.9.0.0/16",
              "by": "cl-big"})[0]
    eq(r["kind"], "ip", "a smaller network is taken")
    g = same_on_all([a, b, c], {"op": "list.get", "list": "blocked_ips",
                                "value": "10.9.3.4"}, "list.get")
    eq(g["found"], True, "and listed everywhere")


def rss_kb(d):
    with open("/proc/%d/status" % d.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


def healthz(addr):
    """/healthz's status and body."""
    try:
        with urllib.request.urlopen("http://%s/healthz" % addr,
                                    timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def first_message(stream, seq=1):
    """The bytes of a stream's first message (or the one at seq)."""
    import base64
    nc = NatsClient(state["nats"].url(0))
    try:
        m = nc.request("$JS.API.STREAM.MSG.GET." + stream,
                       json.dumps({"seq": seq}).encode())
    finally:
        nc.close()
    return base64.b64decode(m["message"]["data"])


@suite.case("cluster_stalled_node_stops_taking_the_log", timeout=300)
def stalled_memory():
    """A stalled node (here: a message hashed with another secret) never
    applies again until restarted: it stops taking the stream's messages
    instead of buffering every later one in memory."""
    x = stream_node("sx", "RGSX", {"cluster_replicas": "1"})
    foreign = first_message("RGSX")
    x.stop()
    s = stream_node("s1", "RGST", {"cluster_replicas": "1"})
    nc = NatsClient(state["nats"].url(0))
    try:
        nc.request("RGST.events", foreign)
        s.wait_stats(lambda st: st["cluster"]["stalled"], "stalled")
        r0 = rss_kb(s)
        junk = b"j" * 2000
        n = 40000
        for k in range(n):
            nc.s.sendall(b"PUB RGST.events %d\r\n%s\r\n" % (
                len(junk), junk))
        for _ in range(1000):
            info = nc.request("$JS.API.STREAM.INFO.RGST")
            if info["state"]["messages"] >= n:
                break
            time.sleep(0.05)
        check(info["state"]["messages"] >= n, "the stream took them",
              info["state"])
    finally:
        nc.close()
    # What a consumer still running would hold by now.
    s.wait_stats(lambda st: True, "alive")
    grown = rss_kb(s) - r0
    check(grown < 30000, "the stalled node buffered %d kB of the %d kB "
          "sent" % (grown, n * 2), grown)
    s.stop()


@suite.case("cluster_newer_op_stalls", timeout=120)
def newer_op_stalls():
    """A message of this format's version with an op this node does not
    know (a newer refguard's write, during a rolling upgrade) stops the
    node, saying to upgrade it, instead of being skipped: its store would
    miss that write for good."""
    addr = "127.0.0.1:%d" % rgtest.free_ports(1)[0]
    v = stream_node("v1", "RGV", {"http_listen": addr})
    eq(healthz(addr), (200, "ok\n"), "healthy before")
    seq = applied(v)
    msg = bytes([1, 200, 0]) + b"\0" * 16 + b"\0"
    nc = NatsClient(state["nats"].url(0))
    try:
        r = nc.request("RGV.events", msg)
    finally:
        nc.close()
    v.wait_stats(lambda st: st["cluster"]["stalled"], "stalled")
    st = v.stats()["cluster"]
    check("upgrade" in st["error"] and "op 200" in st["error"],
          "says why", st)
    eq(st["applied_seq"], seq, "not applied as nothing")
    eq(st["bad_messages"], 0, "not skipped")
    r, raw = v.call(one_check("cl-newer-op"))
    check(b"cluster_unavailable" in raw and b"upgrade" in raw,
          "a write is refused, saying why", raw)
    code, body = healthz(addr)
    check(code == 503 and "cluster stalled" in body and "upgrade" in body,
          "/healthz says the node takes no write", code, body)
    v.stop()


@suite.case("cluster_checks_go_as_schema_15_ops", timeout=120)
def schema15_ops():
    """A check goes in the log under op 18 (an observe under 19), the
    number of a check whose event record may carry device.lang_country:
    a node of an older refguard stalls on it, saying to upgrade, where
    op 1, 10, 12, 14 or 16 would be skipped as undecodable and missing
    for good. The same record under op 1, 10, 12, 14 or 16 (an older
    node's check) still applies here."""
    w = stream_node("w1", "RGW")
    m = first_message("RGW")
    eq((m[0], m[1]), (1, 18), "format version 1, op 18: a check of "
       "schema 15")
    w.ok({"op": "observe", "kind": "login", "account": "cl-w1-obs"})
    o = first_message("RGW", 2)
    eq((o[0], o[1]), (1, 19), "op 19: an observe of schema 15")
    nc = NatsClient(state["nats"].url(0))
    try:
        for op in (1, 10, 12, 14, 16):
            seq = applied(w)
            nc.request("RGW.events", m[:1] + bytes([op]) + m[2:])
            w.wait_stats(lambda st: st["cluster"]["applied_seq"] > seq,
                         "the op %d copy applied" % op)
    finally:
        nc.close()
    st = w.stats()["cluster"]
    eq((st["bad_messages"], st["stalled"]), (0, False),
       "an older node's check decodes: not skipped, no stall")
    w.stop()


@suite.case("cluster_kill_and_catch_up", timeout=300)
def kill_and_catch_up():
    """kill -9 one refguardd and one nats-server under load: every
    acknowledged verdict is kept, the others keep answering, the killed
    node catches up on restart, and a fresh node joins and catches up."""
    a, b, c = need_nodes()
    nats = state["nats"]
    acked = {}
    refused = []
    lock = threading.Condition()
    sent = [0, 0]
    per = 150

    def load(i, d):
        with d.client() as cl:
            for k in range(per):
                q = race_req(2 * k + i)
                r, raw = cl.call(q)
                with lock:
                    if "error" in r:
                        # Not acknowledged: only the log's own refusal.
                        refused.append(raw)
                    else:
                        acked[q["id"]] = r
                    sent[i] += 1
                    lock.notify_all()
    t = [threading.Thread(target=load, args=(i, d))
         for i, d in enumerate((a, b))]
    for x in t:
        x.start()
    with lock:
        lock.wait_for(lambda: min(sent) >= 30, timeout=60)
    c.proc.kill()
    c.proc.wait()
    nats.kill(2)
    for x in t:
        x.join()
    for raw in refused:
        check(b"cluster_unavailable" in raw, "only the log refuses", raw)
    # The nodes left keep answering: each acknowledges a new check. The
    # answer waits for the node's consumer to be recreated on a server
    # left (libnats notices the lost one by its missing heartbeats, and
    # JetStream may be electing a leader): on a loaded machine that took
    # more than one IO_TIMEOUT, so the read waits longer; a node that
    # never answers still fails the case.
    for i, d in enumerate((a, b)):
        q = race_req(10000 + i)
        t0 = time.monotonic()
        with rgtest.Client(d.sock, timeout=6 * rgtest.IO_TIMEOUT) as cl:
            r, raw = cl.call(q)
        print("     a new check on a node left answered in %.1f s" %
              (time.monotonic() - t0))
        check(isinstance(r, dict) and "error" not in r,
              "a new check on a node left", raw)
        acked[q["id"]] = r
    last = max(applied(d) for d in (a, b))
    wait_applied([a, b], last)
    c.start(timeout=60)
    fresh = node(nats, "d", secret_from=a)
    fresh.start(timeout=60)
    wait_applied([c, fresh], last)
    for d in (a, b, c, fresh):
        with d.client() as cl:
            for rid, want in acked.items():
                r, raw = cl.call({"op": "verdict", "id": rid})
                if r != want:
                    raise Fail("acknowledged verdict %s on %s: %s, "
                               "acknowledged: %s" % (rid, d.dir, raw,
                                                     json.dumps(want)))
    fresh.stop()


@suite.case("cluster_stop", timeout=120)
def cluster_stop():
    for d in state.get("nodes", []):
        d.persistent = False
        d.stop()
    if "nats" in state:
        state["nats"].stop()


if __name__ == "__main__":
    try:
        rc = suite.main()
    finally:
        if "nats" in state:
            state["nats"].stop()
    sys.exit(rc)
