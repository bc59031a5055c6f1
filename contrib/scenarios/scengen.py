#!/usr/bin/env python3
"""scengen.py: a seeded generator of labelled referral traffic for refguard.

    scengen.py [--variant A|B] [--seed N] [--referrals N] [--fraud-share F]
               [--payout-days MIN-MAX] [--start YYYY-MM-DD] -o DIR

writes DIR/events.ndjson (refguard requests: observe and check, in time
order), DIR/labels.ndjson (one line per referral: id, label legit or
fraud, pattern, group, payout time) and DIR/params.json (what this seed
drew). The same arguments give the same files, byte for byte. Only the
Python standard library is used; the frozen device and address pool is
data/pool.json. docs/eval.md describes the populations and fraud
families and where their descriptions come from.
"""

import argparse
import calendar
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import scen_world as W                      # noqa: E402
from scen_world import DAY, HOUR, MINUTE, pick, between, chance  # noqa: E402
import scen_patterns as P                   # noqa: E402

VARIANTS = ("A", "B")

# Hour-of-day activity (local time), people rather than scripts.
DIURNAL = [1, .5, .3, .2, .2, .4, 1, 2, 3, 3, 3, 3, 4, 4, 3, 3, 3, 4, 5, 6, 7, 7, 5, 3]


def iso(ms):
    t = time.gmtime(ms // 1000)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (
        t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, ms % 1000)


def parse_day(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%d")) * 1000


# ---- parameters drawn per seed ----------------------------------------------

def draw_params(rng, variant, n, fraud_share, payout_days):
    """Everything a seed varies: proportions, sizes, timings, countries,
    devices and networks. Ranges, not fixed values, so that a policy that
    fits one seed has to generalize to the next."""
    p = {"variant": variant, "referrals": n, "fraud_share": fraud_share}
    p["days"] = rng.randint(42, 56)
    if variant == "A":
        cands = ["US", "CA", "GB", "DE", "FR", "ES", "IT", "NL", "PL", "AU", "MX", "BR"]
    else:
        cands = list(W.COUNTRIES.keys())
    k = rng.randint(5, min(10, len(cands)))
    pool = [(c, W.COUNTRIES[c]["weight"] * between(rng, 0.4, 2.5)) for c in cands]
    chosen = []
    for _ in range(k):
        c = pick(rng, pool)
        chosen.append((c, round(dict(pool)[c], 3)))
        pool = [x for x in pool if x[0] != c]
    p["countries"] = chosen
    if variant == "A":
        p["p_v6_home"] = round(between(rng, 0.0, 0.12), 3)
        p["p_v6_mobile"] = round(between(rng, 0.0, 0.08), 3)
        p["real_devices"] = False
        p["p_mobile_only"] = round(between(rng, 0.05, 0.2), 3)
    else:
        p["p_v6_home"] = round(between(rng, 0.35, 0.55), 3)
        p["p_v6_mobile"] = round(between(rng, 0.4, 0.65), 3)
        p["real_devices"] = True
        p["p_mobile_only"] = round(between(rng, 0.1, 0.3), 3)
    p["p_app"] = round(between(rng, 0.2, 0.6), 3)
    p["p_laptop"] = round(between(rng, 0.4, 0.75), 3)
    p["p_tablet"] = round(between(rng, 0.06, 0.2), 3)
    p["p_privacy_browser"] = round(between(rng, 0.01, 0.05), 3)
    p["collect_canvas"] = chance(rng, 0.85)
    p["collect_fonts"] = chance(rng, 0.5 if variant == "A" else 0.8)
    p["p_referrer_session"] = round(between(rng, 0.5, 1.0), 3)
    p["p_phone_signup"] = round(between(rng, 0.15, 0.8), 3)
    p["p_payment_signup"] = round(between(rng, 0.05, 0.4), 3)
    p["p_email_on_login"] = round(between(rng, 0.2, 0.9), 3)
    p["p_vpn_user"] = round(between(rng, 0.02, 0.07), 3)
    p["p_never_login"] = round(between(rng, 0.05, 0.13), 3)
    p["p_never_buy"] = round(between(rng, 0.2, 0.3), 3)
    p["p_one_day"] = round(between(rng, 0.15, 0.3), 3)
    p["p_farm_reward"] = round(between(rng, 0.25, 0.5), 3)
    p["cgnat_small"] = [rng.randint(3, 8), rng.randint(12, 32)]
    p["cgnat_large"] = [rng.randint(16, 48), rng.randint(64, 256)]
    lo, hi = payout_days
    p["payout_days"] = [lo, hi]
    p["payout_skew"] = round(between(rng, 0.6, 1.6), 3)
    p["campaigns"] = [("%s-%d" % (rng.choice(["spring", "invite", "friends", "welcome",
                                               "bonus", "refer", "share"]), rng.randint(2, 99)),
                       round(between(rng, 0.5, 2.0), 2))
                      for _ in range(rng.randint(2, 4))]
    p["legit"] = P.legit_shares(rng, variant)
    p["fraud"] = P.fraud_shares(rng, variant)
    return p


def budgets(shares, total):
    """Split total over shares (largest remainder), in share order."""
    s = sum(w for _, w in shares)
    raw = [(name, total * w / s) for name, w in shares]
    out = [(name, int(x)) for name, x in raw]
    left = total - sum(c for _, c in out)
    order = sorted(range(len(raw)), key=lambda i: -(raw[i][1] - int(raw[i][1])))
    for i in order[:left]:
        out[i] = (out[i][0], out[i][1] + 1)
    return out


# ---- the world -----------------------------------------------------------------

class ScenarioError(Exception):
    """Arguments the generator cannot work with; the message says why."""


class World:
    def __init__(self, variant="A", seed=1, referrals=8000, fraud_share=0.15,
                 payout_days=(7, 30), start="2026-03-02", pool=None):
        if variant not in VARIANTS:
            raise ScenarioError("variant must be one of %s" % ", ".join(VARIANTS))
        if referrals < 50:
            raise ScenarioError("--referrals must be at least 50")
        if not 0 <= fraud_share <= 0.9:
            raise ScenarioError("--fraud-share must be within 0..0.9")
        lo, hi = payout_days
        if not 0 <= lo <= hi <= 120:
            raise ScenarioError("payout days: need 0 <= MIN <= MAX <= 120")
        try:
            parse_day(start)
        except ValueError:
            raise ScenarioError("--start %r: expected YYYY-MM-DD" % start)
        self.rng = random.Random("refguard-scenarios:%s:%d" % (variant, seed))
        self.seed = seed
        self.variant = variant
        self.pool = pool or W.load_pool()
        self.devices = W.DevicePool(self.pool)
        self.ranges = W.Ranges(self.pool)
        self.p = draw_params(self.rng, variant, referrals, fraud_share, payout_days)
        self.start = parse_day(start)
        self.end = self.start + self.p["days"] * DAY
        self.p_privacy_browser = self.p["p_privacy_browser"]
        self.collect_canvas = self.p["collect_canvas"]
        self.collect_fonts = self.p["collect_fonts"]
        rng = self.rng
        self.browser_r0 = self.start - int(between(rng, 0, 28) * DAY)
        self.app_r0 = self.start - int(between(rng, 0, 14) * DAY)
        self.app_cycle = rng.choice([7, 14, 14, 21]) * DAY
        self.app_base = (rng.randint(3, 7), rng.randint(0, 20))
        self._accounts = set()
        self._emails = set()
        self._phones = set()
        self._ids = set()
        self._session = 0
        self.events = []            # (ts, seq, request)
        self.labels = []
        self._seq = 0
        self.carriers = {}
        self.wifi = {}
        self.vpn = W.VpnService(self)
        self.disposable = self.pool["disposable"]
        self.country_w = self.p["countries"]
        for cc, _ in self.country_w:
            self._carriers(cc)

    # -- release schedules (browser and app updates)
    def browser_releases(self, t):
        return (t - self.browser_r0) // W.BROWSER_CYCLE

    def app_release_index(self, t):
        return max(0, (t - self.app_r0) // self.app_cycle + 4)

    def app_version(self, k):
        major, minor = self.app_base
        return "%d.%d.%d" % (major, minor + k // 3, k % 3)

    # -- identities
    def new_account(self):
        while True:
            a = "u%09d" % self.rng.randrange(10 ** 9)
            if a not in self._accounts:
                self._accounts.add(a)
                return a

    def new_id(self):
        while True:
            r = "ref-%s" % W.hexid(self.rng, 10)
            if r not in self._ids:
                self._ids.add(r)
                return r

    def claim_email(self, email):
        """Reserve the mailbox of email; False when someone has it."""
        k = W.mailbox_key(email)
        if k in self._emails:
            return False
        self._emails.add(k)
        return True

    def email_domain(self, cc):
        return pick(self.rng, W.COUNTRIES[cc]["mail"])

    def new_email(self, person, style=None, domain=None):
        """A plausible address for a person: name based, sometimes with a
        birth year or a number, on a provider of their country."""
        rng = self.rng
        f, l = person.first, person.last
        for attempt in range(50):
            st = style or pick(rng, [("f.l", 24), ("fl", 14), ("f_l", 5), ("fl.", 3),
                                     ("f.l##", 8), ("fyyyy", 10), ("f##", 8), ("flyy", 6),
                                     ("fl###", 4), ("f.lyy", 6), ("nick", 6), ("xl", 6)])
            yy = rng.randint(1960, 2006)
            if st == "f.l":
                loc = "%s.%s" % (f, l)
            elif st == "fl":
                loc = f + l
            elif st == "f_l":
                loc = "%s_%s" % (f, l)
            elif st == "fl.":
                loc = "%s.%s" % (f[0], l)
            elif st == "f.l##":
                loc = "%s.%s%d" % (f, l, rng.randint(1, 99))
            elif st == "fyyyy":
                loc = "%s%d" % (f, yy)
            elif st == "f##":
                loc = "%s%d" % (f, rng.randint(1, 99))
            elif st == "flyy":
                loc = "%s%s%02d" % (f, l, yy % 100)
            elif st == "fl###":
                loc = "%s%s%d" % (f, l, rng.randint(100, 999))
            elif st == "f.lyy":
                loc = "%s.%s%02d" % (f, l, yy % 100)
            elif st == "nick":
                loc = "%s%s%d" % (rng.choice(["the", "real", "its", "mr", "ms", "just", ""]),
                                  f, rng.randint(1, 9999))
            else:
                loc = "%s%s" % (f[:rng.randint(1, 3)], l)
            if attempt > 5:
                loc += str(rng.randint(1, 9999))
            dom = domain or self.email_domain(person.cc)
            if chance(rng, 0.04):
                loc = loc.capitalize()
            em = "%s@%s" % (loc, dom)
            if self.claim_email(em):
                return em
        raise RuntimeError("no free mailbox")

    def new_phone(self, cc):
        code, templates = W.COUNTRIES[cc]["phone"]
        rng = self.rng
        while True:
            t = rng.choice(templates)
            num = "".join(str(rng.randrange(10)) if ch == "#" else ch for ch in t)
            key = code + num
            if key not in self._phones:
                self._phones.add(key)
                break
        style = rng.random()
        if style < 0.6:
            return "+%s%s" % (code, num)
        if style < 0.9:
            return "+%s %s %s" % (code, num[:3], num[3:])
        return "+%s-%s-%s" % (code, num[:3], num[3:])

    def new_card(self):
        return "pm_%s" % W.hexid(self.rng, 16)

    def next_session(self):
        self._session += 1
        return self._session

    # -- networks
    def _carriers(self, cc):
        if cc in self.carriers:
            return self.carriers[cc]
        rng = self.rng
        small = cc in ("IN", "ID", "NG", "PH", "BR", "MX", "TR")
        lo, hi = self.p["cgnat_small"] if small else self.p["cgnat_large"]
        out = []
        for asn, v4, v6 in self.ranges.networks("mobile", cc):
            if not v4:
                continue
            for _ in range(rng.randint(1, 3)):          # regions
                out.append(W.CarrierNet(self, cc, asn, v4, v6, rng.randint(lo, hi)))
        self.carriers[cc] = out
        return out

    def carrier(self, cc):
        return self.rng.choice(self._carriers(cc))

    def public_wifi(self, cc):
        lst = self.wifi.setdefault(cc, [])
        if len(lst) < 6:
            lst.append(W.SharedNet(self, "wifi", cc, "residential", 1, 1, 0.2))
        return self.rng.choice(lst)

    # -- people
    def country(self):
        return pick(self.rng, self.country_w)

    def person(self, cc=None):
        return W.Person(self, cc or self.country()).equip()

    def local_time(self, person, day_ms, hours=None):
        """A time on the day starting at day_ms (UTC midnight), at an hour
        people are active in the person's time zone."""
        rng = self.rng
        h = pick(rng, list(enumerate(hours or DIURNAL)))
        t = day_ms + h * HOUR + rng.randrange(HOUR) - person.tzoff * MINUTE
        return t

    def day(self, t):
        return t - t % DAY

    # -- emitting requests
    def emit(self, ts, req):
        self._seq += 1
        self.events.append((int(ts), self._seq, req))

    def observe(self, kind, person, t, dev=None, net=None, email=None, phone=None,
                payment=None, session=None):
        ip, devf = session or person.session(t, dev, net)
        r = {"op": "observe", "kind": kind, "ts": iso(int(t)), "account": person.account}
        em = email or person.email
        if em and (kind in ("signup", "update") or chance(self.rng, self.p["p_email_on_login"])):
            r["email"] = em
        self.emit(t, W.put(r, ip=ip, device=devf, phone=phone, payment=payment))
        return r

    def signup(self, person, t, dev=None, net=None, session=None):
        """An account opened without a referral (an established user)."""
        person.signup = t
        ph = person.phone if chance(self.rng, self.p["p_phone_signup"]) else None
        self.observe("signup", person, t, dev, net, phone=ph, session=session)

    def activity(self, person, t0, t1, per_week, p_buy, dev=None, net=None):
        """Logins and purchases of a person between t0 and t1."""
        rng = self.rng
        if t1 <= t0 or per_week <= 0:
            return
        t = t0 + int(rng.expovariate(per_week / (7 * DAY)))
        while t < t1:
            kind = "purchase" if chance(rng, p_buy) else "login"
            pay = rng.choice(person.cards) if kind == "purchase" and person.cards else None
            self.observe(kind, person, self.local_time(person, self.day(t)), dev, net,
                         payment=pay)
            t += int(rng.expovariate(per_week / (7 * DAY))) + HOUR

    def establish(self, person, first_ref, age_days=None, per_week=None):
        """An established user: signed up before first_ref, active since,
        and (the simulation lets them) until the end of the period."""
        rng = self.rng
        if age_days is None:
            age_days = pick(rng, [((3, 14), 1), ((14, 60), 3), ((60, 400), 5)])
            age_days = between(rng, *age_days)
        su = self.local_time(person, self.day(first_ref - int(age_days * DAY)))
        su = min(su, first_ref - HOUR)
        self.signup(person, su)
        wk = per_week if per_week is not None else between(rng, 0.3, 2.5)
        # recent activity before the referral (what windowed rules see),
        # then some until the end of the period
        self.activity(person, max(su + HOUR, first_ref - 30 * DAY), first_ref - HOUR, wk, 0.3)
        self.activity(person, first_ref + HOUR, self.end, wk * 0.6, 0.3)

    def payout_time(self, t):
        lo, hi = self.p["payout_days"]
        x = self.rng.random() ** self.p["payout_skew"]
        return int(t + (lo + (hi - lo) * x) * DAY + self.rng.randrange(HOUR))

    def reward(self, person):
        c = W.COUNTRIES[person.cc]
        camp, mult = pick(self.rng, [((n, m), 1) for n, m in self.p["campaigns"]])
        amt = c["reward"] * mult
        amt = round(amt, 2) if amt < 100 else int(round(amt, -1))
        return camp, {"amount": amt, "currency": c["cur"]}

    def refer(self, referrer, referee, t, label, pattern, group, ee_session=None,
              ee_dev=None, ee_net=None, email=None, phone=None, payment=None,
              referrer_session=True, signup_party=True):
        """A referral: the referee signs up through referrer's link at t (the
        check carries the referee's signup), paid out some days later."""
        rid = self.new_id()
        referee.signup = referee.signup or t
        camp, reward = self.reward(referrer)
        rp = W.put({"account": referrer.account}, email=referrer.email)
        last = referrer.session_before(t)
        if referrer_session and last and chance(self.rng, self.p["p_referrer_session"]):
            W.put(rp, ip=last[0], device=last[1])
        ep = referee.party(t, ee_dev, ee_net, signup=signup_party, email=email, phone=phone,
                           payment=payment, session=ee_session)
        req = {"op": "check", "id": rid, "ts": iso(int(t)), "campaign": camp,
               "referrer": rp, "referee": ep, "reward": reward}
        self.emit(t, req)
        pay = self.payout_time(t)
        self.labels.append({"id": rid, "label": label, "pattern": pattern, "group": group,
                            "ts": int(t), "payout": pay, "referrer": referrer.account,
                            "referee": referee.account})
        # the reward reaches the referrer's wallet
        self.observe("payout", referrer, pay + self.rng.randrange(MINUTE, 3 * HOUR))
        return rid

    def aftermath(self, person, t, payout_horizon, profile="legit"):
        """What a referee does after signing up: legit referees mostly come
        back and buy; some never buy, some use it on the first day only, a
        few never log in again. A farm's referee may do what the reward
        asks right away ("reward") and never come back."""
        rng = self.rng
        end = payout_horizon + 2 * DAY
        if profile == "legit":
            if chance(rng, self.p["p_never_login"]):
                return
            never_buy = chance(rng, max(0.0, self.p["p_never_buy"] - self.p["p_never_login"]) /
                               (1 - self.p["p_never_login"]))
            first = t + int(rng.expovariate(1 / (1.5 * DAY))) + 10 * MINUTE
            if never_buy or chance(rng, 0.4):
                self.observe("login", person, first)
            if not never_buy:
                # the first purchase: right away, or within days
                buy = first if chance(rng, 0.6) else \
                    first + int(rng.expovariate(1 / (4 * DAY))) + HOUR
                self.observe("purchase", person, min(buy, end), payment=rng.choice(person.cards))
            # some try it on the first day and are not seen again
            if not chance(rng, self.p["p_one_day"]):
                self.activity(person, first + HOUR, end, between(rng, 0.3, 2.5),
                              0.0 if never_buy else 0.35)
        elif profile == "reward":
            # what the reward asks, in one sitting: a login, a first
            # purchase (a fresh virtual card), then never again
            t1 = t + int(between(rng, 2, 40) * MINUTE)
            self.observe("login", person, t1)
            self.observe("purchase", person, t1 + int(between(rng, 1, 20) * MINUTE),
                         payment=self.new_card())
        elif profile == "one_login":
            self.observe("login", person, t + int(between(rng, 0.2, 5) * DAY))
        elif profile == "qualify":
            pay = person.cards[0] if person.cards else None
            self.observe("purchase", person, t + int(between(rng, 0.05, 3) * DAY),
                         payment=pay)

    # -- output
    def finish(self):
        """The requests in time order (stable for equal times) and labels."""
        return [req for _, _, req in sorted(self.events, key=lambda e: (e[0], e[1]))]


def generate(variant="A", seed=1, referrals=8000, fraud_share=0.15, payout_days=(7, 30),
             start="2026-03-02", pool=None):
    """Generate a set: (requests, labels, params)."""
    w = World(variant, seed, referrals, fraud_share, payout_days, start, pool)
    n_fraud = int(round(referrals * fraud_share))
    n_legit = referrals - n_fraud
    for name, n in budgets(w.p["legit"], n_legit):
        if n:
            P.LEGIT[name](w, n)
    for name, n in budgets(w.p["fraud"], n_fraud):
        if n:
            P.FRAUD[name](w, n)
    reqs = w.finish()
    labels = sorted(w.labels, key=lambda x: (x["ts"], x["id"]))
    return reqs, labels, w.p


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=True)


def write_set(outdir, reqs, labels, params):
    os.makedirs(outdir, exist_ok=True)
    for name, lines in (("events.ndjson", reqs), ("labels.ndjson", labels)):
        tmp = os.path.join(outdir, name + ".tmp")
        with open(tmp, "w", encoding="ascii", newline="\n") as f:
            for r in lines:
                f.write(dumps(r) + "\n")
        os.replace(tmp, os.path.join(outdir, name))
    with open(os.path.join(outdir, "params.json"), "w", encoding="ascii") as f:
        f.write(json.dumps(params, indent=1, sort_keys=True) + "\n")


def payout_range(s):
    try:
        lo, hi = (float(x) for x in s.split("-", 1))
    except ValueError:
        raise argparse.ArgumentTypeError("expected MIN-MAX in days, e.g. 7-30")
    if not 0 <= lo <= hi <= 120:
        raise argparse.ArgumentTypeError("need 0 <= MIN <= MAX <= 120 days")
    return (lo, hi)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variant", default="A", choices=VARIANTS)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--referrals", type=int, default=8000)
    ap.add_argument("--fraud-share", type=float, default=0.15)
    ap.add_argument("--payout-days", type=payout_range, default=(7, 30),
                    help="payout (and recheck) delay after the referral, days (7-30)")
    ap.add_argument("--start", default="2026-03-02",
                    help="first day of the simulated period (UTC, YYYY-MM-DD)")
    ap.add_argument("-o", "--out", required=True, help="output directory")
    a = ap.parse_args(argv)
    try:
        reqs, labels, params = generate(a.variant, a.seed, a.referrals, a.fraud_share,
                                        a.payout_days, a.start)
    except ScenarioError as e:
        ap.error(str(e))
    write_set(a.out, reqs, labels, params)
    nf = sum(1 for x in labels if x["label"] == "fraud")
    print("%s: %d requests, %d referrals (%d fraud) over %d days" % (
        a.out, len(reqs), len(labels), nf, params["days"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
