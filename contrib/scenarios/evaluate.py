#!/usr/bin/env python3
"""evaluate.py: measure a refguard policy on labelled scenario traffic.

    evaluate.py [--refguardd PATH] [--rules DIR] [--data DIR | --geoip FILE ...]
                [--disposable FILE] [--pool-data] [--set SPEC ...]
                [--json FILE] [--verdicts FILE] [--quiet]

For each set, starts refguardd in a temporary directory with the rules
and data given, replays the set's requests over the Unix socket (one
pipelined connection, in time order) and, at each referral's payout
time, sends {"op":"recheck","id":...} interleaved in the timeline, so
the store holds exactly the history up to then (with "ts", the payout
time, when the daemon accepts it). Then prints, per pattern and in
total, what was flagged (review or deny) and denied at check time and
by payout, and per rule the hits on legitimate and fraudulent
referrals; --json writes the same figures.

SPEC is VARIANT:SEED[:REFERRALS[:FRAUD_SHARE]] (generated on the fly,
e.g. A:1 or B:7:1500) or a directory written by scengen.py. Default:
A:1 and B:1. docs/eval.md explains how to read the figures.

Only the Python standard library is used.
"""

import argparse
import calendar
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import scengen          # noqa: E402

FLAG = ("review", "deny")
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


class EvalError(Exception):
    pass


# ---- time ------------------------------------------------------------------

def ts_ms(v):
    """Event time of a request (RFC 3339 UTC or Unix ms) in ms."""
    if isinstance(v, int):
        return v
    s = v.strip()
    if not s.endswith("Z") and not s.endswith("z"):
        raise EvalError("ts %r: only UTC times (Z) are supported here" % v)
    base = calendar.timegm(time.strptime(s[:19].replace("t", "T").replace(" ", "T"),
                                         "%Y-%m-%dT%H:%M:%S")) * 1000
    frac = s[19:-1]
    if frac.startswith("."):
        base += int((frac[1:] + "000")[:3])
    return base


# ---- the daemon -----------------------------------------------------------

def find_refguardd(arg):
    for cand in (arg, os.environ.get("REFGUARDD"),
                 os.path.join(TOP, "build", "refguardd"), os.path.join(TOP, "refguardd"),
                 shutil.which("refguardd")):
        if cand and os.access(cand, os.X_OK):
            return os.path.abspath(cand)
    raise EvalError("refguardd not found: build it (make) or give --refguardd PATH")


def confval(v):
    v = str(v)
    if v == "" or any(c in v for c in " #\"\t"):
        return '"%s"' % v.replace("\\", "\\\\").replace('"', '\\"')
    return v


class Daemon:
    """refguardd in a temporary directory, for one set."""

    def __init__(self, binary, rules, geoip, disposable, keep=False):
        base = os.environ.get("TMPDIR") or "/tmp"
        if len(base) > 60:
            base = "/tmp"
        self.dir = tempfile.mkdtemp(prefix="rgeval-", dir=base)
        self.keep = keep
        self.sock = os.path.join(self.dir, "rg.sock")
        # several directories merge by file name, as rules_dirs does
        # (refguard.rules(5)): the shipped ones, then local overrides
        rkey = "rules_dirs" if " " in rules else "rules"
        conf = [("socket", "rg.sock"), ("state_dir", "state"), (rkey, rules),
                ("log_level", "warning"),
                # speed over durability: nothing here needs to survive a crash
                ("sync", "none"),
                # the sets span months before the wall clock; keep them all
                ("retention", "3650d"),
                ("max_pipeline", "4096")]
        for g in geoip:
            conf.append(("geoip_db", g))
        if disposable:
            conf.append(("disposable_file", disposable))
        self.conf = os.path.join(self.dir, "refguard.conf")
        with open(self.conf, "w") as f:
            f.write("# written by contrib/scenarios/evaluate.py\n")
            for k, v in conf:
                f.write("%s = %s\n" % (k, confval(v)))
        self.errpath = os.path.join(self.dir, "stderr")
        errf = open(self.errpath, "wb")
        self.proc = subprocess.Popen([binary, "-f", "-c", self.conf], stdin=subprocess.DEVNULL,
                                     stdout=errf, stderr=errf, cwd=self.dir)
        errf.close()
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                err = self.stderr()
                self.stop()
                raise EvalError("refguardd exited with %d at start-up:\n%s" % (
                    self.proc.returncode, err))
            try:
                r = self.call({"op": "ping"})
                if r.get("ok"):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                err = self.stderr()
                self.stop()
                raise EvalError("refguardd did not answer within 30s:\n%s" % err)
            time.sleep(0.05)

    def stderr(self):
        try:
            with open(self.errpath, "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except OSError:
            return ""

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(120)
        s.connect(self.sock)
        return s

    def call(self, req):
        s = self.connect()
        try:
            s.sendall((json.dumps(req) + "\n").encode())
            buf = b""
            while not buf.endswith(b"\n"):
                d = s.recv(65536)
                if not d:
                    raise OSError("connection closed")
                buf += d
            return json.loads(buf)
        finally:
            s.close()

    def pipeline(self, lines, on_reply):
        """Send every line (bytes, newline-terminated) on one connection
        while reading the replies in order: on_reply(i, raw)."""
        s = self.connect()
        err = []

        def writer():
            try:
                for i in range(0, len(lines), 512):
                    s.sendall(b"".join(lines[i:i + 512]))
            except OSError as e:
                err.append(e)
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        buf = bytearray()
        n = 0
        try:
            while n < len(lines):
                j = buf.find(b"\n")
                if j < 0:
                    d = s.recv(1 << 20)
                    if not d:
                        raise EvalError("refguardd closed the connection after %d of %d "
                                        "replies%s:\n%s" % (n, len(lines),
                                                            " (%s)" % err[0] if err else "",
                                                            self.stderr()))
                    buf += d
                    continue
                on_reply(n, bytes(buf[:j]))
                del buf[:j + 1]
                n += 1
        finally:
            t.join(10)
            s.close()

    def stop(self):
        """Stop the daemon (TERM) and clean up. Returns None, or what went
        wrong: a non-zero exit status or a sanitizer report (a daemon
        built with --enable-asan reports leaks at exit)."""
        bad = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                bad = "did not stop within 60s of SIGTERM"
        err = self.stderr()
        if bad is None and self.proc.returncode != 0:
            bad = "exited with %d" % self.proc.returncode
        if bad is None and any(m in err for m in SANITIZER_MARKS):
            bad = "printed a sanitizer report"
        if bad is not None:
            bad = "refguardd %s:\n%s" % (bad, err)
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        return bad


# ---- sets ---------------------------------------------------------------------

def load_set(spec):
    """(name, requests, labels, params) of a SPEC."""
    if os.path.isdir(spec):
        reqs = []
        with open(os.path.join(spec, "events.ndjson"), encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    reqs.append(json.loads(line))
        with open(os.path.join(spec, "labels.ndjson"), encoding="utf-8") as f:
            labels = [json.loads(x) for x in f if x.strip()]
        params = {}
        p = os.path.join(spec, "params.json")
        if os.path.exists(p):
            with open(p) as f:
                params = json.load(f)
        return os.path.basename(os.path.normpath(spec)), reqs, labels, params
    parts = spec.split(":")
    if len(parts) < 2 or len(parts) > 4 or parts[0] not in scengen.VARIANTS:
        raise EvalError("set %r: expected VARIANT:SEED[:REFERRALS[:FRAUD_SHARE]] "
                        "(variant %s) or a directory" % (spec, " or ".join(scengen.VARIANTS)))
    try:
        seed = int(parts[1])
        n = int(parts[2]) if len(parts) > 2 else 8000
        fs = float(parts[3]) if len(parts) > 3 else 0.15
        reqs, labels, params = scengen.generate(parts[0], seed, n, fs)
    except (ValueError, scengen.ScenarioError) as e:
        raise EvalError("set %r: %s" % (spec, e))
    return spec, reqs, labels, params


def timeline(reqs, labels, recheck_ts, at="payout"):
    """Request lines with the rechecks. at "payout": a referral's recheck
    goes after every event at or before its payout time (with recheck_ts,
    as of that time); "end": every recheck after the last event, as of
    the last event's time; "now": after the last event, without ts (as
    of the wall clock). Returns (lines, what): what[i] is None,
    ("check", id) or ("recheck", id)."""
    rechecks = sorted(((l["payout"], l["id"]) for l in labels))
    lines, what = [], []
    j = len(rechecks) if at != "payout" else 0
    last = None
    for r in reqs:
        t = ts_ms(r["ts"]) if r.get("ts") is not None else None
        if t is not None:
            last = t if last is None else max(last, t)
        while t is not None and j < len(rechecks) and rechecks[j][0] < t:
            lines.append(_recheck_line(rechecks[j], recheck_ts))
            what.append(("recheck", rechecks[j][1]))
            j += 1
        lines.append((json.dumps(r, separators=(",", ":")) + "\n").encode())
        what.append(("check", r["id"]) if r.get("op") == "check" else None)
    if at != "payout":
        j = 0
        if at == "end" and last is not None:
            rechecks = [(max(last, p), i) for p, i in rechecks]
    for rc in rechecks[j:]:
        lines.append(_recheck_line(rc, recheck_ts and at != "now"))
        what.append(("recheck", rc[1]))
    return lines, what


def _recheck_line(rc, with_ts):
    req = {"op": "recheck", "id": rc[1]}
    if with_ts:
        req["ts"] = scengen.iso(rc[0])
    return (json.dumps(req, separators=(",", ":")) + "\n").encode()


def recheck_accepts_ts(d, notes):
    """Whether this refguardd takes a ts on recheck: a recheck of an
    unknown id with a ts is not_found if it does, a bad_request naming
    ts if it does not. Any other answer: rechecks go without ts, and
    notes says why."""
    r = d.call({"op": "recheck", "id": "rgeval-probe", "ts": "2026-01-01T00:00:00Z"})
    e = r.get("error") or {}
    if e.get("code") == "not_found":
        return True
    if not (e.get("code") == "bad_request" and e.get("field") == "ts"):
        notes.append("unexpected reply to the recheck probe, rechecks sent without ts: %s"
                     % json.dumps(r)[:300])
    return False


# ---- scoring --------------------------------------------------------------------

def hits(v):
    """{rule: mode} of a verdict's reasons and shadow rules."""
    out = {}
    for h in v.get("reasons") or []:
        out[h["rule"]] = "enforce"
    for h in v.get("shadow") or []:
        out.setdefault(h["rule"], "shadow")
    return out


def score(labels, checks, rechecks):
    """The figures of one set."""
    pats = {}
    tot = {"legit": _zero(), "fraud": _zero()}
    # The referrals a backend would pay absent screening (labels that say
    # "qualified"): a payout recheck of the others never reaches a payout.
    paid = {"legit": _zero(), "fraud": _zero()}
    rules = {}
    for l in labels:
        rid = l["id"]
        c = checks.get(rid)
        if c is None:
            raise EvalError("no verdict for %s" % rid)
        rc = rechecks.get(rid)
        a0 = c["action"]
        a1 = rc["action"] if rc else a0
        row = pats.setdefault(l["pattern"], dict(label=l["label"], **_zero()))
        accs = (row, tot[l["label"]]) + ((paid[l["label"]],) if l.get("qualified") else ())
        for acc in accs:
            acc["n"] += 1
            acc["flagged_check"] += a0 in FLAG
            acc["denied_check"] += a0 == "deny"
            acc["flagged_payout"] += a0 in FLAG or a1 in FLAG
            acc["denied_payout"] += a0 == "deny" or a1 == "deny"
        h0 = hits(c)
        h1 = hits(rc) if rc else {}
        byp = row.setdefault("rules", {})
        for rule in sorted(set(h0) | set(h1)):
            byp[rule] = byp.get(rule, 0) + 1
            e = rules.setdefault(rule, {"mode": (h0.get(rule) or h1.get(rule)),
                                        "check": {"legit": 0, "fraud": 0},
                                        "payout": {"legit": 0, "fraud": 0},
                                        "allowed": {"legit": 0, "fraud": 0}})
            if rule in h0:
                e["check"][l["label"]] += 1
            e["payout"][l["label"]] += 1
            # Matched, yet nothing flagged the referral by payout: for a
            # shadow rule, what enforcing it would add.
            if a0 not in FLAG and a1 not in FLAG:
                e["allowed"][l["label"]] += 1
    for acc in list(pats.values()) + list(tot.values()) + list(paid.values()):
        _rates(acc)
    return {"patterns": dict(sorted(pats.items(), key=lambda kv: (kv[1]["label"], kv[0]))),
            "totals": tot, "qualified": paid, "rules": dict(sorted(rules.items()))}


def _zero():
    return {"n": 0, "flagged_check": 0, "denied_check": 0, "flagged_payout": 0,
            "denied_payout": 0}


def _rates(acc):
    n = acc["n"] or 1
    acc["rates"] = {k: round(acc[k] / n, 4) for k in
                    ("flagged_check", "denied_check", "flagged_payout", "denied_payout")}


def merge_totals(sets, which="totals"):
    """The sets' totals added up; which "qualified": those of the
    referrals their labels say would be paid."""
    tot = {"legit": _zero(), "fraud": _zero()}
    for s in sets:
        for lab in tot:
            for k in ("n", "flagged_check", "denied_check", "flagged_payout",
                      "denied_payout"):
                tot[lab][k] += s[which][lab][k]
    for acc in tot.values():
        _rates(acc)
    return tot



KEYS = ("flagged_check", "denied_check", "flagged_payout", "denied_payout")


def merge_patterns(sets):
    """Each pattern's counts over all the sets: {(label, pattern): counts}."""
    pats = {}
    for s in sets:
        for name, r in s["patterns"].items():
            acc = pats.setdefault((r["label"], name), _zero())
            for k in ("n",) + KEYS:
                acc[k] += r[k]
    return pats


def moved(base_sets, sets):
    """The patterns whose counts differ between a baseline's run of the
    sets and this one: a list of {label, pattern, n, before, after}."""
    a, b = merge_patterns(base_sets), merge_patterns(sets)
    rows = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key, _zero()), b.get(key, _zero())
        if any(x[k] != y[k] for k in ("n",) + KEYS):
            rows.append({"label": key[0], "pattern": key[1], "n": y["n"],
                         "before": {k: x[k] for k in KEYS},
                         "after": {k: y[k] for k in KEYS}})
    return rows

# ---- a run --------------------------------------------------------------------

def run_set(spec, binary, rules, geoip, disposable, keep=False, verdicts=None, notes=None,
            recheck_at="payout"):
    name, reqs, labels, params = load_set(spec)
    t0 = time.monotonic()
    d = Daemon(binary, rules, geoip, disposable, keep)
    try:
        with_ts = recheck_accepts_ts(d, notes if notes is not None else [])
        lines, what = timeline(reqs, labels, with_ts, recheck_at)
        checks, rechecks, errors = {}, {}, {}

        def on_reply(i, raw):
            w = what[i]
            if w is None:
                if raw.startswith(b'{"error"') or b'"error":{' in raw[:80]:
                    r = json.loads(raw)
                    errors.setdefault(r["error"]["code"], []).append(i)
                return
            r = json.loads(raw)
            if "error" in r:
                errors.setdefault(r["error"]["code"], []).append(i)
                return
            (checks if w[0] == "check" else rechecks)[w[1]] = r
        d.pipeline(lines, on_reply)
        stats = d.call({"op": "stats"})
    except BaseException:
        d.stop()
        raise
    bad = d.stop()
    if bad:
        raise EvalError("set %s: %s" % (name, bad))
    secs = time.monotonic() - t0
    if errors:
        first = min(i for v in errors.values() for i in v)
        raise EvalError("set %s: %s; first failing request: %s" % (
            name, ", ".join("%d %s" % (len(v), k) for k, v in sorted(errors.items())),
            lines[first].decode()[:300]))
    if verdicts is not None:
        for l in labels:
            verdicts.append({"set": name, "id": l["id"], "label": l["label"],
                             "pattern": l["pattern"], "check": checks[l["id"]]["action"],
                             "recheck": rechecks[l["id"]]["action"],
                             "check_rules": sorted(hits(checks[l["id"]])),
                             "recheck_rules": sorted(hits(rechecks[l["id"]]))})
    res = score(labels, checks, rechecks)
    res.update(name=name, requests=len(lines), seconds=round(secs, 1),
               recheck_ts=with_ts, recheck_at=recheck_at, params=params,
               ruleset=stats.get("ruleset", {}).get("hash"),
               data=stats.get("data", {}))
    return res


def pool_data(workdir):
    """Stand-ins for contrib/fetch-data.sh's files built from the frozen
    pool: a country and AS number MMDB of the pool's address ranges (by
    tests/fixtures/mkmmdb.pl, if Debian's libmaxmind-db-writer-perl is
    installed) and the pool's disposable domains. Returns (geoip list,
    disposable path, notes)."""
    notes = []
    disp = os.path.join(workdir, "pool-disposable.txt")
    pool = scengen.W.load_pool()
    with open(disp, "w") as f:
        f.write("# disposable domains of contrib/scenarios/data/pool.json\n")
        for dom in pool["disposable"]:
            f.write(dom + "\n")
    mmdb = os.path.join(workdir, "pool-geo.mmdb")
    p = subprocess.run(["perl", os.path.join(TOP, "tests", "fixtures", "mkmmdb.pl"),
                        "--pool", scengen.W.POOL_PATH, mmdb],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode == 0 and os.path.exists(mmdb):
        return [mmdb], disp, notes
    why = (p.stdout.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
    notes.append("no GeoIP stand-in from the pool (%s): geo facts are ABSENT" % why)
    return [], disp, notes


def gate(res, th):
    """The thresholds the totals of every set together break: a list of
    messages (empty: all hold)."""
    bad = []
    tot = res["totals"]
    for key, lab, cmp in (("fraud_min", "fraud", min), ("legit_max", "legit", max)):
        for k, lim in sorted(th.get(key, {}).items()):
            got = tot[lab]["rates"][k]
            if (cmp is min and got < lim) or (cmp is max and got > lim):
                bad.append("%s %s = %.4f, %s %.4f" % (lab, k, got,
                                                      "below the minimum" if cmp is min
                                                      else "above the maximum", lim))
    return bad


def pct(a, n):
    return "%5.1f%%" % (100.0 * a / n) if n else "    - "


def report(res, out=sys.stdout):
    w = out.write
    w("rules %s; GeoIP %s; disposable list %s\n" % (
        res["rules"], ", ".join(res["geoip"]) or "none (geo facts absent)",
        res["disposable"] or "none"))
    for s in res["sets"]:
        p = s["params"]
        w("\n== set %s: %d referrals (%d fraud), %d requests, %.1fs; %s\n" % (
            s["name"], s["totals"]["legit"]["n"] + s["totals"]["fraud"]["n"],
            s["totals"]["fraud"]["n"], s["requests"], s["seconds"],
            ("rechecks at the end of the set, as of its last event"
             if s.get("recheck_at") == "end" else
             "rechecks at the end of the set, as of the wall clock (no ts)"
             if s.get("recheck_at") == "now" else
             "rechecks as of payout time") if s["recheck_ts"] else
            "rechecks WITHOUT ts (this refguardd takes none): windows end at the wall "
            "clock, so windowed rules see nothing at payout"))
        if p:
            w("   variant %s, %d days, countries %s\n" % (
                p.get("variant"), p.get("days", 0),
                " ".join(c for c, _ in p.get("countries", []))))
        w("   %-20s %-5s %6s %11s %11s %11s %11s\n" % (
            "pattern", "label", "n", "flag@check", "deny@check", "flag@payout", "deny@payout"))
        for name, r in s["patterns"].items():
            w("   %-20s %-5s %6d %11s %11s %11s %11s\n" % (
                name, r["label"], r["n"], pct(r["flagged_check"], r["n"]),
                pct(r["denied_check"], r["n"]), pct(r["flagged_payout"], r["n"]),
                pct(r["denied_payout"], r["n"])))
        _totals(w, s["totals"], s["qualified"])
        w("   rules (referrals matched: at check | by payout; allowed: matched, yet"
          " left allowed by payout)\n")
        w("   %-36s %-7s %17s %17s %17s\n" % ("rule", "mode", "legit", "fraud",
                                             "allowed l | f"))
        nl = s["totals"]["legit"]["n"]
        nf = s["totals"]["fraud"]["n"]
        for rule, e in s["rules"].items():
            w("   %-36s %-7s %8d | %6d %8d | %6d %8d | %6d\n" % (
                rule, e["mode"], e["check"]["legit"], e["payout"]["legit"],
                e["check"]["fraud"], e["payout"]["fraud"],
                e["allowed"]["legit"], e["allowed"]["fraud"]))
        w("   (%d legit, %d fraud referrals)\n" % (nl, nf))
    if len(res["sets"]) > 1:
        w("\n== all sets\n")
        _totals(w, res["totals"], res["qualified"])
    if res.get("baseline"):
        report_moved(w, res)
    for n in res["notes"]:
        w("note: %s\n" % n)


def report_moved(w, res):
    """What moved against the baseline rules, every set together."""
    b = res["baseline"]
    w("\n== against the baseline rules %s (before -> after, every set)\n" % b["rules"])
    if not b["moved"]:
        w("   no pattern moved: every referral got the same actions\n")
    else:
        w("   %-20s %-5s %6s %15s %15s %15s %15s\n" % (
            "pattern", "label", "n", "flag@check", "deny@check", "flag@payout",
            "deny@payout"))
    for r in b["moved"]:
        w("   %-20s %-5s %6d %s\n" % (r["pattern"], r["label"], r["n"], " ".join(
            "%15s" % ("%s->%s" % (pct(r["before"][k], r["n"]).strip(),
                                  pct(r["after"][k], r["n"]).strip())) for k in KEYS)))
    for lab, what in (("fraud", "TOTAL fraud (recall)"), ("legit", "TOTAL legit (false rate)")):
        x, y = b["totals"][lab], res["totals"][lab]
        w("   %-26s %6d %s\n" % (what, y["n"], " ".join(
            "%15s" % ("%s->%s" % (pct(x[k], x["n"]).strip(), pct(y[k], y["n"]).strip()))
            for k in KEYS)))


def _totals(w, tot, paid):
    """The totals; when the labels say which referrals would be paid,
    the same figures among those (the ones a payout recheck decides)."""
    rows = [("TOTAL fraud (recall)", tot["fraud"]), ("TOTAL legit (false rate)", tot["legit"])]
    if paid["fraud"]["n"] + paid["legit"]["n"]:
        rows += [("  qualified fraud", paid["fraud"]), ("  qualified legit", paid["legit"])]
    for what, a in rows:
        w("   %-26s %6d %11s %11s %11s %11s\n" % (
            what, a["n"], pct(a["flagged_check"], a["n"]), pct(a["denied_check"], a["n"]),
            pct(a["flagged_payout"], a["n"]), pct(a["denied_payout"], a["n"])))


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Replay labelled scenario sets through refguardd and measure the policy.")
    ap.add_argument("--refguardd", help="the daemon to run (default: $REFGUARDD, build/refguardd)")
    ap.add_argument("--rules", action="append", default=[],
                    help="rule directory or file (default: the shipped rules/); "
                    "repeated: directories merged by file name as rules_dirs "
                    "merges them, later ones overriding or masking earlier ones")
    ap.add_argument("--data", default=os.path.join(TOP, "run", "data"),
                    help="directory of contrib/fetch-data.sh's files: every *.mmdb and "
                    "disposable.txt in it are used (default: run/data)")
    ap.add_argument("--geoip", action="append", default=[],
                    help="a MaxMind DB file (repeatable; replaces --data's)")
    ap.add_argument("--disposable", help="disposable domain list (replaces --data's)")
    ap.add_argument("--pool-data", action="store_true",
                    help="use stand-ins built from the frozen pool (its address ranges' "
                    "country and AS number, its disposable domains) instead of --data")
    ap.add_argument("--set", action="append", default=[], dest="sets",
                    help="VARIANT:SEED[:REFERRALS[:FRAUD_SHARE]] or a scengen.py output "
                    "directory (repeatable; default A:1 and B:1)")
    ap.add_argument("--baseline", action="append", default=[],
                    help="rule directory or file to compare with (repeated as --rules): "
                    "every set runs with it too, and the report ends with each pattern "
                    "whose figures moved, before -> after")
    ap.add_argument("--json", help="write the figures as JSON to this file")
    ap.add_argument("--verdicts", help="write every referral's check and recheck action "
                    "(NDJSON) to this file")
    ap.add_argument("--gate", metavar="FILE",
                    help="thresholds (contrib/scenarios/thresholds.json): run its sets "
                    "(unless --set) with its data, exit 3 if the totals break a threshold")
    ap.add_argument("--recheck-at", choices=["payout", "end", "now"], default="payout",
                    help="when each referral is rechecked: at its payout time, interleaved "
                    "in the timeline (default); at the end of the set, as of its last event; "
                    "or at the end without ts, as of the wall clock (a refguardd without "
                    "recheck ts, or a payout flow that rechecks late)")
    ap.add_argument("--keep", action="store_true", help="keep the daemons' directories")
    ap.add_argument("--quiet", action="store_true", help="no report on stdout")
    a = ap.parse_args(argv)
    notes = []
    th = None
    work = tempfile.mkdtemp(prefix="rgeval-data-")
    try:
        if a.gate:
            try:
                with open(a.gate) as f:
                    th = json.load(f)
            except (OSError, ValueError) as e:
                raise EvalError("%s: %s" % (a.gate, e))
            a.sets = a.sets or th.get("sets", [])
            a.pool_data = a.pool_data or th.get("data") == "pool"
        binary = find_refguardd(a.refguardd)
        if a.pool_data:
            geoip, disposable, n = pool_data(work)
            if th is not None and th.get("data") == "pool" and not geoip:
                raise EvalError("the gate needs the pool's GeoIP stand-in: %s" % n[0])
            notes += n
            notes.append("geo and disposable facts from the frozen pool's stand-ins "
                         "(--pool-data), not from fetched data")
        else:
            geoip = [os.path.abspath(g) for g in a.geoip] or sorted(
                glob.glob(os.path.join(a.data, "*.mmdb")))
            disposable = a.disposable
            if disposable is None and os.path.exists(os.path.join(a.data, "disposable.txt")):
                disposable = os.path.join(a.data, "disposable.txt")
            if not geoip:
                notes.append("no GeoIP database (%s has no *.mmdb; run contrib/fetch-data.sh "
                             "%s, or use --pool-data): geo facts are ABSENT, every geo "
                             "condition is false" % (a.data, a.data))
            if not disposable:
                notes.append("no disposable domain list: referee.email.disposable is absent")
        for n in notes:
            print("note: %s" % n, file=sys.stderr)
        verdicts = [] if a.verdicts else None
        rules = " ".join(os.path.abspath(r) for r in
                         a.rules or [os.path.join(TOP, "rules")])
        if any(" " in r for r in a.rules):
            raise SystemExit("evaluate.py: a rule path with a blank is not "
                             "supported: %r" % a.rules)
        sets = []
        for spec in a.sets or ["A:1", "B:1"]:
            if not a.quiet:
                print("running set %s ..." % spec, file=sys.stderr)
            sets.append(run_set(spec, binary, rules, geoip,
                                disposable and os.path.abspath(disposable), a.keep, verdicts,
                                notes, a.recheck_at))
        res = {"rules": rules, "geoip": geoip, "disposable": disposable,
               "thresholds": th,
               "notes": notes, "sets": sets, "totals": merge_totals(sets),
               "qualified": merge_totals(sets, "qualified")}
        if a.baseline:
            if any(" " in r for r in a.baseline):
                raise SystemExit("evaluate.py: a rule path with a blank is not "
                                 "supported: %r" % a.baseline)
            base = " ".join(os.path.abspath(r) for r in a.baseline)
            bsets = []
            for spec in a.sets or ["A:1", "B:1"]:
                if not a.quiet:
                    print("running set %s with the baseline rules ..." % spec,
                          file=sys.stderr)
                bsets.append(run_set(spec, binary, base, geoip,
                                     disposable and os.path.abspath(disposable), False,
                                     None, notes, a.recheck_at))
            res["baseline"] = {"rules": base, "totals": merge_totals(bsets),
                               "rulesets": [x["ruleset"] for x in bsets],
                               "moved": moved(bsets, sets)}
        if not a.quiet:
            report(res)
        if a.json:
            with open(a.json + ".tmp", "w") as f:
                json.dump(res, f, indent=1)
                f.write("\n")
            os.replace(a.json + ".tmp", a.json)
        if a.verdicts:
            with open(a.verdicts, "w") as f:
                for v in verdicts:
                    f.write(json.dumps(v, separators=(",", ":")) + "\n")
        if th is not None:
            bad = gate(res, th)
            for b in bad:
                print("evaluate.py: threshold: %s (%s)" % (b, a.gate), file=sys.stderr)
            if bad:
                return 3
            print("thresholds of %s hold" % a.gate, file=sys.stderr)
        return 0
    except EvalError as e:
        print("evaluate.py: %s" % e, file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
