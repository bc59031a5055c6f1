#!/usr/bin/env python3
"""Crash safety (DESIGN.md: "never lose an acknowledged verdict"): several
connections pipeline checks and observes while refguardd is SIGKILLed at
seeded random moments and restarted, again and again. After every kill:

  - the LMDB environment opens cleanly (mdb_stat -a exits 0) and its
    events count is what the restarted daemon's stats say;
  - every check any client saw acknowledged reads back ('verdict' op) with
    the identical reply bytes, and a repeated check replays them;
  - no acknowledged event is lost (store.events >= events acknowledged).

Every other restart runs with a second evaluation thread (eval_threads).

RG_SOAK=1 runs many more kills (RG_SOAK_KILLS, default 300); RG_SEED fixes
the seed (printed, so a failure can be replayed)."""

import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rgtest  # noqa: E402
from rgtest import check, eq  # noqa: E402

T = rgtest.Suite("test_crash")

SOAK = os.environ.get("RG_SOAK", "") not in ("", "0")
KILLS = int(os.environ.get("RG_SOAK_KILLS", "300")) if SOAK else 30
SEED = int(os.environ.get("RG_SEED", "0") or 0) or int(time.time())
NCONN = 4
# each mid-burst kill waits for this many checks of its round acknowledged
MIN_ACKED = 20
MDB_STAT = shutil.which("mdb_stat")


def mdb_events(state):
    """Run mdb_stat -a on the state dir: the events database's entries.
    Fails the case when mdb_stat cannot open the environment."""
    p = subprocess.run([MDB_STAT, "-a", state], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    out = p.stdout.decode("utf-8", "replace")
    check(p.returncode == 0, "mdb_stat -a %s exited %d" % (
        state, p.returncode), out, p.stderr)
    m = re.search(r"Status of events\n(?:.*\n)*?\s*Entries: (\d+)", out)
    check(m is not None, "no events database in mdb_stat output", out)
    return int(m.group(1))


class Load:
    """NCONN threads, each on its own connection, send chunks of
    pipelined checks (and an observe now and then, and repeats of checks
    acknowledged in earlier rounds) and record what was acknowledged."""

    def __init__(self, d, rnd, round_, acked, base):
        self.d = d
        self.rnd = random.Random(rnd.random())
        self.round = round_
        self.acked = acked          # id -> raw reply (shared, all rounds)
        self.base = base
        self.lock = threading.Lock()
        self.new_acked = {}         # this round: id -> raw
        self.obs_acked = 0
        self.bad = []
        self.stop = False

    def req(self, rnd, tag, i):
        r = {"account": "c-r-%d" % rnd.randrange(200)}
        e = {"account": "c-e-%s-%d" % (tag, i)}
        x = rnd.randrange(10)
        if x == 0:          # same email: deny
            r["email"] = "u%s.%d@example.org" % (tag, i)
            e["email"] = "U%s.%d@Example.org" % (tag, i)
        elif x == 1:        # same phone: review
            r["phone"] = e["phone"] = "+1 555 %07d" % rnd.randrange(10**7)
        elif x == 2:
            e["ip"] = "10.%d.%d.%d" % (rnd.randrange(256),
                                       rnd.randrange(256), rnd.randrange(256))
        return {"op": "check", "id": "cr-%s-%d" % (tag, i), "ts":
                self.base + rnd.randrange(3600 * 1000), "referrer": r,
                "referee": e}

    def worker(self, k):
        rnd = random.Random(self.rnd.random())
        tag = "%d.%d" % (self.round, k)
        old = list(self.acked.items())
        i = 0
        try:
            c = rgtest.Client(self.d.sock, timeout=20)
        except OSError:
            return
        try:
            while not self.stop:
                chunk = []
                for _ in range(rnd.randrange(1, 64)):
                    y = rnd.randrange(40)
                    if y == 0:
                        chunk.append(("obs", rgtest.observe_req(
                            "login", "c-o-%s-%d" % (tag, i), ip="10.9.%d.%d"
                            % (i % 256, k))))
                    elif y == 1 and old:
                        rid, raw = old[rnd.randrange(len(old))]
                        chunk.append(("replay", {"op": "verdict", "id": rid}
                                      if rnd.randrange(2) else
                                      self.orig.get(rid) or
                                      {"op": "verdict", "id": rid}))
                    else:
                        chunk.append(("check", self.req(rnd, tag, i)))
                    i += 1
                c.send_raw("".join(rgtest.jdump(q) + "\n"
                                   for _, q in chunk))
                for kind, q in chunk:
                    raw = c.read_raw()
                    v = json.loads(raw)
                    if "error" in v:
                        self.bad.append("error reply to %s: %s" % (
                            rgtest.jdump(q)[:200], rgtest.short(raw)))
                        continue
                    with self.lock:
                        if kind == "check":
                            self.new_acked[q["id"]] = raw
                            self.orig[q["id"]] = q
                        elif kind == "obs":
                            self.obs_acked += 1
                        elif raw != self.acked[q["id"]]:
                            self.bad.append("repeat of %s after a crash: "
                                            "%s, acked before: %s" % (
                                                q["id"], rgtest.short(raw),
                                                rgtest.short(
                                                    self.acked[q["id"]])))
        except (rgtest.Closed, OSError, ValueError):
            pass        # the kill; ValueError: a torn line is impossible
        finally:
            c.close()

    def run(self, orig, kill_after, min_acked=0):
        """Kill after kill_after seconds, and not before min_acked checks
        of this round are acknowledged (how much gets through in a time
        depends on the machine; this floor does not)."""
        self.orig = orig
        ts = [threading.Thread(target=self.worker, args=(k,), daemon=True)
              for k in range(NCONN)]
        for t in ts:
            t.start()
        time.sleep(kill_after)
        deadline = time.monotonic() + rgtest.IO_TIMEOUT
        while len(self.new_acked) < min_acked:
            check(time.monotonic() < deadline, "%d of %d checks "
                  "acknowledged before the kill" % (len(self.new_acked),
                                                    min_acked))
            time.sleep(0.001)
        self.d.proc.kill()
        self.d.proc.wait(10)
        self.stop = True
        for t in ts:
            t.join(30)
            check(not t.is_alive(), "a client thread hangs after the kill")


def verify(d, acked):
    ids_ = sorted(acked)
    with d.client(timeout=60) as c:
        got = c.pipeline([{"op": "verdict", "id": i} for i in ids_])
    eq(len(got), len(ids_), "verdict replies")
    bad = [(i, g) for i, g in zip(ids_, got) if g != acked[i]]
    if bad:
        i, g = bad[0]
        raise rgtest.Fail("%d of %d acknowledged verdicts lost or changed; "
                          "first %s:\n  acked:   %s\n  verdict: %s" % (
                              len(bad), len(ids_), i,
                              rgtest.short(acked[i]), rgtest.short(g)))


@T.case("mdb_stat is installed (lmdb-utils)")
def _():
    if MDB_STAT is None:
        raise rgtest.Skip("mdb_stat not found: install lmdb-utils "
                          "(contrib/setup.sh deps)")


@T.case("%d SIGKILLs under pipelined load: nothing acknowledged is lost"
        % KILLS, timeout=3600 if SOAK else 80)
def _():
    if MDB_STAT is None:
        raise rgtest.Skip("mdb_stat not found")
    print("     seed %d (RG_SEED=%d replays it), %d kills, %d connections"
          % (SEED, SEED, KILLS, NCONN))
    rnd = random.Random(SEED)
    d = rgtest.Daemon("crash").start()
    base = rgtest.now_ms() - 6 * 3600 * 1000
    acked, orig = {}, {}
    obs = 0
    kills = mid = 0
    t0 = time.monotonic()
    for round_ in range(KILLS):
        load = Load(d, rnd, round_, acked, base)
        # mostly mid-burst; sometimes at once (start-up, first batch)
        at_once = rnd.randrange(6) == 0
        kill_after = rnd.choice((0.0, 0.005)) if at_once \
            else rnd.uniform(0.02, 0.35)
        load.run(orig, kill_after, 0 if at_once else MIN_ACKED)
        mid += 0 if at_once else 1
        kills += 1
        check(not load.bad, "bad replies in round %d:\n    %s" % (
            round_, "\n    ".join(load.bad[:5])))
        acked.update(load.new_acked)
        obs += load.obs_acked
        # The environment opens cleanly while nobody holds it.
        n = mdb_events(d.state)
        # Every other run with a second evaluation thread (eval_threads).
        d.conf["eval_threads"] = 1 + round_ % 2
        d.write_conf()
        d.start()
        st = d.stats()["store"]
        eq(st["events"], n, "round %d: stats store.events vs mdb_stat "
           "events entries" % round_)
        check(n >= len(acked) + obs, "round %d: %d events stored, %d "
              "acknowledged" % (round_, n, len(acked) + obs))
        verify(d, acked)
    d.stop()
    # a last look at a cleanly stopped store
    n = mdb_events(d.state)
    check(len(acked) >= MIN_ACKED * mid, "%d checks acknowledged in %d "
          "mid-burst rounds" % (len(acked), mid))
    print("     %d kills survived in %.1fs; %d checks and %d observes "
          "acknowledged, all intact; %d events stored" % (
              kills, time.monotonic() - t0, len(acked), obs, n))


if __name__ == "__main__":
    sys.exit(T.main())
