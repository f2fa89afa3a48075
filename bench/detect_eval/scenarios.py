"""Scenarios: background traffic from a model, injected anomalies with their
ground truth, and whether each injection is detectable in principle.

A scenario builds a ``Built``: lookups (sorted), the watch list, the
organisations and holidays files' contents, and the injections. Each
injection records the alert kinds it accepts, the watch entries it touches,
its window and tolerance, and a detectability verdict computed from the
traffic with and without it.
"""
import bisect
import math

from . import model as M
from . import pcap as P
from .model import DAY, HOUR, MIN, SEC

P_DETECT = 1e-4
MIN_LIFT = 1.5

# Alert kinds each injection kind accepts.
ACCEPT = {
    "burst": ("burst",),
    "quiet": ("quiet",),
    "clickwave": ("burst", "first_seen"),
    "concentration": ("concentration",),
    "new_querier": ("new_querier", "concentration"),
    "periodic": ("periodic",),
    "rcode_change": ("rcode_change",),
    "answer_change": ("answer_change",),
    "new_name": ("new_name",),
}
# Detection-delay budgets (hours) by injection kind (issue 8).
DELAY_BUDGET_H = {"burst": 2, "clickwave": 2, "rcode_change": 2, "answer_change": 2, "new_name": 2,
                  "concentration": 24, "new_querier": 24}


# --------------------------------------------------------------------------
# Statistics for detectability


def poisson_sf(k, mu):
    """P(X >= k), X ~ Poisson(mu)."""
    if k <= 0:
        return 1.0
    mu = max(mu, 1e-9)
    lmu = math.log(mu)
    total, i = 0.0, k
    while True:
        term = math.exp(-mu + i * lmu - math.lgamma(i + 1))
        total += term
        if i > mu and term < total * 1e-14:
            break
        i += 1
        if i > k + 100_000:
            break
    return min(1.0, total)


def poisson_cdf(k, mu):
    """P(X <= k)."""
    if k < 0:
        return 0.0
    lmu = math.log(max(mu, 1e-9))
    return min(1.0, sum(math.exp(-mu + i * lmu - math.lgamma(i + 1)) for i in range(k + 1)))


def binom_sf(k, n, p):
    """P(X >= k), X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    p = min(max(p, 1e-12), 1 - 1e-12)
    lp, lq = math.log(p), math.log(1 - p)
    lc = math.lgamma(n + 1)
    return min(1.0, sum(math.exp(lc - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq)
                        for i in range(k, n + 1)))


# --------------------------------------------------------------------------
# Entries and matching (as dnswatch matches them)


def entry_is_address(e):
    return e[0].isdigit() and (":" in e or e.replace(".", "").isdigit()) or ":" in e


def matcher(entry):
    if entry_is_address(entry):
        a = P.ip(entry)
        ptr = P.ptr_name(a)

        def m(ev):
            if ev[P.QNAME] == ptr:
                return True
            if ev[P.RCODE] is None:  # unanswered: no answers seen
                return False
            for _, rdata in ev[P.ANSWERS]:
                if rdata == a:
                    return True
            return False
        return m
    suffix = "." + entry

    def m(ev):
        q = ev[P.QNAME]
        return q == entry or q.endswith(suffix)
    return m


class Injection:
    def __init__(self, label, kind, entry, start, end, tol_h, magnitude="", entries=None):
        self.label, self.kind, self.entry = label, kind, entry
        self.kinds = ACCEPT[kind]
        self.entries = set(entries or [entry])
        self.start, self.end, self.tol = start, end, int(tol_h * HOUR)
        self.magnitude = magnitude
        self.detectable = None
        self.why = ""
        self.check = None  # (built) -> (bool, why)

    def to_json(self):
        return {"label": self.label, "kind": self.kind, "accepts": list(self.kinds), "entry": self.entry,
                "entries": sorted(self.entries), "start": self.start, "end": self.end, "tol_s": self.tol // SEC,
                "magnitude": self.magnitude, "detectable": self.detectable, "why": self.why}


class Built:
    def __init__(self, name, family, model, cal, watch, control):
        self.name, self.family, self.model, self.cal = name, family, model, cal
        self.watch = watch  # watch entries
        self.control = control
        self.events = []
        self.base = []  # lookups without the traffic injections
        self.injections = []
        self.orgs = []  # (prefix, organisation)
        self.holidays = [cal.day_names[d] for d in sorted(cal.holidays)]
        self.soa = None
        self.exempt = []  # (kinds, entries, start, end): consequences that are not false alerts
        self.signals = False  # report injections as 2016 signals
        self.noise_entries = set()  # entries on which any alert is false (decoys)

    def ts_by_entry(self, events):
        out = {e: [] for e in self.watch}
        ms = [(e, matcher(e)) for e in self.watch]
        for ev in events:
            for e, m in ms:
                if m(ev):
                    out[e].append(ev[P.TS])
        return out

    def finish(self):
        self.events.sort(key=lambda e: e[0])
        self.base.sort(key=lambda e: e[0])
        self._final_ts = self.ts_by_entry(self.events)
        self._base_ts = self.ts_by_entry(self.base)
        for inj in self.injections:
            if inj.check is not None:
                inj.detectable, inj.why = inj.check(self)
            else:
                inj.detectable, inj.why = True, "by construction"
        del self._final_ts, self._base_ts

    def count(self, entry, a, b, base=False):
        ts = (self._base_ts if base else self._final_ts)[entry]
        return bisect.bisect_left(ts, b) - bisect.bisect_left(ts, a)


def nb_logpmf(i, mu, size):
    return (math.lgamma(i + size) - math.lgamma(size) - math.lgamma(i + 1)
            + size * math.log(size / (size + mu)) + i * math.log(mu / (size + mu)))


def nb_sf(k, mu, size):
    """P(X >= k), X ~ NegBin(mean mu, size): gamma-mixed Poisson."""
    if k <= 0:
        return 1.0
    return max(0.0, 1.0 - sum(math.exp(nb_logpmf(i, mu, size)) for i in range(k)))


def nb_cdf(k, mu, size):
    """P(X <= k)."""
    if k < 0:
        return 0.0
    return min(1.0, sum(math.exp(nb_logpmf(i, mu, size)) for i in range(k + 1)))


def nb_upper_check(entry, a, b, mu, size):
    """Detectable against the traffic's own day-to-day variation: the
    window's count in the upper tail (p < P_DETECT) of the negative binomial
    the generator draws such windows from (mean mu, size), with the lift."""
    def f(bt):
        obs = bt.count(entry, a, b)
        p = nb_sf(obs, mu, size)
        lift = obs / max(mu, 0.5)
        return p < P_DETECT and lift >= MIN_LIFT, \
            "%d lookups vs %.0f expected, NB size %.1f (lift %.1f, p %.1e)" % (obs, mu, size, lift, p)
    return f


def nb_lower_check(entry, a, b, mu, size):
    def f(bt):
        obs = bt.count(entry, a, b)
        p = nb_cdf(obs, mu, size)
        return p < P_DETECT and obs * MIN_LIFT <= mu, \
            "%d lookups vs %.0f expected, NB size %.1f (p %.1e)" % (obs, mu, size, p)
    return f


def upper_check(entry, a, b):
    def f(bt):
        obs, mu = bt.count(entry, a, b), bt.count(entry, a, b, base=True)
        p = poisson_sf(obs, max(mu, 0.5))
        lift = obs / max(mu, 0.5)
        return p < P_DETECT and lift >= MIN_LIFT, "%d lookups vs %d without (lift %.1f, p %.1e)" % (obs, mu, lift, p)
    return f


def lower_check(entry, a, b):
    def f(bt):
        obs, mu = bt.count(entry, a, b), bt.count(entry, a, b, base=True)
        p = poisson_cdf(obs, mu)
        return p < P_DETECT and obs * MIN_LIFT <= mu, "%d lookups vs %d without (p %.1e)" % (obs, mu, p)
    return f


def window(events, m, a, b):
    return [e for e in events if a <= e[P.TS] < b and m(e)]


# --------------------------------------------------------------------------
# Authoritative-side scenarios


class AuthBuilder:
    def __init__(self, name, family, seed, days, scale, start=None, holidays=None, specs=None, watch=None,
                 control=False):
        start = start or M.epoch_us(2026, 3, 2)
        if holidays is None:
            holidays = {d for d in range(days) if M.day_str(start + d * DAY) in ("2026-04-03", "2026-04-06")}
        self.cal = M.Calendar(start, days, holidays)
        self.world = M.AuthWorld(seed, self.cal, scale)
        self.specs = specs if specs is not None else M.auth_names(seed)
        self.scale = scale
        self.rng = M.rng_for("auth-traffic", name, seed)
        self.b = Built(name, family, "auth", self.cal, list(watch or M.AUTH_WATCH.values()), control)
        self.by_spec = None

    def spec(self, qname, qtype=P.T_A):
        for s in self.specs:
            if s.qname == qname and s.qtype == qtype:
                return s
        raise KeyError(qname)

    def entry_specs(self, entry):
        if entry_is_address(entry):
            a = P.ip(entry)
            ptr = P.ptr_name(a)
            return [s for s in self.specs if s.qname == ptr or any(rd == a for _, rd in s.answers(0))
                    or (s.aaaa and any(rd == a for _, rd in s.aaaa))]
        return [s for s in self.specs if s.qname == entry or s.qname.endswith("." + entry)]

    def generate(self):
        self.by_spec = {}
        for s in self.specs:
            self.by_spec[id(s)] = self.world.background(s, self.rng)
        return self

    def day(self, d, h=0, m=0):
        return self.cal.start + d * DAY + h * HOUR + m * MIN

    def resolver_counts(self, s, a=None, b=None):
        c = {}
        for e in self.by_spec[id(s)]:
            if a is None or a <= e[0] < b:
                c[e[P.QADDR]] = c.get(e[P.QADDR], 0) + 1
        return c

    def _res(self, addr):
        for r in self.world.resolvers:
            if r.addr == addr:
                return r
        for o in self.world.orgs:
            for r in o.resolvers:
                if r.addr == addr:
                    return r
        return None

    def inject_burst(self, label, entry, start, dur, mult, tol_h=3.0, kind="burst", specs=None):
        """Extra lookups from the entry's resolvers (weighted by their share,
        never inside a resolver's own TTL) so the window has ``mult`` times
        the lookups it would have had."""
        end = start + dur
        for s in specs or self.entry_specs(entry):
            evs = self.by_spec[id(s)]
            base_n = sum(1 for e in evs if start <= e[0] < end and e[P.QTYPE] == s.qtype)
            want = int(round((mult - 1) * max(base_n, 1)))
            counts = self.resolver_counts(s)
            addrs = sorted(counts)
            cum, acc = [], 0
            for a in addrs:
                acc += counts[a]
                cum.append(acc)
            ttl = s.ttl * SEC
            times = {}
            for e in evs:
                if start - ttl <= e[0] < end + ttl and e[P.QTYPE] == s.qtype:
                    times.setdefault(e[P.QADDR], []).append(e[0])
            for v in times.values():
                v.sort()
            added, tries, got = [], 0, 0
            rng = self.rng
            while got < want and tries < want * 30 and addrs:
                tries += 1
                a = addrs[bisect.bisect_left(cum, rng.random() * acc)]
                t = start + int(rng.random() * dur)
                tl = times.setdefault(a, [])
                i = bisect.bisect_left(tl, t)
                if (i > 0 and t - tl[i - 1] < ttl) or (i < len(tl) and tl[i] - t < ttl):
                    continue
                tl.insert(i, t)
                r = self._res(a)
                self.world.emit(added, rng, r, s, t)
                got += 1
            evs.extend(added)
        inj = Injection(label, kind, entry, start, end, tol_h, "%gx" % mult, self.also(entry))
        inj.check = upper_check(entry, start, end)
        self.b.injections.append(inj)
        return inj

    def also(self, entry):
        """The entry and every other watched entry sharing its lookups (a name on a watched address)."""
        out = {entry}
        specs = self.entry_specs(entry)
        for w in self.b.watch:
            if w != entry and set(map(id, self.entry_specs(w))) & set(map(id, specs)):
                out.add(w)
        return out

    def inject_silence(self, label, entry, start, dur, tol_h=24.0):
        end = start + dur
        for s in self.entry_specs(entry):
            self.by_spec[id(s)] = [e for e in self.by_spec[id(s)] if not (start <= e[0] < end)]
        inj = Injection(label, "quiet", entry, start, end, tol_h, "%dh silence" % (dur // HOUR), self.also(entry))
        inj.check = lower_check(entry, start, end)
        self.b.injections.append(inj)
        self.b.exempt.append((("resumed",), inj.entries, start, end + 24 * HOUR))
        return inj

    def org_series(self, out, org, s, per_res_upstream_day, t0, t1, weights=None):
        """Lookups of ``s`` by ``org``'s resolvers giving about this many
        upstream lookups a day each (through their caches)."""
        level = [1.0] * self.cal.days
        for i, r in enumerate(org.resolvers):
            w = weights[i] if weights else 1.0
            cum = self.world.cum(org, s, level)
            h0, h1 = (t0 - self.cal.start) // HOUR, min((t1 - self.cal.start) // HOUR, self.cal.hours)
            mass = cum[h1] - cum[h0]
            hours = max(h1 - h0, 1)
            u = per_res_upstream_day * w / 24.0
            lam = self.world.demand_for_upstream(u, s.ttl)
            c = lam * hours / max(mass, 1e-9)
            self.world.series(out, self.rng, r, s, c, level, t0, t1, org_cum=cum)

    def inject_concentration(self, label, entry, start, dur, org_a, org_b, share_a=0.8, tol_h=48.0, spec=None):
        """The entry's lookups in the window come ~``share_a`` from ``org_a``
        (two adjacent /24 resolvers) and the rest from ``org_b``; volume as before."""
        end = start + dur
        s = spec or self.entry_specs(entry)[0]
        evs = self.by_spec[id(s)]
        hist = self.org_shares(s, start - 14 * DAY, start)
        n = sum(1 for e in evs if start <= e[0] < end and e[P.QTYPE] == s.qtype)
        kept = [e for e in evs if not (start <= e[0] < end)]
        days = dur / DAY
        added = []
        self.org_series(added, org_a, s, n * share_a / days / len(org_a.resolvers), start, end)
        self.org_series(added, org_b, s, n * (1 - share_a) / days / len(org_b.resolvers), start, end)
        self.by_spec[id(s)] = kept + added
        inj = Injection(label, "concentration", entry, start, end, tol_h, "%s %.0f%%" % (org_a.name, share_a * 100),
                        self.also(entry))

        def check(bt, s=s, a=start, b=end, org=org_a.name, hist=hist):
            org_of = self.org_of()
            w = [e for e in self.by_spec[id(s)] if a <= e[0] < b]
            k = sum(1 for e in w if org_of.get(e[P.QADDR]) == org)
            p0 = max(hist.get(org, 0.0), 0.01)
            p = binom_sf(k, len(w), p0)
            share = k / max(len(w), 1)
            return (len(w) >= 30 and p < P_DETECT and share >= MIN_LIFT * p0,
                    "%s %d/%d = %.0f%% (was %.1f%%), p %.1e" % (org, k, len(w), 100 * share, 100 * p0, p))
        inj.check = check
        self.b.injections.append(inj)
        return inj

    def org_of(self):
        return {r.addr: o.name for o in self.world.orgs for r in o.resolvers}

    def org_shares(self, s, a, b):
        org_of = self.org_of()
        c, n = {}, 0
        for e in self.by_spec[id(s)]:
            if a <= e[0] < b:
                o = org_of.get(e[P.QADDR])
                c[o] = c.get(o, 0) + 1
                n += 1
        return {o: v / n for o, v in c.items()} if n else {}

    def inject_new_org(self, label, entry, start, dur, org, share, tol_h=24.0):
        """A never-seen organisation takes ``share`` of the entry's lookups
        (the others' lookups thinned so the volume stays)."""
        end = start + dur
        s = self.entry_specs(entry)[0]
        evs = self.by_spec[id(s)]
        n = sum(1 for e in evs if start <= e[0] < end and e[P.QTYPE] == s.qtype)
        rng = self.rng
        kept = [e for e in evs if not (start <= e[0] < end) or rng.random() > share]
        added = []
        self.org_series(added, org, s, n * share / (dur / DAY) / len(org.resolvers), start, end)
        self.by_spec[id(s)] = kept + added
        inj = Injection(label, "new_querier", entry, start, end, tol_h, "%s %.0f%%" % (org.name, share * 100),
                        self.also(entry))
        addrs = {r.addr for r in org.resolvers}

        def check(bt, a=start):
            k = sum(1 for e in added if a <= e[0] < a + DAY and e[P.QADDR] in addrs)
            return k >= 3, "%d lookups by the new organisation in its first day" % k
        inj.check = check
        self.b.injections.append(inj)
        return inj

    def inject_beacon(self, label, entry, addr, start, period, n, jitter_s, pair=False, tol_h=24.0, spec=None):
        s = spec or self.entry_specs(entry)[0]
        r = self._res(addr)
        rng = self.rng
        added = []
        for k in range(n):
            t = start + k * period + int(rng.uniform(-jitter_s, jitter_s) * SEC)
            self.world.emit(added, rng, r, s, t, pair=pair)
        self.by_spec[id(s)].extend(added)
        end = start + (n - 1) * period + int(jitter_s * SEC)
        inj = Injection(label, "periodic", entry, start, end, tol_h, "every %gh x%d" % (period / HOUR, n),
                        self.also(entry))
        inj.check = periodic_check(lambda: self.by_spec[id(s)], addr, start, end, period, n, jitter_s, s.qtype)
        self.b.injections.append(inj)
        return inj

    def inject_new_name(self, label, address, qname, start, per_day, n_res, tol_h=6.0):
        a = P.ip(address)
        s = M.NameSpec(qname, P.T_A, 3600, per_day, M.fixed(P.rr_a(a)), reach=1.0)
        cand = sorted(self.world.resolvers, key=lambda r: -r.weight)[:60]
        chosen = self.rng.sample(cand, n_res)
        added = []
        for r in chosen:
            self.world.series(added, self.rng, r, s, per_day * self.scale / 24.0 / n_res, [1.0] * self.cal.days,
                              t0=start, org_cum=self.world.cum(r.org, s, [1.0] * self.cal.days))
        self.specs.append(s)
        self.by_spec[id(s)] = added
        inj = Injection(label, "new_name", address, start, self.cal.start + self.cal.days * DAY, tol_h, qname,
                        {address})
        inj.end = start + 2 * DAY

        def check(bt):
            k = len(added)
            return k >= 1, "%d lookups of %s" % (k, qname)
        inj.check = check
        self.b.injections.append(inj)
        return inj

    def rcode(self, label, entry, qname, qtype, start, end, rcode, tol_h=6.0):
        s = self.spec(qname, qtype)
        s.rcode_tl.append((start, end, rcode))
        inj = Injection(label, "rcode_change", entry, start, end, tol_h,
                        {P.NXDOMAIN: "NXDOMAIN", P.SERVFAIL: "SERVFAIL"}[rcode], self.also(entry))
        addrs = {e for e in inj.entries if entry_is_address(e)}
        if addrs:  # failing answers carry no address: the watched address loses those lookups
            self.b.exempt.append((("quiet", "resumed"), addrs, start, end + 24 * HOUR))

        def check(bt):
            evs = self.by_spec[id(s)]
            before = sum(1 for e in evs if e[0] < start and e[P.RCODE] == P.NOERROR)
            fail = sum(1 for e in evs if start <= e[0] < end and e[P.RCODE] == rcode)
            return before >= 3 and fail >= 3, "%d failing answers, %d NOERROR before" % (fail, before)
        inj.check = check
        self.b.injections.append(inj)
        return inj

    def answer(self, label, entry, qname, qtype, start, new_rrs, tol_h=6.0):
        s = self.spec(qname, qtype)
        end = self.cal.start + self.cal.days * DAY
        s.answer_tl.append((start, end, tuple(new_rrs)))
        inj = Injection(label, "answer_change", entry, start, start + 2 * DAY, tol_h, "new data", self.also(entry))

        def check(bt):
            evs = self.by_spec[id(s)]
            before = sum(1 for e in evs if e[0] < start and e[P.RCODE] == P.NOERROR and e[P.QTYPE] == qtype)
            new = sum(1 for e in evs if start <= e[0] < start + 2 * DAY and e[P.RCODE] == P.NOERROR and e[P.QTYPE] == qtype)
            return before >= 10 and new >= 1, "%d answers with the new data, %d before" % (new, before)
        inj.check = check
        self.b.injections.append(inj)
        return inj

    def build(self, orgs_listed=True):
        b = self.b
        for s in self.specs:
            b.events.extend(self.by_spec[id(s)])
        b.base = getattr(self, "base_events", None) or b.events[:]
        b.orgs = [(p, o.name) for o in self.world.orgs if o.listed for p in o.prefixes] if orgs_listed else []
        b.soa = M.soa_lookup(self.specs)
        return b

    def snapshot_base(self):
        """Remember the traffic before traffic injections (for detectability)."""
        self.base_events = [e for s in self.specs for e in self.by_spec[id(s)]]


def periodic_check(get_events, addr, start, end, period, n, jitter_s, qtype):
    """Detectable when the beacon has ≥ 8 lookups and the querier's other
    lookups of the entry would put that many in the beacon's phase windows
    with Poisson probability < 1e-4."""
    def f(bt):
        evs = [e for e in get_events() if e[P.QADDR] == addr and e[P.QTYPE] == qtype]
        other = [e for e in evs if not (start - period <= e[0] < end + period)]
        span = (evs[-1][0] - evs[0][0]) if evs else 1
        rate = len(other) / max(span, 1)  # per µs
        win = (2 * jitter_s + 60) * SEC
        mu = rate * win * n
        p = poisson_sf(n, mu)
        return n >= 8 and p < P_DETECT, "%d beacon lookups, %.2f expected in phase from its other lookups (p %.1e)" % (n, mu, p)
    return f


# --------------------------------------------------------------------------
# Office resolver scenarios


class OfficeBuilder:
    def __init__(self, name, family, seed, days, scale, control=False):
        start = M.epoch_us(2026, 3, 2)
        holidays = {d for d in range(days) if M.day_str(start + d * DAY) in ("2026-04-03", "2026-04-06")}
        self.cal = M.Calendar(start, days, holidays)
        self.world = M.OfficeWorld(seed, self.cal, scale)
        self.rng = M.rng_for("office-traffic", name, seed)
        self.b = Built(name, family, "office", self.cal, list(M.OFFICE_WATCH.values()), control)
        self.events = None

    def generate(self):
        w = self.world
        days = {}
        orig = w.assign

        def assign(rng, d, day, used):
            orig(rng, d, day, used)
            days.setdefault(day, []).append((d, d.addr, d.vpn_addr))
        w.assign = assign
        self.events = w.generate(self.rng)
        w.assign = orig
        self.addrs = days
        self.base_events = self.events[:]
        return self

    def day(self, d, h=0, m=0):
        return self.cal.start + d * DAY + h * HOUR + m * MIN

    def active(self, day, t0, t1):
        """Addresses of devices that made lookups in [t0, t1)."""
        seen = []
        s = set()
        for e in self.events:
            if t0 <= e[0] < t1 and e[P.QADDR] not in s and e[P.QADDR][:2] in (b"\xac\x10", b"\x0a\x08"):
                s.add(e[P.QADDR])
                seen.append(e[P.QADDR])
        return seen

    def inject_burst(self, label, entry, start, dur, mult, tol_h=3.0):
        n = self.world.name(entry)
        end = start + dur
        base_n = sum(1 for e in self.events if start <= e[0] < end and e[P.QNAME] == entry and e[P.QTYPE] == P.T_A)
        want = int(round((mult - 1) * max(base_n, 1)))
        addrs = self.active(None, start - HOUR, end + HOUR)
        rng = self.rng
        last = {}
        added = []
        tries = got = 0
        while got < want and tries < want * 50:
            tries += 1
            a = rng.choice(addrs)
            t = start + int(rng.random() * dur)
            if abs(last.get(a, -10 ** 15) - t) < n.ttl * SEC // 4:
                continue
            last[a] = t
            self.world.emit(added, rng, None, a, n, entry, t, aaaa=rng.random() < 0.85)
            got += 1
        self.events.extend(added)
        inj = Injection(label, "burst", entry, start, end, tol_h, "%gx" % mult)
        inj.check = upper_check(entry, start, end)
        self.b.injections.append(inj)

    def inject_clickwave(self, label, entry, start, clients, within, tol_h=3.0):
        """Dozens of clients look up a never-seen watched name within minutes
        (a phishing mail opened across the office)."""
        addrs = self.active(None, start - HOUR, start + HOUR)
        rng = self.rng
        pick = rng.sample(addrs, min(clients, len(addrs)))
        ans = M.fixed(P.rr_a(P.ip4("198.18.99.%d" % (66 + len(self.b.injections)))))
        n = M.OfficeName(entry, 300, ans, None, pop=0)
        added = []
        for a in pick:
            t = start + int(rng.random() * within)
            self.world.emit(added, rng, None, a, n, entry, t, aaaa=rng.random() < 0.85)
            if rng.random() < 0.3:  # a second click after the stub cache expired
                self.world.emit(added, rng, None, a, n, entry, t + 300 * SEC + int(rng.random() * 600 * SEC), aaaa=True)
        self.events.extend(added)
        inj = Injection(label, "clickwave", entry, start, start + within, tol_h, "%d clients in %d min" % (len(pick), within // MIN))
        inj.check = upper_check(entry, start, start + within)
        self.b.injections.append(inj)

    def inject_beacon(self, label, entry, start, period, n, jitter_s, vpn=True, tol_h=24.0):
        """One client (its address fixed for the night) looks the name up
        every ``period`` with A and AAAA, on top of its other lookups."""
        day = int((start - self.cal.start) // DAY)
        devs = self.addrs[day]
        rng = self.rng
        d, addr, vaddr = devs[rng.randrange(len(devs))]
        a = vaddr if vpn else addr
        nm = self.world.name(entry)
        added = []
        for k in range(n):
            t = start + k * period + int(rng.uniform(-jitter_s, jitter_s) * SEC)
            self.world.emit(added, rng, None, a, nm, entry, t, aaaa=True)
        self.events.extend(added)
        end = start + (n - 1) * period
        inj = Injection(label, "periodic", entry, start, end, tol_h, "every %gmin x%d" % (period / MIN, n))
        inj.check = periodic_check(lambda: self.events, a, start, end, period, n, jitter_s, P.T_A)
        self.b.injections.append(inj)

    def build(self):
        b = self.b
        b.events = self.events
        b.base = self.base_events
        b.orgs = [("172.16.4.0/22", "Office LAN"), ("10.8.0.0/24", "Office VPN"), ("fd00:16:4::/48", "Office LAN v6")]
        b.soa = M.soa_lookup([])
        return b


# --------------------------------------------------------------------------
# The scenario catalogue


def _lengths(quick):
    # (control days, anomaly days, first injection day)
    return (21, 16, 9) if quick else (56, 35, 21)


def _D(quick, full_day, quick_day):
    return quick_day if quick else full_day


def control_auth(seed):
    def f(quick, scale, base_seed):
        days = _lengths(quick)[0]
        ab = AuthBuilder("auth-control-s%d" % seed, "control", base_seed * 1000 + seed, days, scale, control=True)
        ab.generate()
        return ab.build()
    return f


def control_office(seed):
    def f(quick, scale, base_seed):
        days = _lengths(quick)[0]
        ob = OfficeBuilder("office-control-s%d" % seed, "control", base_seed * 1000 + seed, days, scale, control=True)
        ob.generate()
        return ob.build()
    return f


def auth_burst_hour(quick, scale, seed):
    _, days, _ = _lengths(quick)
    ab = AuthBuilder("auth-burst-hour", "burst-hour", seed * 1000 + 11, days, scale).generate()
    ab.snapshot_base()
    W = M.AUTH_WATCH
    ab.inject_burst("5x busy", W["busy"], ab.day(_D(quick, 22, 9), 10), HOUR, 5)
    ab.inject_burst("20x busy2", W["busy2"], ab.day(_D(quick, 24, 10), 15), HOUR, 20)
    ab.inject_burst("5x medium", W["medium"], ab.day(_D(quick, 26, 11), 11), HOUR, 5)
    ab.inject_burst("20x medium (night)", W["medium"], ab.day(_D(quick, 30, 14), 3), HOUR, 20)
    ab.inject_burst("5x quiet", W["quiet"], ab.day(_D(quick, 28, 12), 14), HOUR, 5)
    ab.inject_burst("20x quiet", W["quiet"], ab.day(_D(quick, 32, 15), 9), HOUR, 20)
    return ab.build()


def auth_burst_repeat(quick, scale, seed):
    _, days, _ = _lengths(quick)
    ab = AuthBuilder("auth-burst-repeat", "burst-repeat", seed * 1000 + 12, days, scale).generate()
    ab.snapshot_base()
    W = M.AUTH_WATCH
    t = ab.day(_D(quick, 22, 9), 14)
    ab.inject_burst("10x busy2 first", W["busy2"], t, HOUR, 10)
    ab.inject_burst("10x busy2 6h later", W["busy2"], t + 6 * HOUR, HOUR, 10)
    t = ab.day(_D(quick, 27, 12), 9)
    ab.inject_burst("8x medium first", W["medium"], t, HOUR, 8)
    ab.inject_burst("8x medium 40h later", W["medium"], t + 40 * HOUR, HOUR, 8)
    return ab.build()


def auth_burst_day(quick, scale, seed):
    _, days, _ = _lengths(quick)
    ab = AuthBuilder("auth-burst-day", "burst-day", seed * 1000 + 13, days, scale).generate()
    ab.snapshot_base()
    W = M.AUTH_WATCH
    ab.inject_burst("3x medium for a day", W["medium"], ab.day(_D(quick, 23, 9)), DAY, 3, tol_h=30)
    ab.inject_burst("3x busy for a day", W["busy"], ab.day(_D(quick, 27, 12)), DAY, 3, tol_h=30)
    ab.inject_burst("5x quiet for a day", W["quiet"], ab.day(_D(quick, 30, 14)), DAY, 5, tol_h=30)
    return ab.build()


def auth_silence(quick, scale, seed):
    _, days, _ = _lengths(quick)
    ab = AuthBuilder("auth-silence", "silence", seed * 1000 + 14, days, scale).generate()
    ab.snapshot_base()
    W = M.AUTH_WATCH
    ab.inject_silence("2-day silence medium", W["medium"], ab.day(_D(quick, 23, 9), 6), 2 * DAY)
    ab.inject_silence("2-day silence quiet", W["quiet"], ab.day(_D(quick, 28, 12), 0), 2 * DAY)
    ab.inject_silence("2-day silence busy2", W["busy2"], ab.day(_D(quick, 31, 14), 12), 2 * DAY)
    return ab.build()


def _bank(ab, name="Kestrel Bank", base=(217, 12, 96)):
    org = ab.world.add_org(name, "enterprise", 3, [base, (base[0], base[1], base[2] + 1)], n_res=2)
    return org


def auth_concentration(quick, scale, seed):
    _, days, d0 = _lengths(quick)
    ab = AuthBuilder("auth-concentration", "concentration", seed * 1000 + 15, days, scale)
    bank = _bank(ab)
    health = [o for o in ab.world.orgs if o.kind == "enterprise" and o.resolvers and o.weight > 0][3]
    ab.generate()
    W = M.AUTH_WATCH
    # The bank is known (a lookup every few days) before it takes over.
    for s in (ab.spec(W["medium"]), ab.spec(W["quiet"])):
        ab.org_series(ab.by_spec[id(s)], bank, s, 0.3, ab.cal.start, ab.cal.start + ab.cal.days * DAY)
    ab.snapshot_base()
    ab.inject_concentration("medium: bank 80%", W["medium"], ab.day(_D(quick, 22, 9)), 5 * DAY if not quick else 3 * DAY,
                            bank, health)
    ab.inject_concentration("quiet: bank 80%", W["quiet"], ab.day(_D(quick, 29, 13)), 5 * DAY if not quick else 3 * DAY,
                            bank, health)
    return ab.build()


def auth_new_org(quick, scale, seed):
    _, days, _ = _lengths(quick)
    ab = AuthBuilder("auth-new-org", "new-org", seed * 1000 + 16, days, scale)
    newco = ab.world.add_org("Perseus Logistics", "enterprise", 1, [(185, 77, 40)], n_res=1)
    newco2 = ab.world.add_org("Orca Shipping", "enterprise", -5, [(64, 120, 18)], n_res=1)
    ab.generate()
    ab.snapshot_base()
    W = M.AUTH_WATCH
    ab.inject_new_org("medium: new org 50%", W["medium"], ab.day(_D(quick, 23, 9), 9), 4 * DAY, newco, 0.5)
    ab.inject_new_org("busy2 mail host: new org 30%", "northwind-mail.com", ab.day(_D(quick, 29, 13), 9), 4 * DAY, newco2, 0.3)
    return ab.build()


def auth_beacon(quick, scale, seed):
    _, days, _ = _lengths(quick)
    ab = AuthBuilder("auth-beacon-6h", "beacon-6h", seed * 1000 + 17, days, scale).generate()
    ab.snapshot_base()
    W = M.AUTH_WATCH
    for key, d, qd in (("quiet", 22, 9), ("medium", 26, 11)):
        s = ab.spec(W[key])
        counts = ab.resolver_counts(s)
        # a resolver that asks the name on its own too (a few times a week to a few a day)
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        addr = ranked[min(len(ranked) - 1, len(ranked) // 4)][0]
        n = 20 if not quick else 14
        ab.inject_beacon("6h beacon %s" % key, W[key], addr, ab.day(_D(quick, d, qd), 1, 17), 6 * HOUR, n, 20)
    return ab.build()


def auth_rcode(quick, scale, seed):
    _, days, _ = _lengths(quick)
    ab = AuthBuilder("auth-rcode", "rcode", seed * 1000 + 18, days, scale)
    W = M.AUTH_WATCH
    end = ab.cal.start + days * DAY
    ab.rcode("medium NXDOMAIN", W["medium"], W["medium"], P.T_A, ab.day(_D(quick, 23, 9), 10), end, P.NXDOMAIN)
    ab.rcode("busy2 mail host SERVFAIL", W["busy2"], "mail.northwind-mail.com", P.T_A, ab.day(_D(quick, 27, 12), 8),
             ab.day(_D(quick, 28, 13), 8), P.SERVFAIL)
    ab.rcode("quiet NXDOMAIN", W["quiet"], W["quiet"], P.T_A, ab.day(_D(quick, 31, 14), 15), end, P.NXDOMAIN)
    ab.generate()
    return ab.build()


def auth_answer(quick, scale, seed):
    _, days, _ = _lengths(quick)
    ab = AuthBuilder("auth-answer", "answer", seed * 1000 + 19, days, scale)
    W = M.AUTH_WATCH
    ab.answer("medium new address", W["medium"], W["medium"], P.T_A, ab.day(_D(quick, 24, 10), 12),
              [P.rr_a(P.ip4("185.220.101.44"))])
    ab.answer("busy2 mail host new address", W["busy2"], "mail.northwind-mail.com", P.T_A,
              ab.day(_D(quick, 29, 13), 7), [P.rr_a(P.ip4("45.141.215.9"))])
    ab.generate()
    return ab.build()


def auth_new_name(quick, scale, seed):
    _, days, _ = _lengths(quick)
    ab = AuthBuilder("auth-new-name", "new-name", seed * 1000 + 20, days, scale).generate()
    ab.snapshot_base()
    W = M.AUTH_WATCH
    ab.inject_new_name("new name on address", W["address"], "mx.harbor-freight-deals.com", ab.day(_D(quick, 24, 10), 9), 30, 8)
    ab.inject_new_name("second new name on address", W["address"], "trump1.contact-client.com",
                       ab.day(_D(quick, 30, 14), 16), 10, 2)
    return ab.build()


def office_clickwave(quick, scale, seed):
    _, days, _ = _lengths(quick)
    ob = OfficeBuilder("office-clickwave", "clickwave", seed * 1000 + 21, days, scale).generate()
    W = M.OFFICE_WATCH
    ob.inject_clickwave("40 clients in 20 min", W["never"], ob.day(_D(quick, 22, 10), 10, 5), 40, 20 * MIN)
    ob.inject_clickwave("12 clients in 20 min", W["never2"], ob.day(_D(quick, 29, 15), 14, 30), 12, 20 * MIN)
    return ob.build()


def office_beacon(quick, scale, seed):
    _, days, _ = _lengths(quick)
    ob = OfficeBuilder("office-beacon-5m", "beacon-5m", seed * 1000 + 22, days, scale).generate()
    W = M.OFFICE_WATCH
    ob.inject_beacon("5-min A+AAAA beacon quiet (VPN, night)", W["quiet"], ob.day(_D(quick, 23, 10), 20), 5 * MIN, 144, 3)
    ob.inject_beacon("5-min A+AAAA beacon medium (office day)", W["medium"], ob.day(_D(quick, 30, 14), 9), 5 * MIN, 96, 3,
                     vpn=False)
    return ob.build()


def office_burst(quick, scale, seed):
    _, days, _ = _lengths(quick)
    ob = OfficeBuilder("office-burst", "burst-hour", seed * 1000 + 23, days, scale).generate()
    W = M.OFFICE_WATCH
    ob.inject_burst("5x busy", W["busy"], ob.day(_D(quick, 24, 10), 10), HOUR, 5)
    ob.inject_burst("20x medium", W["medium"], ob.day(_D(quick, 29, 14), 14), HOUR, 20)
    ob.inject_burst("20x busy", W["busy"], ob.day(_D(quick, 31, 15), 11), HOUR, 20)
    return ob.build()


from .case2016 import case_2016  # noqa: E402

SCENARIOS = {
    "auth-control-s1": control_auth(1),
    "auth-control-s2": control_auth(2),
    "office-control-s1": control_office(1),
    "office-control-s2": control_office(2),
    "auth-burst-hour": auth_burst_hour,
    "auth-burst-repeat": auth_burst_repeat,
    "auth-burst-day": auth_burst_day,
    "auth-silence": auth_silence,
    "auth-concentration": auth_concentration,
    "auth-new-org": auth_new_org,
    "auth-beacon-6h": auth_beacon,
    "auth-rcode": auth_rcode,
    "auth-answer": auth_answer,
    "auth-new-name": auth_new_name,
    "office-clickwave": office_clickwave,
    "office-beacon-5m": office_beacon,
    "office-burst": office_burst,
    "case-2016": case_2016,
}
