"""Traffic models: what a sensor in front of an authoritative server sees
(recursive resolvers, each with its own cache) and what a sensor in front of
an office resolver sees (stub clients with DHCP churn, a VPN pool, office
hours and holidays).

Everything is driven by ``random.Random`` seeded from strings (sha256), so the
same scenario, seed and scale always give the same lookups. Times are µs since
the epoch (ints). A lookup is a tuple laid out as in ``pcap`` (TS, QADDR, ...).
"""
import bisect
import calendar
import hashlib
import math
import random

from . import pcap as P

SEC = 1_000_000
MIN = 60 * SEC
HOUR = 3600 * SEC
DAY = 24 * HOUR


def seed_of(*parts):
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "big")


def rng_for(*parts):
    return random.Random(seed_of(*parts))


def epoch_us(y, m, d, hh=0, mm=0):
    return calendar.timegm((y, m, d, hh, mm, 0, 0, 0, 0)) * SEC


def day_str(t_us):
    import time
    return time.strftime("%Y-%m-%d", time.gmtime(t_us // SEC))


def weekday(t_us):
    return (t_us // DAY + 3) % 7  # 0 = Monday (1970-01-01 was a Thursday)


def poisson(rng, mu):
    if mu <= 0:
        return 0
    if mu < 30:
        limit, k, p = math.exp(-mu), 0, rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
        return k
    return max(0, int(round(rng.gauss(mu, math.sqrt(mu)))))


# --------------------------------------------------------------------------
# Address plans


_RESERVED_FIRST = {0, 10, 100, 127, 169, 172, 192, 198, 203}


def public_v4_block(rng, used):
    """A random /24 that looks public (no private or documentation space)."""
    while True:
        a = rng.randint(2, 223)
        if a in _RESERVED_FIRST:
            continue
        b, c = rng.randint(0, 255), rng.randint(0, 254)
        if (a, b, c) in used or (a, b, c + 1) in used:
            continue
        used.add((a, b, c))
        return (a, b, c)


def public_v6_block(rng, used):
    while True:
        p = (0x2A00 + rng.randint(0, 0x4FF), rng.randint(0, 0xFFFF), rng.randint(0, 0xFFFF))
        if p not in used:
            used.add(p)
            return p


def v4(blk, host):
    return bytes((blk[0], blk[1], blk[2], host))


def v6(blk, host):
    return P.ip6("%x:%x:%x::%x" % (blk[0], blk[1], blk[2], host))


_ORG_WORDS = ["Alder", "Birch", "Cedar", "Delta", "Ember", "Falcon", "Granite", "Harbor", "Iris", "Juniper",
              "Kestrel", "Lumen", "Maple", "Nimbus", "Onyx", "Pioneer", "Quartz", "Raven", "Summit", "Tundra",
              "Umber", "Vertex", "Willow", "Xenon", "Yarrow", "Zephyr", "Atlas", "Borealis", "Cobalt", "Dune"]
_ORG_KINDS = [("isp", "Telecom"), ("isp", "Broadband"), ("enterprise", "Bank"), ("enterprise", "Health"),
              ("enterprise", "University"), ("enterprise", "Logistics"), ("mail", "Mail Security"),
              ("public", "Public DNS"), ("enterprise", "Insurance"), ("isp", "Mobile")]


class Org:
    __slots__ = ("name", "kind", "tz", "weekend", "resolvers", "prefixes", "listed", "weight", "blocks")

    def __init__(self, name, kind, tz, weekend):
        self.name, self.kind, self.tz, self.weekend = name, kind, tz, weekend
        self.resolvers = []  # Resolver
        self.prefixes = []  # "a.b.c.0/24", "x:y:z::/48"
        self.blocks = []
        self.listed = True
        self.weight = 1.0


class Resolver:
    __slots__ = ("addr", "org", "weight", "rtt", "server")

    def __init__(self, addr, org, weight, rtt, server):
        self.addr, self.org, self.weight, self.rtt, self.server = addr, org, weight, rtt, server


# --------------------------------------------------------------------------
# Seasonality


def diurnal(kind, hour_local):
    """Relative activity by local hour for a kind of querier population."""
    h = hour_local
    if kind == "enterprise":
        return 0.12 + (1.6 if 8 <= h < 18 else (0.5 if h in (7, 18, 19) else 0.0))
    if kind == "isp":
        return 0.35 + 0.9 * math.exp(-((h - 20.5) ** 2) / 18.0) + 0.3 * math.exp(-((h - 12) ** 2) / 10.0)
    if kind == "mail":
        return 0.6 + 0.5 * math.exp(-((h - 11) ** 2) / 20.0)
    return 0.5 + 0.5 * math.exp(-((h - 15) ** 2) / 30.0)


class Calendar:
    def __init__(self, start, days, holidays):
        self.start, self.days = start, days
        self.hours = days * 24
        self.holidays = set(holidays)  # day indexes
        self.day_names = [day_str(start + d * DAY) for d in range(days)]

    def is_off(self, d):
        return weekday(self.start + d * DAY) >= 5 or d in self.holidays


# --------------------------------------------------------------------------
# Authoritative-side model


class NameSpec:
    """One (qname, qtype family) served by the authoritative server.

    ``demand``: client lookups a day (before resolver caches) at scale 1;
    ``answers(t_us)`` → tuple of (type, rdata) for the main qtype;
    ``aaaa``: answers for AAAA (dual-stack) or None; ``p_aaaa``: fraction of
    demand that also asks AAAA; ``reach``: fraction of resolvers that ask it
    at all; ``aff_shape``: gamma shape of per-resolver affinity (small =
    heavy-tailed).
    """

    def __init__(self, qname, qtype, ttl, demand, answers, aaaa=None, p_aaaa=0.0, reach=1.0, aff_shape=0.6,
                 zone=None, kinds=("enterprise", "isp", "mail", "public")):
        self.qname, self.qtype, self.ttl, self.demand = qname, qtype, ttl, demand
        self.answers, self.aaaa, self.p_aaaa = answers, aaaa, p_aaaa
        self.reach, self.aff_shape = reach, aff_shape
        self.zone = zone or ".".join(qname.split(".")[-2:])
        self.kinds = kinds
        # Injections: lists of (start, end, value).
        self.rcode_tl = []  # value: rcode
        self.answer_tl = []  # value: answers tuple (replaces answers())


def fixed(*rrs):
    t = tuple(rrs)
    return lambda ts: t


def round_robin(pool, k, ttl):
    """Rotating subset of k addresses of ``pool`` (a new rotation every TTL)."""
    n = len(pool)
    period = ttl * SEC

    def f(ts):
        o = (ts // period) % n
        return tuple(P.rr_a(pool[(o + i) % n]) for i in range(k))
    return f


class AuthWorld:
    """Hundreds of recursive resolvers in organisations asking one authoritative server."""

    SERVER4 = P.ip4("192.0.2.53")
    SERVER6 = P.ip6("2001:db8:53::53")

    def __init__(self, seed, cal, scale=1.0, n_orgs=140):
        self.cal, self.scale, self.seed = cal, scale, seed
        rng = rng_for("auth-world", seed)
        used4, used6 = set(), set()
        self.orgs = []
        names = set()
        for i in range(n_orgs):
            kind, suffix = _ORG_KINDS[rng.randrange(len(_ORG_KINDS))]
            while True:
                nm = "%s %s" % (rng.choice(_ORG_WORDS), suffix)
                if nm not in names:
                    break
                nm = "%s %s %d" % (rng.choice(_ORG_WORDS), suffix, rng.randint(2, 99))
                if nm not in names:
                    break
            names.add(nm)
            tz = rng.choice([-8, -7, -6, -5, -5, -4, 0, 0, 1, 1, 1, 2, 3, 3, 5, 8, 9])
            weekend = {"enterprise": 0.25, "isp": 1.05, "mail": 0.75, "public": 0.95}[kind] * rng.uniform(0.8, 1.2)
            o = Org(nm, kind, tz, weekend)
            # Heavy-tailed organisation size (Pareto, alpha 1.1).
            o.weight = min(60.0, (1.0 - rng.random()) ** (-1 / 1.1))
            if kind == "public":
                o.weight *= 3
            n_res = 1 + min(11, int(rng.expovariate(1 / 1.5)))
            if kind in ("public", "isp"):
                n_res += 2
            blk = public_v4_block(rng, used4)
            o.blocks.append(blk)
            o.prefixes.append("%d.%d.%d.0/24" % blk)
            if n_res > 3 or rng.random() < 0.3:  # a second, adjacent /24
                blk2 = (blk[0], blk[1], blk[2] + 1)
                used4.add(blk2)
                o.blocks.append(blk2)
                o.prefixes.append("%d.%d.%d.0/24" % blk2)
            v6blk = None
            if rng.random() < 0.45:
                v6blk = public_v6_block(rng, used6)
                o.prefixes.append("%x:%x:%x::/48" % v6blk)
            base_rtt = rng.uniform(4, 220) * 1000
            ws = [rng.gammavariate(1.0, 1.0) for _ in range(n_res)]
            tot = sum(ws)
            for j in range(n_res):
                if v6blk is not None and j % 2 == 1:
                    addr = v6(v6blk, 0x53 + j)
                    server = self.SERVER6
                else:
                    b = o.blocks[j % len(o.blocks)]
                    addr = v4(b, rng.randint(2, 250))
                    server = self.SERVER4
                o.resolvers.append(Resolver(addr, o, o.weight * ws[j] / tot, base_rtt * rng.uniform(0.9, 1.3), server))
            o.listed = rng.random() < 0.8
            self.orgs.append(o)
        self.resolvers = [r for o in self.orgs for r in o.resolvers]
        self._org_profile = {}
        self._cum = {}

    def add_org(self, name, kind, tz, blocks, n_res=1, listed=True, v6blk=None):
        """An organisation that is not part of the background population
        (for injections: a bank with two adjacent /24 resolvers, a new querier)."""
        o = Org(name, kind, tz, {"enterprise": 0.3}.get(kind, 0.9))
        o.weight = 0.0
        o.listed = listed
        for blk in blocks:
            o.blocks.append(blk)
            o.prefixes.append("%d.%d.%d.0/24" % blk)
        for j in range(n_res):
            b = blocks[j % len(blocks)]
            o.resolvers.append(Resolver(v4(b, 15), o, 0.0, 40_000.0 + 30_000 * j, self.SERVER4))
        self.orgs.append(o)
        return o

    def org_profile(self, org):
        """Hourly activity of an organisation: diurnal × weekly × holiday × gamma-mixed day level."""
        p = self._org_profile.get(org.name)
        if p is None:
            cal = self.cal
            rng = rng_for("org-days", self.seed, org.name)
            p = []
            shape = 4.0 if org.kind == "enterprise" else 8.0
            for d in range(cal.days):
                level = rng.gammavariate(shape, 1 / shape)
                for h in range(24):
                    t = cal.start + d * DAY + h * HOUR + org.tz * HOUR
                    dl = (t // DAY) - cal.start // DAY  # local day index
                    off = weekday(t) >= 5 or dl in cal.holidays
                    hl = (h + org.tz) % 24
                    f = diurnal(org.kind, hl) * (org.weekend if off else 1.0)
                    p.append(f * level)
            self._org_profile[org.name] = p
        return p

    def cum(self, org, spec, name_level):
        key = (org.name, spec.qname, spec.qtype)
        c = self._cum.get(key)
        if c is None:
            prof = self.org_profile(org)
            c = [0.0]
            acc = 0.0
            for h, v in enumerate(prof):
                acc += v * name_level[h // 24]
                c.append(acc)
            self._cum[key] = c
        return c

    def name_level(self, spec):
        rng = rng_for("name-days", self.seed, spec.qname, spec.qtype)
        return [rng.gammavariate(12.0, 1 / 12.0) for _ in range(self.cal.days)]

    def background(self, spec, rng, skip=None):
        """Upstream lookups of ``spec`` by the whole resolver population."""
        level = self.name_level(spec)
        aff = []
        arng = rng_for("affinity", self.seed, spec.qname, spec.qtype)
        for r in self.resolvers:
            if r.org.kind not in spec.kinds or arng.random() > spec.reach:
                aff.append(0.0)
            else:
                aff.append(r.weight * arng.gammavariate(spec.aff_shape, 1.0))
        tot = sum(aff) or 1.0
        out = []
        per_hour = spec.demand * self.scale / 24.0
        for r, a in zip(self.resolvers, aff):
            if a <= 0 or (skip and skip(r)):
                continue
            self.series(out, rng, r, spec, per_hour * a / tot, level)
        return out

    def series(self, out, rng, r, spec, c, level, t0=None, t1=None, org_cum=None):
        """One resolver's cache-filtered upstream lookups of ``spec``: client
        demand at rate ``c`` × the organisation's profile (per hour); the
        resolver asks upstream at the first demand after its cached answer
        (TTL, or the SOA minimum for negative answers) expired."""
        if c <= 0:
            return
        cal = self.cal
        cum = org_cum or self.cum(r.org, spec, level)
        H = cal.hours
        t_end = (t1 - cal.start) / HOUR if t1 is not None else H
        t = (t0 - cal.start) / HOUR if t0 is not None else 0.0
        total = cum[H]
        bis = bisect.bisect_right
        expo = rng.expovariate
        while True:
            hi = int(t)
            if hi >= H:
                return
            ct = cum[hi] + (t - hi) * (cum[hi + 1] - cum[hi])
            target = ct + expo(1.0) / c
            if target >= total:
                return
            h = bis(cum, target) - 1
            seg = cum[h + 1] - cum[h]
            te = h + (target - cum[h]) / seg if seg > 0 else h
            if te >= t_end:
                return
            ts = cal.start + int(te * HOUR)
            ttl = self.emit(out, rng, r, spec, ts)
            t = te + ttl / 3600.0

    def rcode_at(self, spec, ts):
        for a, b, v in spec.rcode_tl:
            if a <= ts < b:
                return v
        return P.NOERROR

    def answers_at(self, spec, ts):
        for a, b, v in spec.answer_tl:
            if a <= ts < b:
                return v
        return spec.answers(ts)

    def emit(self, out, rng, r, spec, ts, pair=None):
        """Appends one upstream lookup (and the AAAA of a dual-stack client);
        returns the TTL the resolver caches the answer for."""
        rcode = self.rcode_at(spec, ts)
        ttl = spec.ttl
        u = rng.random()
        if rcode == P.NOERROR and u < 0.0005:
            rcode = P.SERVFAIL  # occasional singleton (lame delegation, overload)
        ans = self.answers_at(spec, ts) if rcode == P.NOERROR else ()
        rtt = int(r.rtt * rng.uniform(0.95, 1.6))
        rc = None if u > 0.9992 else rcode  # an unanswered query now and then
        out.append((ts, r.addr, rng.randint(1024, 65535), r.server, rng.getrandbits(16), spec.qname, spec.qtype,
                    rc, ans, ttl, rtt, 0))
        if spec.aaaa is not None and (pair if pair is not None else rng.random() < spec.p_aaaa):
            ts2 = ts + rng.randint(200, 20_000)
            ans6 = spec.aaaa if rcode == P.NOERROR else ()
            out.append((ts2, r.addr, rng.randint(1024, 65535), r.server, rng.getrandbits(16), spec.qname, P.T_AAAA,
                        rcode, ans6, ttl, int(r.rtt * rng.uniform(0.95, 1.6)), 0))
        if rcode == P.NXDOMAIN:
            return 300  # SOA minimum (negative caching)
        if rcode != P.NOERROR:
            return min(ttl, 300)
        return ttl

    def demand_for_upstream(self, upstream_per_hour, ttl):
        """Client demand per hour that yields this upstream rate through a TTL cache."""
        T = ttl / 3600.0
        u = min(upstream_per_hour, 0.9 / T)
        return u / (1 - u * T)


def auth_names(world_seed, with_case=False):
    """The zones served by the authoritative server: watched names of
    different volume, a watched address with a few names, and unwatched names."""
    rng = rng_for("auth-names", world_seed)
    bluefin = [P.ip4("198.18.%d.%d" % (i // 4, 10 + i)) for i in range(8)]  # a CDN pool
    specs = []
    # Busy 1: round-robin web name, short TTL, dual-stack.
    specs.append(NameSpec("www.bluefin-cdn.net", P.T_A, 60, 6_000, round_robin(bluefin, 4, 60),
                          aaaa=(P.rr_a(P.ip6("2001:db8:bf::10")), P.rr_a(P.ip6("2001:db8:bf::11"))), p_aaaa=0.7,
                          reach=0.95, aff_shape=0.8))
    # Busy 2: a mail domain: MX and TXT at the apex, A/AAAA of its mail host.
    specs.append(NameSpec("northwind-mail.com", P.T_MX, 300, 4_000,
                          fixed(P.rr_mx(10, "mail.northwind-mail.com"), P.rr_mx(20, "mail2.northwind-mail.com")),
                          reach=0.9, kinds=("mail", "enterprise", "isp", "public")))
    specs.append(NameSpec("northwind-mail.com", P.T_TXT, 300, 2_000,
                          fixed(P.rr_txt("v=spf1 ip4:198.18.40.0/24 -all")), reach=0.8,
                          kinds=("mail", "enterprise", "isp", "public")))
    specs.append(NameSpec("mail.northwind-mail.com", P.T_A, 300, 2_500, fixed(P.rr_a(P.ip4("198.18.40.25"))),
                          aaaa=(P.rr_a(P.ip6("2001:db8:40::25")),), p_aaaa=0.5, reach=0.9))
    # Medium: an API name.
    specs.append(NameSpec("api.tradewinds-hotels.com", P.T_A, 300, 500, fixed(P.rr_a(P.ip4("198.18.50.7"))),
                          aaaa=(P.rr_a(P.ip6("2001:db8:50::7")),), p_aaaa=0.4, reach=0.6, aff_shape=0.5))
    # Quiet, on the watched address.
    addr = P.ip4("203.0.113.29")
    specs.append(NameSpec("mail1.tradewinds-hotels.com", P.T_A, 3600, 60, fixed(P.rr_a(addr)), reach=0.5,
                          aff_shape=0.4))
    specs.append(NameSpec("smtp.lakeside-dental.com", P.T_A, 3600, 40, fixed(P.rr_a(addr)), reach=0.4, aff_shape=0.5))
    specs.append(NameSpec("mx.acme-widgets.com", P.T_A, 1800, 50, fixed(P.rr_a(addr)), reach=0.4, aff_shape=0.5))
    specs.append(NameSpec(P.ptr_name(addr), P.T_PTR, 3600, 25, fixed(P.rr_name(P.T_PTR, "mail1.tradewinds-hotels.com")),
                          reach=0.3, kinds=("mail", "enterprise"), zone="113.0.203.in-addr.arpa"))
    # Unwatched names (matching must leave them out).
    for i, (n, dem, ttl) in enumerate([("www.acme-widgets.com", 1500, 300), ("www.lakeside-dental.com", 300, 3600),
                                       ("cdn.bluefin-cdn.org", 2500, 60), ("www.tradewinds-hotels.com", 1000, 600),
                                       ("shop.harborview.net", 600, 300), ("vpn.acme-widgets.com", 150, 300),
                                       ("mail.harborview.net", 800, 900)]):
        specs.append(NameSpec(n, P.T_A, ttl, dem, fixed(P.rr_a(P.ip4("198.18.%d.%d" % (60 + i, 20 + i)))),
                              aaaa=(P.rr_a(P.ip6("2001:db8:%x::1" % (0x60 + i))),), p_aaaa=0.5,
                              reach=rng.uniform(0.4, 0.95)))
    return specs


AUTH_WATCH = {
    "busy": "www.bluefin-cdn.net",
    "busy2": "northwind-mail.com",
    "medium": "api.tradewinds-hotels.com",
    "quiet": "mail1.tradewinds-hotels.com",
    "address": "203.0.113.29",
}


def soa_lookup(specs):
    zones = {}
    for s in specs:
        zones[s.qname] = (P.wire_name(s.zone), P.soa_rdata(s.zone))

    def f(qname):
        z = zones.get(qname)
        if z is None:
            zone = ".".join(qname.split(".")[-2:])
            z = (P.wire_name(zone), P.soa_rdata(zone))
            zones[qname] = z
        return z
    return f


# --------------------------------------------------------------------------
# Resolver-box model


class Device:
    __slots__ = ("idx", "kind", "rate", "favs", "cum", "v6", "https", "addr", "vpn_addr", "v6addr", "lease_left",
                 "team", "always_on")

    def __init__(self):
        self.addr = None
        self.vpn_addr = None
        self.v6addr = None
        self.lease_left = 0


class OfficeName:
    def __init__(self, qname, ttl, answers, aaaa=None, pop=1.0, team=None, https=True):
        self.qname, self.ttl, self.answers, self.aaaa = qname, ttl, answers, aaaa
        self.pop, self.team, self.https = pop, team, https
        self.rcode_tl = []
        self.answer_tl = []


OFFICE_WATCH = {
    "busy": "teams.collabsuite.com",
    "medium": "crm.salesdesk.io",
    "quiet": "files.partner-portal.net",
    "address": "198.51.100.77",
    "never": "invoice-portal.docsign-secure.com",
    "never2": "cdn.update-check.net",
}


class OfficeWorld:
    """An office resolver (172.16.0.53) seeing its stub clients: desktops and
    laptops in 172.16.4.0/22 (DHCP leases that change every few days), remote
    workers in the VPN pool 10.8.0.0/24, office hours, weekends, holidays."""

    SERVER4 = P.ip4("172.16.0.53")
    SERVER6 = P.ip6("fd00:16::53")

    def __init__(self, seed, cal, scale=1.0, n_devices=130):
        self.cal, self.seed, self.scale = cal, seed, scale
        rng = rng_for("office-world", seed)
        hosted = P.ip4(OFFICE_WATCH["address"])
        self.names = [
            OfficeName(OFFICE_WATCH["busy"], 300, fixed(P.rr_a(P.ip4("198.18.70.10")), P.rr_a(P.ip4("198.18.70.11"))),
                       (P.rr_a(P.ip6("2001:db8:70::10")),), pop=12.0),
            OfficeName(OFFICE_WATCH["medium"], 300, fixed(P.rr_a(P.ip4("198.18.71.5"))), pop=6.0, team=1),
            OfficeName(OFFICE_WATCH["quiet"], 600, fixed(P.rr_a(P.ip4("198.18.72.9"))), pop=0.6, team=2),
            OfficeName("www.lakeside-dental.com", 3600, fixed(P.rr_a(hosted)), pop=0.4),
            OfficeName("blog.bytebakery.net", 3600, fixed(P.rr_a(hosted)), pop=0.5),
        ]
        # Unwatched everyday names.
        for i, (n, pop) in enumerate([("www.searchly.com", 14), ("mail.webmail-pro.com", 10), ("cdn.static-assets.net", 9),
                                      ("news.dailyherald.example", 3), ("api.weatherly.io", 2), ("www.codehub.dev", 4),
                                      ("video.streamcast.tv", 3), ("time.ntp-pool.org", 1.5), ("updates.osvendor.com", 2),
                                      ("www.travelbook.com", 1), ("intranet.corp.local", 6), ("login.idp-cloud.com", 5)]):
            self.names.append(OfficeName(n, rng.choice([60, 300, 300, 900, 3600]),
                                         fixed(P.rr_a(P.ip4("198.18.%d.%d" % (80 + i, 30 + i)))),
                                         (P.rr_a(P.ip6("2001:db8:%x::2" % (0x80 + i))),) if rng.random() < 0.6 else None,
                                         pop=pop))
        # Long tail of small sites hosted on the watched address.
        self.hosted_tail = ["%s.%s-%s.%s" % (rng.choice(["www", "shop", "blog", "book"]), rng.choice(_ORG_WORDS).lower(),
                                              rng.choice(["studio", "bakery", "garage", "clinic", "books", "travel"]),
                                              rng.choice(["com", "net", "org", "shop"]))
                            for _ in range(400)]
        self.hosted_tail = sorted(set(self.hosted_tail))
        rng.shuffle(self.hosted_tail)
        self.tail_ans = fixed(P.rr_a(hosted))
        self.devices = []
        for i in range(n_devices):
            d = Device()
            d.idx = i
            u = rng.random()
            d.kind = "office" if u < 0.7 else ("hybrid" if u < 0.9 else "remote")
            # desktops left on overnight and at weekends: background lookups (chat clients, updates)
            d.always_on = d.kind == "office" and rng.random() < 0.12
            d.rate = rng.gammavariate(2.0, 2.0)  # lookups an active hour (for the modelled names)
            d.team = rng.randint(0, 5)
            d.v6 = rng.random() < 0.3
            d.https = rng.random() < 0.4
            favs = []
            for j, n in enumerate(self.names):
                if n.team is not None and d.team != n.team and rng.random() < 0.9:
                    continue
                favs.append((j, n.pop * rng.gammavariate(0.7, 1.0)))
            tot = sum(w for _, w in favs)
            acc, cum = 0.0, []
            for j, w in favs:
                acc += w / tot
                cum.append(acc)
            d.favs = [j for j, _ in favs]
            d.cum = cum
            self.devices.append(d)

    def presence(self, rng, d, day):
        """(start_h, end_h, via_vpn, rate factor) sessions of device ``d`` on day index ``day``."""
        cal = self.cal
        off = cal.is_off(day)
        s = []
        if d.always_on:
            s.append((0.0, 24.0, False, 0.05))
        if not off:
            if d.kind == "office" or (d.kind == "hybrid" and rng.random() < 0.6):
                if rng.random() < 0.92:
                    a = rng.gauss(8.3, 0.7)
                    b = rng.gauss(17.4, 0.8)
                    s.append((a, 12.0 + rng.random() * 0.3, False, 1.0))
                    s.append((12.8 + rng.random() * 0.4, b, False, 1.0))
                if rng.random() < 0.12:
                    a = rng.uniform(19, 22)
                    s.append((a, a + rng.uniform(0.3, 1.5), True, 1.0))
            elif rng.random() < 0.9:
                a = rng.gauss(8.5, 1.0)
                s.append((a, rng.gauss(17, 1.2), True, 1.0))
        elif rng.random() < (0.05 if d.kind == "office" else 0.12):
            a = rng.uniform(9, 21)
            s.append((a, a + rng.uniform(0.3, 2.5), True, 1.0))
        return [(max(0.0, a), min(23.99, b), v, f) for a, b, v, f in s if b > a]

    def assign(self, rng, d, day, used):
        """DHCP: an office lease lasts a few days, then the device gets a new address."""
        if d.addr is None or d.lease_left <= 0:
            while True:
                a = P.ip4("172.16.%d.%d" % (4 + rng.randint(0, 3), rng.randint(10, 250)))
                if a not in used:
                    break
            used.discard(d.addr)
            used.add(a)
            d.addr = a
            d.lease_left = rng.randint(2, 6)
        d.lease_left -= 1
        d.vpn_addr = P.ip4("10.8.0.%d" % rng.randint(2, 254))
        if d.v6:
            d.v6addr = P.ip6("fd00:16:4::%x:%x" % (rng.getrandbits(16), rng.getrandbits(16)))  # privacy address, daily

    def answers_at(self, n, ts):
        for a, b, v in n.answer_tl:
            if a <= ts < b:
                return v
        return n.answers(ts)

    def rcode_at(self, n, ts):
        for a, b, v in n.rcode_tl:
            if a <= ts < b:
                return v
        return P.NOERROR

    def emit(self, out, rng, d, addr, n, qname, ts, answers=None, aaaa=True):
        server = self.SERVER6 if len(addr) == 16 else self.SERVER4
        rcode = self.rcode_at(n, ts) if n is not None else P.NOERROR
        u = rng.random()
        if rcode == P.NOERROR and u < 0.0005:
            rcode = P.SERVFAIL
        ttl = n.ttl if n is not None else 3600
        ans = (answers if answers is not None else self.answers_at(n, ts)) if rcode == P.NOERROR else ()
        left = rng.randint(1, ttl)  # the resolver's cache counts down
        rtt = rng.randint(300, 2_000) if rng.random() < 0.8 else rng.randint(10_000, 180_000)
        out.append((ts, addr, rng.randint(49152, 65535), server, rng.getrandbits(16), qname, P.T_A,
                    None if u > 0.9993 else rcode, ans, left, rtt, 1))
        if aaaa:
            six = (n.aaaa if n is not None else None) or ()
            out.append((ts + rng.randint(50, 3000), addr, rng.randint(49152, 65535), server, rng.getrandbits(16), qname,
                        P.T_AAAA, rcode, six if rcode == P.NOERROR else (), left, rtt + rng.randint(0, 500), 1))
        if d is not None and d.https and (n is None or n.https):
            out.append((ts + rng.randint(50, 3000), addr, rng.randint(49152, 65535), server, rng.getrandbits(16), qname,
                        P.T_HTTPS, rcode, (), left, rtt, 1))

    def generate(self, rng, skip=None):
        """All stub lookups: per device and day, sessions; within a session
        lookups at the device's rate, names by its habits, its own stub
        cache (TTL) in front."""
        cal = self.cal
        out = []
        used = set()
        expo = rng.expovariate
        for day in range(cal.days):
            day0 = cal.start + day * DAY
            for d in self.devices:
                self.assign(rng, d, day, used)
                cache = {}
                for a, b, vpn, factor in self.presence(rng, d, day):
                    addr = d.vpn_addr if vpn else (d.v6addr if d.v6 and rng.random() < 0.5 else d.addr)
                    rate = d.rate * self.scale * factor
                    t = a + expo(rate)
                    while t < b:
                        ts = day0 + int(t * HOUR)
                        u = rng.random()
                        if u < 0.004:  # a small site hosted on the watched address (long tail, Zipf-like)
                            k = int(len(self.hosted_tail) * rng.random() ** 3)
                            q = self.hosted_tail[k]
                            if cache.get(q, -1) < ts:
                                cache[q] = ts + 3600 * SEC
                                self.emit(out, rng, d, addr, None, q, ts, answers=self.tail_ans(ts), aaaa=rng.random() < 0.7)
                        else:
                            j = d.favs[bisect.bisect_left(d.cum, rng.random() * d.cum[-1])]
                            n = self.names[j]
                            if cache.get(n.qname, -1) < ts and not (skip and skip(n, ts)):
                                cache[n.qname] = ts + n.ttl * SEC
                                self.emit(out, rng, d, addr, n, n.qname, ts, aaaa=rng.random() < 0.85)
                        t += expo(rate)
        return out

    def name(self, qname):
        for n in self.names:
            if n.qname == qname:
                return n
        return None
