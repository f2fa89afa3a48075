"""The 2016-shaped scenario (docs: ../shared/docs/case-2016.md).

A watched name, nearly dormant, is looked up from May 4 about 2,800 times by
two resolvers of one bank (adjacent /24s, ~80%) and ~700 times by one US
health company (together ~99%), irregularly, with spike days and quiet
windows; on Sep 23 it goes NXDOMAIN; on Sep 27 a new name resolves to the
same server, first asked by the bank. A steady decoy name, watched too, must
get nothing.
"""
from . import model as M
from . import pcap as P
from .model import DAY, HOUR
from .scenarios import MIN_LIFT, P_DETECT, AuthBuilder, Injection, nb_lower_check, nb_upper_check, poisson_sf

NAME = "mail1.trump-email.com"
NEW_NAME = "trump1.contact-client.com"
ADDRESS = "66.216.133.29"
DECOY = "mail.hotelmarketing-mx.com"


def case_specs():
    addr = P.ip4(ADDRESS)
    return [
        M.NameSpec(NAME, P.T_A, 600, 0, M.fixed(P.rr_a(addr))),
        M.NameSpec(DECOY, P.T_A, 3600, 500, M.fixed(P.rr_a(P.ip4("64.79.120.33"))), reach=0.7, aff_shape=0.7),
        M.NameSpec("www.hotelmarketing-mx.com", P.T_A, 300, 900, M.fixed(P.rr_a(P.ip4("64.79.120.30"))),
                   aaaa=(P.rr_a(P.ip6("2001:db8:79::30")),), p_aaaa=0.5, reach=0.8),
        M.NameSpec("trump-email.com", P.T_MX, 3600, 20, M.fixed(P.rr_mx(10, NAME)), reach=0.3,
                   kinds=("mail", "enterprise")),
        M.NameSpec("click.hotelmarketing-mx.com", P.T_A, 300, 700, M.fixed(P.rr_a(P.ip4("64.79.120.31"))), reach=0.8),
    ]


def _day_lookups(ab, out, org, spec, day_counts, weights, rng, ttl_s):
    """Lookups of ``spec`` by ``org``'s resolvers: ``day_counts[d]`` on day d,
    at times drawn from the organisation's working-day profile, a resolver
    never asking again within the TTL."""
    prof = ab.world.org_profile(org)
    last = {}
    for d, k in enumerate(day_counts):
        if k <= 0:
            continue
        hours = prof[d * 24:(d + 1) * 24]
        tot = sum(hours)
        cum, acc = [], 0.0
        for v in hours:
            acc += v / tot
            cum.append(acc)
        times = []
        for _ in range(k):
            u = rng.random()
            h = next(i for i, c in enumerate(cum) if c >= u)
            times.append(ab.cal.start + d * DAY + h * HOUR + int(rng.random() * HOUR))
        times.sort()
        for t in times:
            i = 0 if len(org.resolvers) == 1 else (0 if rng.random() < weights[0] else 1)
            r = org.resolvers[i]
            if t - last.get(i, -10 ** 15) < ttl_s * 1_000_000:
                continue
            last[i] = t
            ab.world.emit(out, rng, r, spec, t)


def case_2016(quick, scale, seed):
    start = M.epoch_us(2016, 4, 1)
    days = 190
    hol = {M.day_str(start + d * DAY): d for d in range(days)}
    holidays = {hol[x] for x in ("2016-05-09", "2016-05-30", "2016-07-04", "2016-09-05") if x in hol}
    specs = case_specs()
    ab = AuthBuilder("case-2016", "case-2016", seed * 1000 + 2016, days, scale, start=start, holidays=holidays,
                     specs=specs, watch=[NAME, ADDRESS, DECOY])
    alfa = ab.world.add_org("Alfa Bank", "enterprise", 3, [(217, 12, 96), (217, 12, 97)], n_res=2)
    spectrum = ab.world.add_org("Spectrum Health", "enterprise", -4, [(167, 73, 110)], n_res=1)
    ab.generate()
    rng = M.rng_for("case-2016", seed)
    spec = ab.spec(NAME)
    d = lambda s: (M.epoch_us(*map(int, s.split("-"))) - start) // DAY  # noqa: E731
    may4, sep23, sep27 = d("2016-05-04"), d("2016-09-23"), d("2016-09-27")
    out = ab.by_spec[id(spec)]
    # Dormant: a lookup every other day or so by ordinary resolvers; ~1% of the lookups later.
    pool = sorted(ab.world.resolvers, key=lambda r: -r.weight)[:80]
    for day in range(days):
        mu = (0.6 if day < may4 else 0.25) * scale
        for _ in range(M.poisson(rng, mu)):
            ab.world.emit(out, rng, rng.choice(pool), spec, start + day * DAY + int(rng.random() * DAY))
    # The bank: irregular days (gamma-mixed, shape 0.8), spikes, two quiet windows.
    spikes = {d("2016-06-24"): 5, d("2016-06-28"): 7, d("2016-07-08"): 4, d("2016-07-09"): 4, d("2016-07-31"): 4,
              d("2016-08-04"): 9}
    quiet = [(d("2016-08-13"), d("2016-08-18")), (d("2016-09-14"), d("2016-09-21"))]
    levels = [rng.gammavariate(0.8, 1 / 0.8) for _ in range(days)]
    active = [day for day in range(may4, sep23 + 1)]
    norm = sum(levels[x] for x in active)
    per_day = 2820 * scale / norm
    base_counts, extra_counts = [0] * days, [0] * days
    for day in active:
        mu = per_day * levels[day]
        if day == sep23:
            mu *= 0.5
        base_counts[day] = M.poisson(rng, mu)
        if day in spikes:
            extra_counts[day] = M.poisson(rng, max(mu, per_day) * (spikes[day] - 1))
    for day in range(sep23 + 1, days):  # after NXDOMAIN, now and then
        base_counts[day] = M.poisson(rng, 0.3 * per_day * levels[day])
    removed = [0] * days
    for a, b in quiet:
        for day in range(a, b):
            removed[day] = base_counts[day]
    base_alfa, extra_alfa = [], []
    _day_lookups(ab, base_alfa, alfa, spec, base_counts, (0.55, 0.45), rng, 600)
    _day_lookups(ab, extra_alfa, alfa, spec, extra_counts, (0.55, 0.45), rng, 600)
    qwin = [(start + a * DAY, start + b * DAY) for a, b in quiet]
    kept_alfa = [e for e in base_alfa if not any(a <= e[0] < b for a, b in qwin)]
    # Spectrum Health: ~714 lookups, ~5 a day, two 36-hour gaps.
    sp_level = [rng.gammavariate(1.5, 1 / 1.5) for _ in range(days)]
    sp_norm = sum(sp_level[x] for x in active)
    sp_counts = [M.poisson(rng, 714 * scale / sp_norm * sp_level[x]) if may4 <= x <= sep23 else 0 for x in range(days)]
    sp = []
    _day_lookups(ab, sp, spectrum, spec, sp_counts, (1.0,), rng, 600)
    gaps = [(M.epoch_us(2016, 7, 3, 12), M.epoch_us(2016, 7, 5)), (M.epoch_us(2016, 7, 21, 12), M.epoch_us(2016, 7, 23))]
    sp = [e for e in sp if not any(a <= e[0] < b for a, b in gaps)]
    nx_at = M.epoch_us(2016, 9, 23, 12)
    spec.rcode_tl.append((nx_at, start + days * DAY, P.NXDOMAIN))

    def relabel(evs):
        # Lookups were made before the NXDOMAIN switch was known: recompute rcodes.
        fixed = []
        for e in evs:
            if e[0] >= nx_at and e[P.RCODE] is not None:
                e = e[:P.RCODE] + (P.NXDOMAIN, ()) + e[P.ANSWERS + 1:]
            fixed.append(e)
        return fixed
    out[:] = relabel(out)
    base_all = relabel(out + base_alfa + sp)
    ab.by_spec[id(spec)] = relabel(out + kept_alfa + extra_alfa + sp)
    # The new name, same server, first asked by the bank.
    new = M.NameSpec(NEW_NAME, P.T_A, 600, 0, M.fixed(P.rr_a(P.ip4(ADDRESS))))
    new_at = M.epoch_us(2016, 9, 27, 10, 12)
    nn = []
    ab.world.emit(nn, rng, alfa.resolvers[0], new, new_at)
    cnt = [0] * days
    for day in range(sep27, days):
        cnt[day] = M.poisson(rng, 3 * max(scale, 0.34))
    cnt[sep27] = 0
    _day_lookups(ab, nn, alfa, new, cnt, (0.55, 0.45), rng, 600)
    ab.specs.append(new)
    ab.by_spec[id(new)] = nn
    # Ground truth.
    b = ab.b
    b.signals = True
    b.noise_entries = {DECOY}
    t_may4 = start + may4 * DAY
    inj = Injection("dormant name wakes up (May 4)", "burst", NAME, t_may4, t_may4 + DAY, 30, "~20/day after ~0.5/day",
                    {NAME, ADDRESS})

    def wake_check(bt, a=t_may4):
        obs, mu = bt.count(NAME, a, a + DAY), bt.count(NAME, a - 28 * DAY, a) / 28.0
        p = poisson_sf(obs, max(mu, 0.5))
        return p < P_DETECT and obs >= MIN_LIFT * mu, "%d lookups vs %.1f a day in the 4 weeks before (p %.1e)" % (obs, mu, p)
    inj.check = wake_check
    b.injections.append(inj)
    inj = Injection("new queriers: bank and health company start", "new_querier", NAME, t_may4, t_may4 + 2 * DAY, 24,
                    "Alfa Bank, Spectrum Health", {NAME, ADDRESS})
    inj.check = lambda bt: (True, "by construction")
    b.injections.append(inj)
    b.injections.append(Injection("two bank resolvers ~80%, with the health company ~99%", "concentration", NAME,
                                  t_may4, t_may4 + 7 * DAY, 48, "80% / 99%", {NAME, ADDRESS}))
    # Detectable in principle is judged against the name's own day-to-day
    # variation as generated (the bank's gamma(0.8) and the health company's
    # gamma(1.5) day levels), not against Poisson: a day of 77 where days of
    # 3 to 59 are ordinary is not an anomaly any detector could call
    # without calling the ordinary ones too.
    sp_mean = 714 * scale / sp_norm

    def nb_window(n_days):
        mb, mh = per_day * n_days, sp_mean * n_days
        var_excess = n_days * (per_day ** 2 / 0.8 + sp_mean ** 2 / 1.5)
        return mb + mh, (mb + mh) ** 2 / var_excess

    for day, mult in sorted(spikes.items()):
        a = start + day * DAY
        inj = Injection("spike %s" % M.day_str(a), "burst", NAME, a, a + DAY, 30, "%dx" % mult, {NAME, ADDRESS})
        inj.check = nb_upper_check(NAME, a, a + DAY, *nb_window(1))
        b.injections.append(inj)
    for a, e in quiet:
        ta, te = start + a * DAY, start + e * DAY
        inj = Injection("quiet %s..%s" % (M.day_str(ta), M.day_str(te - DAY)), "quiet", NAME, ta, te, 24,
                        "%d days" % (e - a), {NAME, ADDRESS})
        inj.check = nb_lower_check(NAME, ta, te, *nb_window(e - a))
        b.injections.append(inj)
        b.exempt.append((("resumed",), {NAME, ADDRESS}, ta, te + DAY))
    b.injections.append(Injection("NXDOMAIN from Sep 23", "rcode_change", NAME, nx_at, nx_at + 2 * DAY, 6, "NXDOMAIN",
                                  {NAME, ADDRESS}))
    b.injections.append(Injection("new name for the same server (Sep 27)", "new_name", ADDRESS, new_at, new_at + 2 * DAY,
                                  6, NEW_NAME, {ADDRESS}))
    built = ab.build()
    built.base = base_all + [e for s in ab.specs if s is not spec and s is not new for e in ab.by_spec[id(s)]]
    built.orgs = [(p, o.name) for o in ab.world.orgs if o.listed for p in o.prefixes]
    return built
