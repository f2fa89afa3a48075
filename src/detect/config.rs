//! `[detectors]`: settings of every detector, with defaults chosen on the
//! detection benchmark (`bench/detect-eval`) and checked by `validate`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[detectors]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorConfig {
    /// The same (kind, entries, name, querier) does not fire again within this many seconds.
    pub suppress_s: f64,
    /// Seconds of packet time a bucket stays open after its end (late lookups).
    pub grace_s: f64,
    /// Queriers tracked per entry (least recently seen evicted beyond it).
    pub max_queriers_per_entry: usize,
    /// Names tracked per entry and (name, type) answer sets tracked in all.
    pub max_names_per_entry: usize,
    /// Queriers are grouped into networks of this IPv4 prefix length.
    pub network_prefix_v4: u8,
    /// ... and of this IPv6 prefix length.
    pub network_prefix_v6: u8,
    /// CSV of `prefix,organisation` lines (longest prefix wins).
    pub organisations_file: Option<PathBuf>,
    /// An ASN database in MaxMind format (GeoLite2-ASN or compatible),
    /// supplied by the operator: organisations of queriers the CSV does not name.
    pub asn_database: Option<PathBuf>,
    /// One `YYYY-MM-DD` per line: days treated like the quietest weekend day.
    pub holidays_file: Option<PathBuf>,
    /// `[detectors.burst]`.
    pub burst: Burst,
    /// `[detectors.quiet]`.
    pub quiet: Quiet,
    /// `[detectors.concentration]`.
    pub concentration: Concentration,
    /// `[detectors.new_querier]`.
    pub new_querier: Newcomer,
    /// `[detectors.new_name]`.
    pub new_name: Newcomer,
    /// `[detectors.first_seen]`.
    pub first_seen: FirstSeen,
    /// `[detectors.rcode_change]`.
    pub rcode_change: RcodeChange,
    /// `[detectors.answer_change]`.
    pub answer_change: AnswerChange,
    /// `[detectors.periodic]`.
    pub periodic: Periodic,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            suppress_s: 3600.0,
            grace_s: 60.0,
            max_queriers_per_entry: 10_000,
            max_names_per_entry: 10_000,
            network_prefix_v4: 24,
            network_prefix_v6: 48,
            organisations_file: None,
            asn_database: None,
            holidays_file: None,
            burst: Burst::default(),
            quiet: Quiet::default(),
            concentration: Concentration::default(),
            new_querier: Newcomer {
                enabled: true,
                learning_h: 168.0,
                p_value: 0.05,
                min_lookups: 3,
                min_share: 0.3,
            },
            new_name: Newcomer {
                enabled: true,
                learning_h: 72.0,
                p_value: 0.2,
                min_lookups: 1,
                min_share: 0.3,
            },
            first_seen: FirstSeen::default(),
            rcode_change: RcodeChange::default(),
            answer_change: AnswerChange::default(),
            periodic: Periodic::default(),
        }
    }
}

/// `burst`: hours and days above the seasonal model, as episodes.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Burst {
    /// On or off.
    pub enabled: bool,
    /// Days of history the seasonal model is fitted on.
    pub baseline_days: u32,
    /// Days of history before the entry's own model is used; before that the
    /// expected rate is the population prior below, shrunk towards what was seen.
    pub min_history_days: f64,
    /// Upper-tail probability below which an hour is a burst.
    pub p_value: f64,
    /// Upper-tail probability below which a day is a burst.
    pub p_value_day: f64,
    /// Never a burst below this many lookups in an hour ...
    pub min_count_hour: u64,
    /// ... or in a day.
    pub min_count_day: u64,
    /// Never a burst below this ratio of observed to expected.
    pub min_lift: f64,
    /// Expected lookups a day of an entry with no history (the population prior).
    pub prior_per_day: f64,
}

impl Default for Burst {
    fn default() -> Self {
        Self {
            enabled: true,
            baseline_days: 28,
            min_history_days: 3.0,
            p_value: 1e-7,
            p_value_day: 1e-5,
            min_count_hour: 10,
            min_count_day: 20,
            min_lift: 1.5,
            prior_per_day: 4.0,
        }
    }
}

/// `quiet`: silences and dips against the seasonal model, as episodes.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Quiet {
    /// On or off.
    pub enabled: bool,
    /// Probability of the silence (or dip) under the model below which it is quiet.
    pub p_value: f64,
    /// Only when at least this many lookups were expected in the quiet span.
    pub min_expected: f64,
    /// A dip must also be at most this fraction of what was expected.
    pub max_fraction: f64,
}

impl Default for Quiet {
    fn default() -> Self {
        Self {
            enabled: true,
            p_value: 1e-6,
            min_expected: 12.0,
            max_fraction: 0.25,
        }
    }
}

/// `concentration`: a few organisations, networks or addresses holding
/// almost all lookups, where they did not before.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Concentration {
    /// On or off.
    pub enabled: bool,
    /// Windows (days) evaluated at each day boundary.
    pub windows_days: Vec<u32>,
    /// Fewer lookups than this in the window are never an alert (sample size).
    pub min_lookups: u64,
    /// The 95% Wilson lower bound of the top group's share must reach this ...
    pub top1_share: f64,
    /// ... or that of the top two groups' share this.
    pub top2_share: f64,
    /// Days before the window the entry's own history is read from.
    pub history_days: u32,
    /// Days of history needed before the entry is judged as a change.
    pub min_history_days: u32,
    /// As a change, the groups' share must have grown by at least this much
    /// (0.86 to 0.93 is noise around a threshold, 0.02 to 0.80 is news).
    pub min_increase: f64,
    /// Without history, the groups' share of all watched lookups in the
    /// window must be at most this fraction of their share of the entry's
    /// (an office LAN holding 95% of every name is not news).
    pub max_population_ratio: f64,
}

impl Default for Concentration {
    fn default() -> Self {
        Self {
            enabled: true,
            windows_days: vec![1, 7],
            min_lookups: 20,
            top1_share: 0.75,
            top2_share: 0.9,
            history_days: 28,
            min_history_days: 7,
            min_increase: 0.25,
            max_population_ratio: 0.5,
        }
    }
}

/// `new_querier` / `new_name`: newcomers where newcomers are rare.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Newcomer {
    /// On or off.
    pub enabled: bool,
    /// Hours after the entry's first lookup during which newcomers are learnt silently.
    pub learning_h: f64,
    /// Alert only when a newcomer on a given day was this improbable given
    /// the entry's own rate of newcomers (Poisson, over the last two weeks).
    pub p_value: f64,
    /// A newcomer must make this many lookups within a day of its first.
    pub min_lookups: u64,
    /// A newcomer that makes at least this share of the entry's lookups
    /// within a day of its first (and at least 20 of them) alerts whatever
    /// the rate of newcomers: a new organisation taking a large share at
    /// once is news even where newcomers are common (0 = off).
    pub min_share: f64,
}

impl Default for Newcomer {
    fn default() -> Self {
        Self {
            enabled: true,
            learning_h: 168.0,
            p_value: 0.05,
            min_lookups: 3,
            min_share: 0.3,
        }
    }
}

/// `first_seen`: the first lookup ever of a watched entry (a threat-intel
/// name that was never asked for).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FirstSeen {
    /// On or off.
    pub enabled: bool,
    /// Only once the sensor has watched for this many hours of packet time
    /// (entries seen in the first hours of a new sensor are not news).
    pub after_h: f64,
}

impl Default for FirstSeen {
    fn default() -> Self {
        Self {
            enabled: true,
            after_h: 24.0,
        }
    }
}

/// `rcode_change`: a name that starts failing (and recovers).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RcodeChange {
    /// On or off.
    pub enabled: bool,
    /// NOERROR answers needed before a name's normal state is established.
    pub min_established: u32,
    /// Consecutive NXDOMAIN answers that confirm the change.
    pub nxdomain_streak: u32,
    /// Consecutive SERVFAIL/REFUSED answers that confirm a failure ...
    pub failure_streak: u32,
    /// ... spanning at least this many seconds (transient failures are not changes).
    pub failure_min_s: f64,
}

impl Default for RcodeChange {
    fn default() -> Self {
        Self {
            enabled: true,
            min_established: 3,
            nxdomain_streak: 2,
            failure_streak: 3,
            failure_min_s: 600.0,
        }
    }
}

/// `answer_change`: data never seen for a (name, type).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnswerChange {
    /// On or off.
    pub enabled: bool,
    /// Hours after a (name, type) was first answered during which its data is learnt.
    pub learning_h: f64,
    /// Answers needed before a change is judged.
    pub min_responses: u64,
    /// The set must have had no new data for this many hours (rotating
    /// pools and CDNs never are, and never alert).
    pub stable_h: f64,
    /// Data not seen for this many days is forgotten.
    pub memory_days: f64,
}

impl Default for AnswerChange {
    fn default() -> Self {
        Self {
            enabled: true,
            learning_h: 24.0,
            min_responses: 10,
            stable_h: 72.0,
            memory_days: 30.0,
        }
    }
}

/// `periodic`: machine rhythm of one querier, explained away when it is the TTL.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Periodic {
    /// On or off.
    pub enabled: bool,
    /// Lookups in phase needed before a rhythm is reported.
    pub min_events: usize,
    /// Binomial tail probability of that many lookups in the phase window,
    /// Bonferroni-corrected over candidate periods.
    pub p_value: f64,
    /// Nothing faster than this is called periodic (query loops, retries).
    pub min_period_s: f64,
    /// Lookups by one querier closer than this are one event (A + AAAA).
    pub merge_s: f64,
    /// Events kept per (entry, querier).
    pub max_events: usize,
    /// Fraction of the cycles spanned that must hold an in-phase event.
    pub min_occupancy: f64,
}

impl Default for Periodic {
    fn default() -> Self {
        Self {
            enabled: true,
            min_events: 8,
            p_value: 1e-9,
            min_period_s: 1.0,
            merge_s: 2.0,
            max_events: 256,
            min_occupancy: 0.5,
        }
    }
}

impl DetectorConfig {
    /// Checks ranges; the error names the key below `detectors.`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |k: &str, m: &str| Err((k.to_string(), m.to_string()));
        let prob = |v: f64| v > 0.0 && v < 1.0;
        let pos = |v: f64| v.is_finite() && v > 0.0;
        let non_neg = |v: f64| v.is_finite() && v >= 0.0;
        let share = |v: f64| v > 0.0 && v <= 1.0;
        if !non_neg(self.suppress_s) {
            return bad("suppress_s", "must be a non-negative number of seconds");
        }
        if !non_neg(self.grace_s) || self.grace_s > 3600.0 {
            return bad("grace_s", "must be between 0 and 3600 seconds");
        }
        if self.max_queriers_per_entry == 0 || self.max_names_per_entry == 0 {
            return bad("max_queriers_per_entry", "caps must be positive");
        }
        if !(8..=32).contains(&self.network_prefix_v4) {
            return bad("network_prefix_v4", "must be between 8 and 32");
        }
        if !(16..=128).contains(&self.network_prefix_v6) {
            return bad("network_prefix_v6", "must be between 16 and 128");
        }
        let b = &self.burst;
        if !prob(b.p_value) || !prob(b.p_value_day) {
            return bad("burst.p_value", "must be in (0, 1)");
        }
        if !(7..=366).contains(&b.baseline_days) {
            return bad("burst.baseline_days", "must be between 7 and 366");
        }
        if !non_neg(b.min_history_days)
            || !pos(b.prior_per_day)
            || b.min_lift.is_nan()
            || b.min_lift < 1.0
        {
            return bad(
                "burst",
                "min_history_days non-negative, prior_per_day positive, min_lift at least 1",
            );
        }
        let q = &self.quiet;
        if !prob(q.p_value) || !pos(q.min_expected) || !share(q.max_fraction) {
            return bad(
                "quiet",
                "p_value in (0, 1), min_expected positive, max_fraction in (0, 1]",
            );
        }
        let c = &self.concentration;
        if c.windows_days.is_empty() || c.windows_days.iter().any(|w| !(1..=90).contains(w)) {
            return bad(
                "concentration.windows_days",
                "one or more windows of 1 to 90 days",
            );
        }
        if !share(c.top1_share)
            || !share(c.top2_share)
            || c.history_days == 0
            || !(0.0..=1.0).contains(&c.min_increase)
            || !share(c.max_population_ratio)
        {
            return bad(
                "concentration",
                "shares and max_population_ratio in (0, 1], min_increase in [0, 1], history_days positive",
            );
        }
        for (k, n) in [
            ("new_querier", &self.new_querier),
            ("new_name", &self.new_name),
        ] {
            if !non_neg(n.learning_h) || !prob(n.p_value) || !(0.0..=1.0).contains(&n.min_share) {
                return bad(
                    k,
                    "learning_h non-negative, p_value in (0, 1), min_share in [0, 1]",
                );
            }
        }
        if !non_neg(self.first_seen.after_h) {
            return bad("first_seen.after_h", "must be non-negative");
        }
        let r = &self.rcode_change;
        if r.nxdomain_streak == 0 || r.failure_streak == 0 || !non_neg(r.failure_min_s) {
            return bad(
                "rcode_change",
                "streaks positive and failure_min_s non-negative",
            );
        }
        let a = &self.answer_change;
        if !non_neg(a.learning_h) || !non_neg(a.stable_h) || !pos(a.memory_days) {
            return bad(
                "answer_change",
                "learning_h and stable_h non-negative, memory_days positive",
            );
        }
        let p = &self.periodic;
        if !prob(p.p_value)
            || p.min_events < 4
            || p.min_period_s.is_nan()
            || p.min_period_s < 1.0
            || !non_neg(p.merge_s)
            || !(16..=4096).contains(&p.max_events)
            || !share(p.min_occupancy)
        {
            return bad(
                "periodic",
                "p_value in (0, 1), min_events at least 4, min_period_s at least 1, max_events 16 to 4096, min_occupancy in (0, 1]",
            );
        }
        Ok(())
    }
}
