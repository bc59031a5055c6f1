"""scen_patterns: the legitimate populations and fraud families.

Each is a function (world, n) that adds exactly n referrals of its kind,
in groups (a household, an office, a farm), with the activity around them:
sign-ups of established users, logins and purchases, the referees' return
(or not) after signing up. The label of a referral is its population or
family. docs/eval.md says what each one is and which public descriptions
of referral abuse and of legitimate referral behaviour it follows.
"""

import types

import scen_world as W
from scen_world import DAY, HOUR, MINUTE, pick, between, chance

# Legitimate populations: (name, share range, variants)
LEGIT_SHARES = [
    ("friends", (0.30, 0.45), "AB"),
    ("household", (0.04, 0.09), "AB"),
    ("family_tablet", (0.005, 0.015), "AB"),
    ("office", (0.03, 0.07), "AB"),
    ("carrier_nat", (0.05, 0.12), "AB"),
    ("campus", (0.05, 0.10), "B"),
    ("influencer", (0.015, 0.04), "AB"),
    ("vpn_user", (0.02, 0.05), "AB"),
    ("onboarding", (0.03, 0.07), "AB"),
    ("email_digits", (0.03, 0.06), "AB"),
    ("email_alias_own", (0.01, 0.03), "AB"),
    ("reregistration", (0.01, 0.02), "AB"),
]

# Fraud families: (name, base weight, variants)
FRAUD_SHARES = [
    ("self_same_device", 1.0, "AB"),
    ("self_browser_update", 0.8, "AB"),
    ("gmail_alias", 0.6, "AB"),
    ("shared_phone", 0.4, "AB"),
    ("shared_card", 0.5, "AB"),
    ("disposable_mail", 0.8, "AB"),
    ("device_farm", 1.2, "AB"),
    ("antidetect_farm", 1.4, "AB"),
    ("slow_farm", 0.9, "AB"),
    ("fresh_chain", 0.6, "AB"),
    ("sleeper", 0.8, "AB"),
    ("cash_out", 0.9, "AB"),
    ("numbered_mailbox", 0.5, "AB"),
    ("hosting_proxy", 0.8, "AB"),
    ("ring_mutual", 0.3, "AB"),
    ("ring_cycle", 0.3, "AB"),
]


def legit_shares(rng, variant):
    return [(name, round(between(rng, lo, hi), 4)) for name, (lo, hi), v in LEGIT_SHARES
            if variant in v]


def fraud_shares(rng, variant):
    return [(name, round(w * between(rng, 0.5, 1.6), 4)) for name, w, v in FRAUD_SHARES
            if variant in v]


# ---- helpers ------------------------------------------------------------------

def when(w, span_days=0.0):
    """A start time for a group that needs span_days within the period."""
    latest = max(w.start, w.end - int(span_days * DAY) - DAY)
    return w.start + w.rng.randrange(max(1, latest - w.start))


def size(w, n, lo, hi):
    return min(n, w.rng.randint(lo, hi))


def established(w, span_days):
    """An established user of a random country and the time, leaving
    span_days in the period, from which they refer: (person, t0)."""
    p = w.person()
    t0 = when(w, span_days)
    w.establish(p, t0)
    return p, t0


def batch(w, n, lo, hi, span_lo, span_hi):
    """A farm's country, number of accounts (lo-hi, at most n), the days
    it takes (span_lo-span_hi) and its start: (cc, k, span, t0)."""
    cc = w.country()
    k = size(w, n, lo, hi)
    span = between(w.rng, span_lo, span_hi)
    return cc, k, span, when(w, span)


class Group:
    """Numbers the groups of one pattern (households, farms ...)."""

    def __init__(self, name):
        self.name = name
        self.n = 0

    def next(self):
        self.n += 1
        return "%s#%d" % (self.name, self.n)


def referee_time(w, person, t):
    """The referee signs up at a waking hour of their day of t."""
    t2 = w.local_time(person, w.day(t))
    return t2 if t2 > t - 12 * HOUR else t


def clone_device(w, dev, bumps=0, reinstall=False, salt=None, tz=None, lang=None):
    """The same physical device as another account sees it: after a
    browser update (bumps), an app reinstall (a new install id) or a
    fingerprint randomizer (salt: a new canvas)."""
    d = W.Device(w, dev.model, dev.kind, tz or dev.tz, lang or dev.lang)
    d.ua_base = dev.ua_base
    d.lag = dev.lag
    d.noise = dev.noise
    d.app_model = dev.app_model
    d.extra_bumps = dev.extra_bumps + bumps
    d.canvas_salt = salt if salt is not None else dev.canvas_salt
    if not reinstall:
        d.install_id = dev.install_id
    return d


def persona(w, cc, devices=(), net=None, email=None, phone=None, cards=None):
    """A fraudster's new account: identities chosen by the caller."""
    p = W.Person(w, cc)
    p.devices = list(devices)
    p.phone_dev = p.devices[0] if p.devices else None
    p.fixed_net = net
    if email is not None:
        p.email = email
    if phone is not None:
        p.phone = phone if phone else None
    if cards is not None:
        p.cards = cards
    return p


def sibling(w, f, devices=None, p_clone=0.0, email=None, cards=None):
    """A fraudster's second account: their home line and carrier, a mailbox
    (email, or a new one) and a card (cards, or a new one) of its own, and
    the devices given; else, with probability p_clone, one of the
    fraudster's devices seen anew (the app reinstalled, the canvas
    randomized), or a new phone."""
    em = email or fraud_email(w, f.cc)
    e = persona(w, f.cc, devices or [], None, email=em, phone=False,
                cards=cards if cards is not None else [w.new_card()])
    if not e.devices:
        if p_clone and chance(w.rng, p_clone):
            e.devices = [clone_device(w, f.pick_device(), reinstall=True,
                                      salt=W.hexid(w.rng, 6))]
            e.phone_dev = e.devices[0]
        else:
            e.add_phone()
    e.home, e.carrier = f.home, f.carrier
    return e


def young_referrer(w, cc, first_ref, devices=None, net=None):
    """A fraud ring's referrer: an account opened days before it starts
    referring, barely used."""
    r = persona(w, cc, devices or [], net)
    if not r.devices:
        r.add_phone(app=chance(w.rng, 0.5))
    age = between(w.rng, 0.5, 12)
    su = first_ref - int(age * DAY)
    w.signup(r, su)
    for _ in range(w.rng.randint(0, 2)):
        w.observe("login", r, su + w.rng.randrange(max(1, first_ref - su)))
    return r


def fresh_model(w, cat="phone"):
    """A complete, realistic fingerprint (anti-detect browsers draw them
    from databases of real ones)."""
    return w.devices.model(w.rng, cat, True)


def profile(w, cat, cc=None, tzl=None):
    """An anti-detect browser profile: a fresh, complete fingerprint
    (fresh_model) with its own canvas noise, set to the time zone and
    language of cc (or tzl, a (tz, lang) pair)."""
    model = fresh_model(w, cat)
    tz, lang = tzl or tz_lang(w, cc)
    dev = W.Device(w, model, "web", tz, lang)
    dev.canvas_salt = W.hexid(w.rng, 8)
    return dev


def other_country(w, cc):
    lst = [c for c, _ in w.country_w if c != cc]
    return w.rng.choice(lst) if lst else cc


def tz_lang(w, cc):
    c = W.COUNTRIES[cc]
    tz = pick(w.rng, [(z, wt) for z, _, wt in c["tz"]])
    return tz, pick(w.rng, c["langs"])


def random_local(w, n=None):
    rng = w.rng
    n = n or rng.randint(6, 11)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))


def fraud_email(w, cc, style=None):
    """A mailbox a fraudster opens for an account: name-like on a big
    provider (bought or made in bulk) or random letters."""
    rng = w.rng
    first, last = W.NAMES[W.COUNTRIES[cc]["names"]]
    tmp = types.SimpleNamespace(first=rng.choice(first), last=rng.choice(last), cc=cc)
    dom = pick(rng, [("gmail.com", 6), ("outlook.com", 2), ("hotmail.com", 1),
                     ("yahoo.com", 1), (w.email_domain(cc), 2)])
    if style == "random" or (style is None and chance(rng, 0.25)):
        for _ in range(20):
            em = "%s@%s" % (random_local(w), dom)
            if w.claim_email(em):
                return em
    return w.new_email(tmp, domain=dom)


def voip_number(w):
    """Virtual numbers that receive SMS codes, sold in bulk."""
    rng = w.rng
    if chance(rng, 0.6):
        return "+1%d%07d" % (rng.choice([205, 302, 347, 415, 463, 564, 659, 726, 854, 903]),
                             rng.randrange(10 ** 7))
    return "+447%09d" % rng.randrange(10 ** 9)


# ---- legitimate populations ---------------------------------------------------

def _friends(w, n, pattern, prep_referee=None, prep_referrer=None, per=None):
    """People refer a few friends over the weeks; referees sign up on their
    own devices and networks, mostly come back and buy, and now and then
    refer friends of their own."""
    g = Group(pattern)
    rng = w.rng
    queue = []
    while n > 0:
        grp = g.next()
        if queue and chance(rng, 0.5):
            r, t0 = queue.pop(0)
        else:
            r = w.person()
            if prep_referrer:
                prep_referrer(r)
            t0 = when(w, 6)
            w.establish(r, t0)
        k = size(w, n, 1, 5) if per is None else size(w, n, *per)
        times = sorted(t0 + int(between(rng, 0, 24) * DAY * (i > 0)) for i in range(k))
        for t in times:
            if t >= w.end:
                t = w.end - rng.randrange(DAY)
            e = w.person(r.cc if chance(rng, 0.9) else w.country())
            if prep_referee:
                prep_referee(e)
            t = referee_time(w, e, t)
            w.refer(r, e, t, "legit", pattern, grp)
            w.aftermath(e, t, w.labels[-1]["payout"])
            n -= 1
            if chance(rng, 0.08) and t + 3 * DAY < w.end:
                queue.append((e, t + int(between(rng, 1, 10) * DAY)))
            if n <= 0:
                break


def friends(w, n):
    _friends(w, n, "friends")


def vpn_user(w, n):
    """Legitimate people on commercial VPNs (hosting addresses, sometimes
    in another country than their settings say)."""
    def vpn(p):
        p.vpn_cc = w.vpn.exit_country(w.rng, p.cc)
    _friends(w, n, "vpn_user", prep_referee=vpn,
             prep_referrer=lambda p: vpn(p) if chance(w.rng, 0.5) else None)


def email_digits(w, n):
    """Ordinary addresses with numbers in them: a birth year, a lucky
    number, 'taken' names (anna1987@, mike23@, j.smith01@)."""
    def digits(p):
        st = pick(w.rng, [("fyyyy", 4), ("f##", 3), ("flyy", 2), ("f.l##", 2), ("fl###", 1)])
        p.email = w.new_email(p, style=st)
    _friends(w, n, "email_digits", prep_referee=digits,
             prep_referrer=lambda p: digits(p) if chance(w.rng, 0.5) else None)


def email_alias_own(w, n):
    """People who use Gmail dots or a +tag in their own address."""
    def alias(p):
        rng = w.rng
        for attempt in range(20):
            loc = "%s.%s" % (p.first, p.last) if chance(rng, 0.5) else p.first + p.last
            if chance(rng, 0.3):
                loc = loc.replace(".", "")
                cut = rng.randrange(1, len(loc))
                loc = loc[:cut] + "." + loc[cut:]
            if attempt:
                loc += str(rng.randint(1, 99))
            if chance(rng, 0.6):
                loc += "+" + rng.choice(["shop", "deals", "refer", "apps", "news", "x"])
            dom = "googlemail.com" if chance(rng, 0.05) else "gmail.com"
            em = "%s@%s" % (loc, dom)
            if w.claim_email(em):
                p.email = em
                return
    _friends(w, n, "email_alias_own", prep_referee=alias,
             prep_referrer=lambda p: alias(p) if chance(w.rng, 0.6) else None)


def reregistration(w, n):
    """Someone who lost their account (a forgotten password, an address
    they no longer read) signs up again through a friend's link, months
    after the old account went quiet, with the same phone number; on the
    same phone, or on the one they have now."""
    g = Group("reregistration")
    rng = w.rng
    while n > 0:
        grp = g.next()
        r, t0 = established(w, 2)
        e = w.person(r.cc if chance(rng, 0.9) else w.country())
        if e.phone is None:
            e.phone = w.new_phone(e.cc)
        t = referee_time(w, e, t0)
        old = w.person(e.cc)
        old.phone = e.phone
        if chance(rng, 0.5):
            old.devices = list(e.devices)
            old.phone_dev = e.phone_dev
        t_old = t - int(between(rng, 100, 300) * DAY)
        w.observe("signup", old, t_old, phone=old.phone)
        w.activity(old, t_old + HOUR, t_old + int(between(rng, 7, 60) * DAY),
                   between(rng, 0.5, 2.5), 0.3)
        w.refer(r, e, t, "legit", "reregistration", grp, phone=e.phone)
        w.aftermath(e, t, w.labels[-1]["payout"])
        n -= 1


def household(w, n):
    """A family or flat-share behind one broadband line: the same address
    and prefix, sometimes identical phones (the same fuzzy or even exact
    fingerprint), sometimes one family card."""
    g = Group("household")
    rng = w.rng
    while n > 0:
        grp = g.next()
        cc = w.country()
        members = [w.person(cc) for _ in range(rng.randint(2, 5))]
        home = W.HomeNet(w, cc)
        last = members[0].last
        shared_card = w.new_card() if chance(rng, 0.15) else None
        base_phone = members[0].phone_dev
        for m in members:
            m.home = home
            m.last = last
            m.tz, m.tzoff = members[0].tz, members[0].tzoff
            for d in m.devices:
                d.tz = m.tz
            if m is not members[0] and chance(rng, 0.12) and base_phone is not None:
                # the same phone model, bought together
                d = W.Device(w, base_phone.model, base_phone.kind, m.tz, members[0].lang)
                m.devices[0] = d
                m.phone_dev = d
            if shared_card:
                m.cards = [shared_card] + m.cards[:1]
        r = members[0]
        k = size(w, n, 1, len(members) - 1)
        t0 = when(w, 10)
        w.establish(r, t0)
        for i, e in enumerate(members[1:1 + k]):
            t = referee_time(w, e, t0 + int(between(rng, 0, 20) * DAY * (i > 0)))
            w.refer(r, e, t, "legit", "household", grp,
                    ee_net=home if chance(rng, 0.7) else None)
            w.aftermath(e, t, w.labels[-1]["payout"])
            n -= 1


def family_tablet(w, n):
    """A relative signs up on the referrer's own tablet or laptop (the
    exact device), once; later they use their own phone."""
    g = Group("family_tablet")
    rng = w.rng
    while n > 0:
        grp = g.next()
        cc = w.country()
        r = w.person(cc)
        if r.home is None:
            r.home = W.HomeNet(w, cc)
        shared = r.add_computer("tablet" if chance(rng, 0.6) else "desktop")
        e = w.person(cc)
        e.home = r.home if chance(rng, 0.6) else e.home
        t0 = when(w, 2)
        w.establish(r, t0)
        w.observe("login", r, t0 - rng.randrange(HOUR, 5 * DAY), dev=shared, net=r.home)
        t = referee_time(w, e, t0)
        w.refer(r, e, t, "legit", "family_tablet", grp, ee_dev=shared, ee_net=r.home)
        w.aftermath(e, t, w.labels[-1]["payout"])
        n -= 1


def office(w, n):
    """Colleagues behind one corporate address (or a few), on identical
    corporate laptops, referring each other after a post in the team
    chat."""
    g = Group("office")
    rng = w.rng
    while n > 0:
        grp = g.next()
        cc = w.country()
        net = W.SharedNet(w, "office", cc, "residential", rng.randint(1, 3), rng.randint(2, 6),
                          0.35 if w.variant == "B" else 0.05)
        models = [w.devices.model(rng, "desktop", w.p["real_devices"])
                  for _ in range(rng.randint(2, 5))]
        lag = int(between(rng, 0, 7) * DAY)     # updates are rolled out centrally
        p_laptop = between(rng, 0.5, 0.9)
        staff = []
        for _ in range(rng.randint(8, 60)):
            p = w.person(cc)
            p.office = net
            if chance(rng, p_laptop):
                p.add_computer(model=rng.choice(models))
                p.devices[-1].lag = lag
                p.devices[-1].noise = None
            staff.append(p)
        refs = staff[:rng.randint(1, 3)]
        pool = staff[len(refs):]
        rng.shuffle(pool)
        t0 = when(w, 8)
        day0 = w.day(t0)
        for r in refs:
            w.establish(r, t0)
        k = size(w, n, 2, min(12, len(pool)))
        for i, e in enumerate(pool[:k]):
            r = rng.choice(refs)
            burst = i < k * 0.7
            t = day0 + int((between(rng, 0, 1) if burst else between(rng, 1, 12)) * DAY)
            t = w.local_time(e, w.day(t), hours=[0] * 9 + [3, 4, 4, 2, 4, 4, 3, 2, 1] + [0] * 6)
            at_work = chance(rng, 0.7)
            laptop = e.devices[-1] if at_work and chance(rng, 0.45) else None
            w.refer(r, e, t, "legit", "office", grp,
                    ee_dev=laptop, ee_net=net if at_work else None)
            w.aftermath(e, t, w.labels[-1]["payout"])
            n -= 1
            if n <= 0:
                break


def carrier_nat(w, n):
    """Mobile-only people on a carrier whose carrier-grade NAT puts many
    unrelated subscribers behind a handful of public addresses."""
    rng = w.rng
    small = [c for c, _ in w.country_w if c in ("IN", "ID", "NG", "PH", "BR", "MX", "TR")]
    ccs = small or [c for c, _ in w.country_w]

    def mobile_only(p, carrier):
        p.home = None
        p.carrier = carrier
        p.vpn_cc = None
        p.devices = [p.phone_dev]
    g = Group("carrier_nat")
    while n > 0:
        grp = g.next()
        cc = rng.choice(ccs)
        carrier = min(w._carriers(cc), key=lambda c: (len(c.pool), c.asn))
        if chance(rng, 0.5):
            carrier = rng.choice(w._carriers(cc))
        for _ in range(rng.randint(3, 8)):
            if n <= 0:
                break
            r = w.person(cc)
            mobile_only(r, carrier)
            t0 = when(w, 4)
            w.establish(r, t0)
            for i in range(size(w, n, 1, 3)):
                e = w.person(cc)
                mobile_only(e, carrier)
                t = referee_time(w, e, t0 + int(between(rng, 0, 14) * DAY * (i > 0)))
                w.refer(r, e, t, "legit", "carrier_nat", grp)
                w.aftermath(e, t, w.labels[-1]["payout"])
                n -= 1


def campus(w, n):
    """Semester start: students refer each other within days on the
    campus network (few NAT addresses, shared IPv6 subnets), many on the
    same popular phones and laptops."""
    rng = w.rng
    g = Group("campus")
    unis = [c for c, _ in w.country_w if w.ranges.networks("university", c)]
    if not unis:
        return _friends(w, n, "campus")
    while n > 0:
        grp = g.next()
        cc = rng.choice(unis)
        net = W.SharedNet(w, "campus", cc, "university", rng.randint(2, 8), rng.randint(4, 12),
                          0.85 if w.variant == "B" else 0.1)
        phones = [w.devices.model(rng, "phone", w.p["real_devices"]) for _ in range(4)]
        laptops = [w.devices.model(rng, "desktop", w.p["real_devices"]) for _ in range(3)]
        term = when(w, 7)
        students = []
        for _ in range(rng.randint(30, 160)):
            p = student(w, cc, net, phones, laptops)
            students.append(p)
        seeds = students[:rng.randint(2, 6)]
        for s in seeds:
            w.establish(s, term, age_days=between(rng, 3, 300))
        waiting = list(seeds)
        pool = students[len(seeds):]
        times = {s.account: term for s in seeds}
        k = size(w, n, 8, min(60, len(pool)))
        for e in pool[:k]:
            r = rng.choice(waiting[-12:])
            t = times[r.account] + int(between(rng, 0.02, 1.5) * DAY)
            t = min(t, term + 5 * DAY)
            t = max(t, times[r.account] + 5 * MINUTE)
            w.refer(r, e, t, "legit", "campus", grp, ee_net=net if chance(rng, 0.7) else None)
            w.aftermath(e, t, w.labels[-1]["payout"])
            times[e.account] = t
            if chance(rng, 0.3):
                waiting.append(e)
            n -= 1
            if n <= 0:
                break


def student(w, cc, net, phones, laptops):
    """A student: a popular phone, often a popular laptop, the campus
    network (or the carrier) instead of a home line."""
    rng = w.rng
    p = W.Person(w, cc)
    p.add_phone(model=rng.choice(phones) if chance(rng, 0.6) else None)
    if chance(rng, 0.7):
        p.add_computer(model=rng.choice(laptops) if chance(rng, 0.5) else None)
    p.campus = net
    return p


def influencer(w, n):
    """A creator posts their link: 50-150 sign-ups in a day or two, from
    everywhere, who mostly buy."""
    rng = w.rng
    g = Group("influencer")
    while n > 0:
        grp = g.next()
        r = w.person()
        t0 = when(w, 3)
        w.establish(r, t0, age_days=between(rng, 60, 700), per_week=between(rng, 2, 6))
        k = size(w, n, 50, 150)
        for _ in range(k):
            t = t0 + int(min(rng.expovariate(1 / (6 * HOUR)), 2 * DAY))
            e = w.person(r.cc if chance(rng, 0.6) else w.country())
            w.refer(r, e, t, "legit", "influencer", grp)
            if chance(rng, 0.85):
                w.observe("purchase", e, t + int(rng.expovariate(1 / (8 * HOUR))) + MINUTE,
                          payment=e.cards[0])
                w.activity(e, t + DAY, w.labels[-1]["payout"] + 5 * DAY,
                           between(rng, 0.3, 3), 0.3)
            else:
                w.aftermath(e, t, w.labels[-1]["payout"])
            n -= 1


def onboarding(w, n):
    """A new user, minutes after joining, invites a friend (often sitting
    next to them) who signs up within the hour or later that day."""
    rng = w.rng
    g = Group("onboarding")
    while n > 0:
        grp = g.next()
        r = w.person()
        t0 = w.local_time(r, w.day(when(w, 1)))
        w.signup(r, t0)
        e = w.person(r.cc)
        together = chance(rng, 0.35) and r.home is not None
        t = t0 + pick(rng, [(int(between(rng, 5, 60) * MINUTE), 6),
                            (int(between(rng, 1, 8) * HOUR), 3),
                            (int(between(rng, 8, 72) * HOUR), 1)])
        w.refer(r, e, t, "legit", "onboarding", grp, ee_net=r.home if together else None)
        w.aftermath(e, t, w.labels[-1]["payout"])
        w.activity(r, t0 + HOUR, w.end + 10 * DAY, between(rng, 0.5, 3), 0.35)
        n -= 1


LEGIT = {
    "friends": friends, "household": household, "family_tablet": family_tablet,
    "office": office, "carrier_nat": carrier_nat, "campus": campus,
    "influencer": influencer, "vpn_user": vpn_user, "onboarding": onboarding,
    "email_digits": email_digits, "email_alias_own": email_alias_own,
    "reregistration": reregistration,
}


# ---- fraud families --------------------------------------------------------------

def _self_referral(w, n, pattern, make):
    """One fraudster, their real account as referrer, and one or two new
    accounts of their own; make(w, fraudster, t) gives the new account
    and its signup session arguments."""
    rng = w.rng
    g = Group(pattern)
    while n > 0:
        grp = g.next()
        f, t0 = established(w, 3)
        for i in range(size(w, n, 1, pick(rng, [(1, 8), (2, 2)]))):
            t = t0 + int(between(rng, 0, 3) * DAY) * i
            t = w.local_time(f, w.day(t))
            # the fraudster was logged in just before, on their device
            e, kw, after = make(w, f, t)
            w.refer(f, e, t, "fraud", pattern, grp, **kw)
            after(e, t)
            n -= 1


def _after_fraud(w, profile_weights):
    def after(e, t):
        prof = pick(w.rng, profile_weights)
        if prof != "none":
            w.aftermath(e, t, w.labels[-1]["payout"], prof)
    return after


def self_same_device(w, n):
    """The referee account is opened on the referrer's own device (the
    same browser or app install), usually at home."""
    def make(w, f, t):
        dev = f.pick_device()
        w.observe("login", f, t - w.rng.randrange(2 * MINUTE, 3 * HOUR), dev=dev)
        e = sibling(w, f, [dev], email=fraud_email(w, f.cc, "name"))
        return e, {"ee_dev": dev}, _after_fraud(w, [("none", 4), ("one_login", 3), ("qualify", 3)])
    _self_referral(w, n, "self_same_device", make)


def self_browser_update(w, n):
    """The same machine, but the browser updated in between (a new user
    agent version: the exact fingerprint changes, the fuzzy one stays)."""
    def make(w, f, t):
        webs = [d for d in f.devices if d.kind == "web"] or [f.add_computer()]
        dev = w.rng.choice(webs)
        w.observe("login", f, t - w.rng.randrange(DAY, 10 * DAY), dev=dev)
        nd = clone_device(w, dev, bumps=w.rng.randint(1, 2))
        e = sibling(w, f, [nd], email=fraud_email(w, f.cc, "name"))
        return e, {"ee_dev": nd}, _after_fraud(w, [("none", 4), ("one_login", 3), ("qualify", 3)])
    _self_referral(w, n, "self_browser_update", make)


def gmail_variant(w, email, i):
    """Another spelling of the same Gmail mailbox."""
    rng = w.rng
    loc, _, dom = email.partition("@")
    plain = loc.replace(".", "")
    kind = pick(rng, [("dots", 4), ("plus", 4), ("both", 2), ("googlemail", 1)])
    if kind in ("dots", "both"):
        cut = sorted(rng.sample(range(1, len(plain)), min(len(plain) - 1, rng.randint(1, 2))))
        parts, last = [], 0
        for c in cut:
            parts.append(plain[last:c])
            last = c
        parts.append(plain[last:])
        loc = ".".join(parts)
        if loc == email.partition("@")[0]:
            loc = plain
    if kind in ("plus", "both"):
        loc += "+" + rng.choice(["ref", "promo", "%d" % (i + 1), "bonus", "x", "new"])
    if kind == "googlemail":
        return loc + "@googlemail.com"
    return loc + "@gmail.com"


def gmail_alias(w, n):
    """The referee's address is the referrer's Gmail mailbox spelled
    another way (dots, a +tag, googlemail.com)."""
    def make(w, f, t):
        if not W.mailbox_key(f.email).endswith("@gmail.com"):
            f.email = w.new_email(f, domain="gmail.com")
        em = gmail_variant(w, f.email, 0)
        dev = f.pick_device() if chance(w.rng, 0.4) else (
            clone_device(w, f.pick_device(), bumps=1) if chance(w.rng, 0.3) else None)
        e = sibling(w, f, [dev] if dev else None, email=em)
        return e, {"ee_dev": e.devices[0]}, _after_fraud(w, [("none", 4), ("one_login", 3),
                                                              ("qualify", 3)])
    _self_referral(w, n, "gmail_alias", make)


def shared_phone(w, n):
    """The referee verifies with the referrer's phone number (the SMS
    code lands on the fraudster's own phone), at signup or added later."""
    def make(w, f, t):
        if not f.phone:
            f.phone = w.new_phone(f.cc)
            w.observe("update", f, t - 20 * DAY, phone=f.phone)
        e = sibling(w, f, p_clone=0.5)
        later = chance(w.rng, 0.3)

        def after(e2, t2):
            if later:
                w.observe("update", e2, t2 + int(between(w.rng, 0.1, 4) * DAY), phone=f.phone)
            _after_fraud(w, [("none", 3), ("one_login", 3), ("qualify", 4)])(e2, t2)
        return e, {"phone": None if later else f.phone}, after
    _self_referral(w, n, "shared_phone", make)


def shared_card(w, n):
    """The referee pays with the referrer's card, at signup or in the
    purchase that qualifies the referral."""
    def make(w, f, t):
        card = f.cards[0]
        w.observe("purchase", f, t - w.rng.randrange(DAY, 20 * DAY), payment=card)
        e = sibling(w, f, p_clone=0.4, cards=[card])
        at_signup = chance(w.rng, 0.4)

        def after(e2, t2):
            w.observe("purchase", e2, t2 + int(between(w.rng, 0.05, 3) * DAY), payment=card)
        return e, {"payment": card if at_signup else None}, after
    _self_referral(w, n, "shared_card", make)


def disposable_mail(w, n):
    """A handful of accounts on throwaway mailboxes: listed disposable
    domains, and fresh ones no list knows yet."""
    rng = w.rng
    g = Group("disposable_mail")
    while n > 0:
        grp = g.next()
        f, t0 = established(w, 6)
        k = size(w, n, 2, 8)
        fresh = "%s.%s" % (random_local(w, rng.randint(5, 9)),
                           rng.choice(["xyz", "top", "site", "online", "click", "store"]))
        for i in range(k):
            t = w.local_time(f, w.day(t0 + int(between(rng, 0, 5) * DAY)))
            dom = rng.choice(w.disposable) if chance(rng, 0.75) else fresh
            em = "%s@%s" % (random_local(w) if chance(rng, 0.6) else
                            "%s%d" % (f.first, rng.randint(1, 999)), dom)
            if not w.claim_email(em):
                em = "%s%d@%s" % (random_local(w), i, dom)
                w.claim_email(em)
            how = pick(rng, [("same", 3), ("incognito", 3), ("own", 2)])
            if how == "same":
                dev = f.pick_device()
            elif how == "incognito":
                dev = clone_device(w, f.pick_device(), salt=W.hexid(rng, 6))
            else:
                dev = None
            e = persona(w, f.cc, [dev] if dev else [], None, email=em, phone=False,
                        cards=[w.new_card()])
            if not e.devices:
                e.add_phone()
            e.home, e.carrier, e.vpn_cc = f.home, f.carrier, f.vpn_cc
            w.refer(f, e, t, "fraud", "disposable_mail", grp, ee_dev=e.devices[0])
            _after_fraud(w, [("none", 6), ("one_login", 2), ("qualify", 2)])(e, t)
            n -= 1


def _farm_after(w, idle=None):
    """What a farm's accounts do after the referral, decided per farm:
    some operators know the reward pays only after a first purchase or
    top-up and make every account do it right away ("reward"); the rest
    leave them as idle(e, t) has them (nothing when None)."""
    if chance(w.rng, w.p["p_farm_reward"]):
        return lambda e, t: w.aftermath(e, t, w.labels[-1]["payout"], "reward")
    return idle or (lambda e, t: None)


def _farm_referrers(w, cc, first, k, young=True):
    if young:
        return [young_referrer(w, cc, first) for _ in range(k)]
    out = []
    for _ in range(k):
        r = w.person(cc)
        w.establish(r, first, age_days=between(w.rng, 20, 200), per_week=0.5)
        out.append(r)
    return out


def device_farm(w, n):
    """A few physical phones produce many accounts: between accounts the
    app is reinstalled (a new install id), a randomizer changes the canvas,
    the browser is updated, or data is just cleared; a couple of SIM cards
    (airplane mode: a new carrier NAT address) or a proxy provide the
    addresses."""
    rng = w.rng
    g = Group("device_farm")
    while n > 0:
        grp = g.next()
        cc, k, span, t0 = batch(w, n, 10, 40, 1, 5)
        tz, lang = tz_lang(w, cc)
        model = w.devices.model(rng, "phone", w.p["real_devices"])
        phones = []
        for _ in range(rng.randint(2, 6)):
            m = model if chance(rng, 0.6) else w.devices.model(rng, "phone", w.p["real_devices"])
            phones.append(W.Device(w, m, "app" if chance(rng, 0.5) else "web", tz, lang))
        mode = pick(rng, [("reinstall", 4), ("canvas", 3), ("bump", 2), ("clear", 1)])
        if chance(rng, 0.6):
            carriers = [w.carrier(cc) for _ in range(rng.randint(1, 3))]
            net = None
        else:
            carriers = None
            net = W.ProxyPool(w, "residential", [cc], 0.4 if w.variant == "B" else 0.0)
        refs = _farm_referrers(w, cc, t0, rng.randint(1, 3), young=chance(rng, 0.7))
        after = _farm_after(w, _after_fraud(w, [("none", 7), ("one_login", 3)]))
        for i in range(k):
            ph = phones[i % len(phones)]
            if mode == "reinstall" and ph.kind == "app":
                ph.reinstall()
                dev = ph
            elif mode in ("canvas", "reinstall"):
                dev = clone_device(w, ph, reinstall=True, salt=W.hexid(rng, 8))
            elif mode == "bump":
                ph.extra_bumps += 1
                dev = clone_device(w, ph)
            else:
                dev = ph
            t = t0 + int(between(rng, 0, span) * DAY)
            hnet = net or rng.choice(carriers)
            e = persona(w, cc, [dev], hnet, email=fraud_email(w, cc), phone=False, cards=[])
            if chance(rng, 0.3):
                e.phone = voip_number(w)
            w.refer(rng.choice(refs), e, t, "fraud", "device_farm", grp, ee_dev=dev,
                    phone=e.phone)
            after(e, t)
            n -= 1


def _antidetect(w, n, pattern, span_lo, span_hi, per_day=None):
    rng = w.rng
    g = Group(pattern)
    while n > 0:
        grp = g.next()
        cc, k, span, t0 = batch(w, n, 15, 40, span_lo, span_hi)
        targets = [cc] if chance(rng, 0.7) else [cc, other_country(w, cc)]
        net = W.ProxyPool(w, "residential", targets, 0.4 if w.variant == "B" else 0.03)
        home_tz = tz_lang(w, other_country(w, cc))     # where the operator sits
        refs = _farm_referrers(w, cc, t0, rng.randint(1, 3))
        after = _farm_after(w)
        if per_day:
            times = []
            day = t0
            while len(times) < k:
                for _ in range(rng.randint(*per_day)):
                    times.append(day + rng.randrange(DAY))
                day += DAY
            times = sorted(times[:k])
        else:
            times = sorted(t0 + int(between(rng, 0, span) * DAY) for _ in range(k))
        for t in times:
            pc = rng.choice(targets)
            tz, lang = tz_lang(w, pc) if chance(rng, 0.85) else home_tz
            cat = pick(rng, [("desktop", 6), ("phone", 4)])
            dev = profile(w, cat, tzl=(tz, lang))
            e = persona(w, pc, [dev], net, email=fraud_email(w, pc, "name"),
                        phone=False, cards=[])
            if chance(rng, 0.3):
                e.phone = voip_number(w)
            w.refer(rng.choice(refs), e, t, "fraud", pattern, grp, ee_dev=dev, phone=e.phone)
            after(e, t)
            n -= 1


def antidetect_farm(w, n):
    """An anti-detect browser gives every account a fresh, complete,
    realistic fingerprint; rotating residential proxies give it a fresh
    home address; 15-40 accounts in a few days for 1-3 young referrer
    accounts; the referees never come back."""
    _antidetect(w, n, "antidetect_farm", 1, 4)


def slow_farm(w, n):
    """The same, spread over two or three weeks, 1-3 accounts a day, to
    stay under velocity limits."""
    _antidetect(w, n, "slow_farm", 14, 21, per_day=(1, 3))


def fresh_chain(w, n):
    """Each new account refers the next minutes after it joined."""
    rng = w.rng
    g = Group("fresh_chain")
    while n > 0:
        grp = g.next()
        cc = w.country()
        L = size(w, n, 4, 12)
        mode = pick(rng, [("same", 3), ("antidetect", 4), ("reinstall", 3)])
        base = W.Device(w, w.devices.model(rng, "phone", w.p["real_devices"]),
                        "app" if mode == "reinstall" else "web", *tz_lang(w, cc))
        net = W.ProxyPool(w, "residential", [cc], 0.3 if w.variant == "B" else 0.0) \
            if mode == "antidetect" else None
        f = w.person(cc)
        t = when(w, 1)
        first = persona(w, cc, [base], net, email=fraud_email(w, cc), phone=False, cards=[])
        first.home, first.carrier = f.home, f.carrier
        w.signup(first, t, dev=base)
        prev = first
        for _ in range(L):
            t += int(between(rng, 2, 40) * MINUTE)
            if mode == "same":
                dev = base
            elif mode == "reinstall":
                base.reinstall()
                dev = clone_device(w, base)
            else:
                dev = profile(w, "phone", cc)
            e = persona(w, cc, [dev], net, email=fraud_email(w, cc), phone=False, cards=[])
            e.home, e.carrier = f.home, f.carrier
            w.refer(prev, e, t, "fraud", "fresh_chain", grp, ee_dev=dev)
            prev = e
            n -= 1


def sleeper(w, n):
    """Accounts opened weeks ahead (each on its own fingerprint and
    address), then all referred by one referrer within two hours; their
    cards are shared in groups of three or four."""
    rng = w.rng
    g = Group("sleeper")
    while n > 0:
        grp = g.next()
        cc = w.country()
        k = size(w, n, 8, 25)
        t_act = max(when(w, 1), w.start + 7 * DAY)
        net = W.ProxyPool(w, "residential", [cc], 0.4 if w.variant == "B" else 0.0)
        ref = young_referrer(w, cc, t_act) if chance(rng, 0.5) else None
        if ref is None:
            ref = w.person(cc)
            w.establish(ref, t_act, per_week=0.5)
        cards = []
        sleepers = []
        for i in range(k):
            if i % rng.choice([3, 4]) == 0 or not cards:
                cards.append(w.new_card())
            dev = profile(w, pick(rng, [("desktop", 5), ("phone", 5)]), cc)
            s = persona(w, cc, [dev], net, email=fraud_email(w, cc), phone=False,
                        cards=[cards[-1]])
            su = t_act - int(between(rng, 14, 42) * DAY)
            w.signup(s, su, dev=dev)
            if chance(rng, 0.3):
                w.observe("login", s, su + int(between(rng, 1, 10) * DAY))
            sleepers.append(s)
        for s in sleepers:
            t = t_act + rng.randrange(2 * HOUR)
            at_check = chance(rng, 0.6)
            w.refer(ref, s, t, "fraud", "sleeper", grp, payment=s.cards[0] if at_check else None)
            if not at_check:
                w.observe("purchase", s, t + int(between(rng, 0.02, 2) * DAY),
                          payment=s.cards[0])
            n -= 1


def cash_out(w, n):
    """Referees with clean-looking identities of their own (paid sign-ups,
    bought identities) who never log in or buy again: the referral is all
    they were for."""
    rng = w.rng
    g = Group("cash_out")
    while n > 0:
        grp = g.next()
        r, t0 = established(w, 14)
        for _ in range(size(w, n, 3, 10)):
            e = w.person(r.cc if chance(rng, 0.8) else w.country())
            t = referee_time(w, e, t0 + int(between(rng, 0, 14) * DAY))
            w.refer(r, e, t, "fraud", "cash_out", grp)
            n -= 1


def numbered_mailbox(w, n):
    """john.smith01@, john.smith02@ ...: one name, numbered, on one
    domain."""
    rng = w.rng
    g = Group("numbered_mailbox")
    while n > 0:
        grp = g.next()
        cc = w.country()
        first, last = W.NAMES[W.COUNTRIES[cc]["names"]]
        base = pick(rng, [("%s.%s" % (rng.choice(first), rng.choice(last)), 3),
                          (rng.choice(first) + rng.choice(last), 2),
                          (rng.choice(first)[0] + rng.choice(last), 1)])
        dom = pick(rng, [("gmail.com", 3), ("outlook.com", 2), ("yahoo.com", 1),
                         (random_local(w, 6) + ".com", 1)])
        width = rng.choice([1, 2, 2, 3])
        k = size(w, n, 5, 20)
        span = between(rng, 0.2, 6)
        t0 = when(w, span)
        mode = pick(rng, [("antidetect", 4), ("same", 3), ("farm", 3)])
        net = W.ProxyPool(w, "residential", [cc], 0.3 if w.variant == "B" else 0.0) \
            if mode != "same" else None
        f = w.person(cc)
        refs = _farm_referrers(w, cc, t0, rng.randint(1, 2), young=chance(rng, 0.6))
        start = rng.randint(0, 3)
        dev0 = f.pick_device()
        after = _farm_after(w)
        for i in range(k):
            em = "%s%0*d@%s" % (base, width, start + i + 1, dom)
            w.claim_email(em)
            if mode == "same":
                dev = dev0
            elif mode == "farm":
                dev = clone_device(w, dev0, reinstall=True, salt=W.hexid(rng, 8))
            else:
                dev = profile(w, "desktop", cc)
            e = persona(w, cc, [dev], net, email=em, phone=False, cards=[])
            e.home, e.carrier = f.home, f.carrier
            t = t0 + int(between(rng, 0, span) * DAY)
            w.refer(rng.choice(refs), e, t, "fraud", "numbered_mailbox", grp, ee_dev=dev)
            after(e, t)
            n -= 1


def hosting_proxy(w, n):
    """Scripted sign-ups through data-centre proxies (hosting networks,
    sometimes random addresses of one IPv6 block), fast, at any hour, the
    browser's time zone often not the proxy's country."""
    rng = w.rng
    g = Group("hosting_proxy")
    while n > 0:
        grp = g.next()
        cc, k, span, t0 = batch(w, n, 10, 40, 0.05, 3)
        proxy_cc = cc if chance(rng, 0.6) else rng.choice(["US", "NL", "DE", "GB", "SG", "FR"])
        net = W.ProxyPool(w, "datacenter", [proxy_cc], 0.5 if w.variant == "B" else 0.1)
        op_tz = tz_lang(w, other_country(w, cc))
        refs = _farm_referrers(w, cc, t0, rng.randint(1, 3))
        model = w.devices.model(rng, "desktop", w.p["real_devices"])
        same_model = chance(rng, 0.5)
        after = _farm_after(w)
        for _ in range(k):
            t = t0 + int(between(rng, 0, span) * DAY)
            tz, lang = op_tz if chance(rng, 0.6) else tz_lang(w, cc)
            m = model if same_model else w.devices.model(rng, "desktop", w.p["real_devices"])
            dev = W.Device(w, m, "web", tz, lang)
            if chance(rng, 0.7):
                dev.canvas_salt = W.hexid(rng, 8)
            if chance(rng, 0.15):
                dev.ua_base = dev.ua_base.replace("Chrome/", "HeadlessChrome/")
            e = persona(w, cc, [dev], net, email=fraud_email(w, cc), phone=False, cards=[])
            w.refer(rng.choice(refs), e, t, "fraud", "hosting_proxy", grp, ee_dev=dev)
            after(e, t)
            n -= 1


def _ring(w, n, pattern, lo, hi):
    """Accounts that enter each other's referral codes (many services
    accept a code for some days after signing up): A refers B, B refers
    C ... and the last refers A."""
    rng = w.rng
    g = Group(pattern)
    while n > 0:
        grp = g.next()
        cc = w.country()
        L = min(n, rng.randint(lo, hi))
        if L < 2:
            L = 2
        t0 = when(w, 5)
        one_op = chance(rng, 0.5)
        op = w.person(cc)
        members = []
        for i in range(L):
            if one_op:
                dev = clone_device(w, op.pick_device(), bumps=i % 2, salt=W.hexid(rng, 6))
                m = persona(w, cc, [dev], None, email=fraud_email(w, cc), phone=False,
                            cards=[w.new_card()])
                m.home, m.carrier = op.home, op.carrier
            else:
                m = w.person(cc)
            members.append(m)
        first = members[0]
        w.signup(first, t0)
        t = t0
        for i in range(1, L + 1):
            r = members[i - 1]
            e = members[i % L]
            t += int(between(rng, 0.1, 2) * DAY)
            if n <= 0:
                break
            w.refer(r, e, t, "fraud", pattern, grp, signup_party=e.signup is None)
            n -= 1


def ring_mutual(w, n):
    _ring(w, n, "ring_mutual", 2, 2)


def ring_cycle(w, n):
    _ring(w, n, "ring_cycle", 3, 5)


FRAUD = {
    "self_same_device": self_same_device, "self_browser_update": self_browser_update,
    "gmail_alias": gmail_alias, "shared_phone": shared_phone, "shared_card": shared_card,
    "disposable_mail": disposable_mail, "device_farm": device_farm,
    "antidetect_farm": antidetect_farm, "slow_farm": slow_farm, "fresh_chain": fresh_chain,
    "sleeper": sleeper, "cash_out": cash_out, "numbered_mailbox": numbered_mailbox,
    "hosting_proxy": hosting_proxy, "ring_mutual": ring_mutual, "ring_cycle": ring_cycle,
}
