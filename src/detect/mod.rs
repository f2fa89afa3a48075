//! Detectors: turn the stream of lookups into alerts.
//!
//! Input: [`Lookup`]s in (nearly) packet-time order, and the current packet
//! time through [`Engine::advance`]. Output: [`Alert`]s. Packet timestamps are
//! the only clock, so a replay gives the same alerts every time.
//!
//! Each watched entry is a series, and so is each (entry, querier) pair.
//! Buckets (hours, days) are closed only once packet time has passed their
//! end by a grace period longer than the response timeout, so late lookups
//! (emitted when their response arrives) still land in their bucket.
//!
//! Memory per entry is bounded: queriers and names per entry are capped
//! (least recently seen evicted), hourly history is pruned to the baseline
//! window, and per-querier timing keeps the last [`TIMING_KEEP`] lookups.

pub mod stats;

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Deserialize;
use serde_json::json;

use crate::alert::{Alert, Severity};
use crate::lookup::Lookup;

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;
/// Lookups per entry kept for the concentration window (a flood beyond it
/// keeps the most recent ones: the shares stay right, the window shortens).
const MAX_WINDOW: usize = 200_000;
/// Lookups per (entry, querier) kept for timing statistics.
pub const TIMING_KEEP: usize = 64;

// ------------ configuration ------------------------------------------------

/// `[detectors]`.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorConfig {
    /// The same (kind, entry, querier) does not fire again within this many seconds.
    pub suppress_s: f64,
    /// Seconds of packet time a bucket stays open after its end (late lookups).
    pub grace_s: f64,
    /// Queriers tracked per entry (least recently seen evicted beyond it).
    pub max_queriers_per_entry: usize,
    /// Names tracked per entry for rcode/answer history (LRU beyond it).
    pub max_names_per_entry: usize,
    /// `[detectors.new_querier]`.
    pub new_querier: Learning,
    /// `[detectors.concentration]`.
    pub concentration: Concentration,
    /// `[detectors.burst]`.
    pub burst: Burst,
    /// `[detectors.quiet]`.
    pub quiet: Quiet,
    /// `[detectors.rcode_change]`.
    pub rcode_change: Toggle,
    /// `[detectors.answer_change]`.
    pub answer_change: Toggle,
    /// `[detectors.new_name]`.
    pub new_name: Learning,
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
            new_querier: Learning::default(),
            concentration: Concentration::default(),
            burst: Burst::default(),
            quiet: Quiet::default(),
            rcode_change: Toggle { enabled: true },
            answer_change: Toggle { enabled: true },
            new_name: Learning::default(),
            periodic: Periodic::default(),
        }
    }
}

/// A detector with no settings but its switch.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Toggle {
    /// On or off.
    pub enabled: bool,
}

impl Default for Toggle {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// A detector that learns silently for a while (`new_querier`, `new_name`).
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Learning {
    /// On or off.
    pub enabled: bool,
    /// Hours of packet time after an entry's first lookup during which new
    /// queriers (or names) are learnt silently.
    pub learning_h: f64,
}

impl Default for Learning {
    fn default() -> Self {
        Self {
            enabled: true,
            learning_h: 24.0,
        }
    }
}

/// `concentration`.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Concentration {
    /// On or off.
    pub enabled: bool,
    /// Window in days, evaluated at each day boundary.
    pub window_days: f64,
    /// Fewer lookups than this in the window are never an alert.
    pub min_lookups: u64,
    /// Alert when the 95% lower bound of the top querier's share reaches this.
    pub top1_share: f64,
    /// Alert when the 95% lower bound of the top two queriers' share reaches this.
    pub top2_share: f64,
}

impl Default for Concentration {
    fn default() -> Self {
        Self {
            enabled: true,
            window_days: 7.0,
            min_lookups: 30,
            top1_share: 0.75,
            top2_share: 0.9,
        }
    }
}

/// `burst`.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Burst {
    /// On or off.
    pub enabled: bool,
    /// Days of history the baseline is drawn from.
    pub baseline_days: u32,
    /// Days of history a series needs before it is tested.
    pub min_history_days: f64,
    /// Tail probability below which a bucket is a burst.
    pub p_value: f64,
    /// Fewer lookups in an hour are never a burst.
    pub min_count_hour: u64,
    /// Fewer lookups in a day are never a burst.
    pub min_count_day: u64,
    /// Also test each (entry, querier) pair.
    pub per_querier: bool,
}

impl Default for Burst {
    fn default() -> Self {
        Self {
            enabled: true,
            baseline_days: 14,
            min_history_days: 3.0,
            p_value: 1e-6,
            min_count_hour: 5,
            min_count_day: 10,
            per_querier: true,
        }
    }
}

/// `quiet`.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Quiet {
    /// On or off.
    pub enabled: bool,
    /// Hours of silence (or near-silence) examined.
    pub window_h: f64,
    /// Days before the window the expected rate is drawn from.
    pub baseline_days: u32,
    /// Only entries expected to have at least this many lookups in the window.
    pub min_expected: f64,
    /// Lower-tail probability below which the window is quiet.
    pub p_value: f64,
}

impl Default for Quiet {
    fn default() -> Self {
        Self {
            enabled: true,
            window_h: 24.0,
            baseline_days: 7,
            min_expected: 10.0,
            p_value: 1e-4,
        }
    }
}

/// `periodic`.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Periodic {
    /// On or off.
    pub enabled: bool,
    /// Lookups of a (entry, querier) pair needed before it is judged.
    pub min_lookups: usize,
    /// Coefficient of variation of gaps at or below which a series is regular.
    pub max_cv: f64,
    /// Rayleigh phase-test p-value (Bonferroni over candidate periods) needed.
    pub p_value: f64,
}

impl Default for Periodic {
    fn default() -> Self {
        Self {
            enabled: true,
            min_lookups: 10,
            max_cv: 0.25,
            p_value: 1e-3,
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
        if !non_neg(self.new_querier.learning_h) {
            return bad("new_querier.learning_h", "must be non-negative");
        }
        if !non_neg(self.new_name.learning_h) {
            return bad("new_name.learning_h", "must be non-negative");
        }
        let c = &self.concentration;
        if !pos(c.window_days) || !share(c.top1_share) || !share(c.top2_share) {
            return bad(
                "concentration",
                "window_days must be positive and shares in (0, 1]",
            );
        }
        if !prob(self.burst.p_value) || self.burst.baseline_days == 0 {
            return bad(
                "burst",
                "p_value must be in (0, 1) and baseline_days positive",
            );
        }
        if !prob(self.quiet.p_value) || !pos(self.quiet.window_h) || self.quiet.baseline_days == 0 {
            return bad(
                "quiet",
                "p_value must be in (0, 1), window_h and baseline_days positive",
            );
        }
        if !prob(self.periodic.p_value)
            || self.periodic.min_lookups < 4
            || !pos(self.periodic.max_cv)
        {
            return bad(
                "periodic",
                "p_value in (0, 1), min_lookups at least 4, max_cv positive",
            );
        }
        Ok(())
    }
}

// ------------ state -------------------------------------------------------

/// An alert being assembled: kind, severity, querier, window, evidence, message.
type Pending = (
    &'static str,
    Severity,
    Option<String>,
    String,
    serde_json::Value,
    String,
);

#[derive(Debug, Default)]
struct QuerierState {
    first_seen: i64,
    last_seen: i64,
    count: u64,
    recent: VecDeque<i64>,
    hours: BTreeMap<i64, u32>,
    periodic: bool,
    last_ttl: Option<u32>,
}

#[derive(Debug, Default)]
struct NameState {
    last_seen: i64,
    rcode: Option<String>,
    answers: Option<Vec<String>>,
}

#[derive(Debug)]
struct EntryState {
    is_address: bool,
    first_seen: i64,
    last_seen: i64,
    total: u64,
    queriers: FxHashMap<IpAddr, QuerierState>,
    names: FxHashMap<String, NameState>,
    known_names: FxHashSet<String>,
    hours: BTreeMap<i64, u32>,
    days: BTreeMap<i64, u32>,
    window: VecDeque<(i64, IpAddr)>,
    closed_hour: i64,
    closed_day: i64,
    quiet_since: Option<i64>,
    /// Packet time before which `quiet` is not evaluated again (a full
    /// window after activity resumed).
    quiet_rearm: i64,
    concentrated: bool,
    last_name: String,
}

impl EntryState {
    fn new(entry: &str, ts: i64) -> Self {
        let is_address = crate::watch::Watchlist::new([entry]).is_ok_and(|w| w.watches_addresses())
            && entry != ".";
        Self {
            is_address,
            first_seen: ts,
            last_seen: ts,
            total: 0,
            queriers: FxHashMap::default(),
            names: FxHashMap::default(),
            known_names: FxHashSet::default(),
            hours: BTreeMap::new(),
            days: BTreeMap::new(),
            window: VecDeque::new(),
            closed_hour: ts.div_euclid(HOUR) - 1,
            closed_day: ts.div_euclid(DAY) - 1,
            quiet_since: None,
            quiet_rearm: i64::MIN,
            concentrated: false,
            last_name: String::new(),
        }
    }
}

/// What is known from earlier runs (read from the store at start).
#[derive(Clone, Debug, Default)]
pub struct Preload {
    /// (entry, querier IP, first seen µs, last seen µs, count).
    pub queriers: Vec<(String, String, i64, i64, u64)>,
    /// (entry, qname, first seen µs).
    pub names: Vec<(String, String, i64)>,
}

/// Counters of the detectors.
#[derive(Clone, Debug, Default)]
pub struct DetectStats {
    /// Alerts raised, by kind.
    pub alerts: BTreeMap<String, u64>,
    /// Alerts suppressed.
    pub suppressed: u64,
    /// Querier states evicted by the per-entry cap.
    pub querier_evictions: u64,
    /// Name states evicted by the per-entry cap.
    pub name_evictions: u64,
}

/// The detectors and their state.
#[derive(Debug)]
pub struct Engine {
    cfg: DetectorConfig,
    entries: BTreeMap<String, EntryState>,
    suppress: FxHashMap<(String, String, Option<String>), (i64, u64)>,
    now: i64,
    /// Hour up to which every entry's buckets are closed (fast path of `advance`).
    closed_through: i64,
    entries_at_close: usize,
    out: Vec<Alert>,
    /// Counters.
    pub stats: DetectStats,
}

fn share_pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

impl Engine {
    /// Detectors with `cfg`, knowing what an earlier run learnt.
    pub fn new(cfg: DetectorConfig, preload: &Preload) -> Self {
        let mut e = Self {
            cfg,
            entries: BTreeMap::new(),
            suppress: FxHashMap::default(),
            now: i64::MIN,
            closed_through: i64::MIN,
            entries_at_close: 0,
            out: Vec::new(),
            stats: DetectStats::default(),
        };
        for (entry, querier, first, last, count) in &preload.queriers {
            let Ok(ip) = querier.parse::<IpAddr>() else {
                continue;
            };
            let st = e
                .entries
                .entry(entry.clone())
                .or_insert_with(|| EntryState::new(entry, *first));
            st.first_seen = st.first_seen.min(*first);
            st.last_seen = st.last_seen.max(*last);
            let q = st.queriers.entry(ip).or_default();
            q.first_seen = *first;
            q.last_seen = *last;
            q.count = *count;
        }
        for (entry, name, first) in &preload.names {
            let st = e
                .entries
                .entry(entry.clone())
                .or_insert_with(|| EntryState::new(entry, *first));
            st.first_seen = st.first_seen.min(*first);
            st.known_names.insert(name.clone());
        }
        // History before this run is not in memory: start buckets afresh.
        for st in e.entries.values_mut() {
            st.closed_hour = i64::MIN;
            st.closed_day = i64::MIN;
        }
        e
    }

    /// Swaps the settings (SIGHUP); state is kept.
    pub fn set_config(&mut self, cfg: DetectorConfig) {
        self.cfg = cfg;
    }

    /// Alerts raised since the last call.
    pub fn take_alerts(&mut self) -> Vec<Alert> {
        std::mem::take(&mut self.out)
    }

    /// Entries with state.
    pub fn entries(&self) -> usize {
        self.entries.len()
    }

    #[allow(clippy::too_many_arguments)]
    fn raise(
        &mut self,
        ts: i64,
        kind: &str,
        severity: Severity,
        entry: &str,
        name: &str,
        querier: Option<String>,
        window: &str,
        evidence: serde_json::Value,
        message: String,
    ) {
        let key = (kind.to_string(), entry.to_string(), querier.clone());
        let interval = (self.cfg.suppress_s * 1e6) as i64;
        let slot = self.suppress.entry(key).or_insert((i64::MIN, 0));
        if slot.0 != i64::MIN && ts.saturating_sub(slot.0) < interval {
            slot.1 += 1;
            self.stats.suppressed += 1;
            return;
        }
        let suppressed = slot.1;
        *slot = (ts, 0);
        *self.stats.alerts.entry(kind.to_string()).or_insert(0) += 1;
        let mut alert = Alert {
            id: String::new(),
            ts_us: ts,
            kind: kind.to_string(),
            severity,
            entry: entry.to_string(),
            entries: Vec::new(),
            name: name.to_string(),
            querier,
            window: window.to_string(),
            evidence,
            message,
            suppressed,
        };
        alert.seal();
        self.out.push(alert);
    }

    /// Feeds one lookup (to the series of every entry it touches).
    pub fn lookup(&mut self, l: &Lookup) {
        self.advance(l.ts_us);
        for entry in l.entries() {
            self.lookup_for(l, entry);
        }
    }

    fn lookup_for(&mut self, l: &Lookup, entry: &str) {
        let ts = l.ts_us;
        let qip = l.querier.ip();
        let cfg = self.cfg.clone();
        let entry_name = entry.to_string();
        let st = self
            .entries
            .entry(entry_name.clone())
            .or_insert_with(|| EntryState::new(&entry_name, ts));
        if st.closed_hour == i64::MIN {
            st.closed_hour = ts.div_euclid(HOUR) - 1;
            st.closed_day = ts.div_euclid(DAY) - 1;
        }
        st.first_seen = st.first_seen.min(ts);
        let prev_last = st.last_seen;
        st.last_seen = st.last_seen.max(ts);
        st.total += 1;
        st.last_name.clone_from(&l.qname);
        *st.hours.entry(ts.div_euclid(HOUR)).or_insert(0) += 1;
        *st.days.entry(ts.div_euclid(DAY)).or_insert(0) += 1;
        st.window.push_back((ts, qip));
        if st.window.len() > MAX_WINDOW {
            st.window.pop_front();
        }
        let learning_over =
            |hours: f64, first: i64| ts.saturating_sub(first) as f64 >= hours * HOUR as f64;
        let mut pending: Vec<Pending> = Vec::new();

        // resumed
        if let Some(since) = st.quiet_since.take() {
            st.quiet_rearm = ts.saturating_add((cfg.quiet.window_h * HOUR as f64) as i64);
            let gap = ts.saturating_sub(prev_last);
            pending.push((
                "resumed",
                Severity::Info,
                Some(qip.to_string()),
                format!("{:.1}h", gap as f64 / HOUR as f64),
                json!({"gap_s": gap / 1_000_000, "last_before_us": prev_last, "quiet_alert_us": since}),
                format!(
                    "lookups of {} resumed after {:.1} hours of silence ({} asked {})",
                    entry_name,
                    gap as f64 / HOUR as f64,
                    qip,
                    l.qname
                ),
            ));
        }

        // new_querier
        let known = st.queriers.contains_key(&qip);
        if !known {
            if cfg.new_querier.enabled && learning_over(cfg.new_querier.learning_h, st.first_seen) {
                pending.push((
                    "new_querier",
                    Severity::Warning,
                    Some(qip.to_string()),
                    format!("since {}", crate::time::rfc3339(st.first_seen)),
                    json!({"known_queriers": st.queriers.len(), "entry_lookups": st.total - 1, "entry_first_seen": crate::time::rfc3339(st.first_seen)}),
                    format!(
                        "new querier {} looked up {} ({}); {} queriers seen before since {}",
                        qip,
                        l.qname,
                        entry_name,
                        st.queriers.len(),
                        crate::time::date(st.first_seen)
                    ),
                ));
            }
            if st.queriers.len() >= cfg.max_queriers_per_entry {
                if let Some(old) = st
                    .queriers
                    .iter()
                    .min_by_key(|(ip, q)| (q.last_seen, **ip))
                    .map(|(k, _)| *k)
                {
                    st.queriers.remove(&old);
                    self.stats.querier_evictions += 1;
                }
            }
        }
        let q = st.queriers.entry(qip).or_insert_with(|| QuerierState {
            first_seen: ts,
            ..QuerierState::default()
        });
        q.last_seen = q.last_seen.max(ts);
        q.count += 1;
        *q.hours.entry(ts.div_euclid(HOUR)).or_insert(0) += 1;
        q.recent.push_back(ts);
        if q.recent.len() > TIMING_KEEP {
            q.recent.pop_front();
        }
        if let Some(ttl) = l.answers.first().map(|a| a.ttl) {
            q.last_ttl = Some(ttl);
        }

        // periodic
        // Judged every 4th lookup: the phase test costs O(n · candidates)
        // trigonometry and a series does not change character in fewer.
        if cfg.periodic.enabled && q.recent.len() >= cfg.periodic.min_lookups && q.count % 4 == 0 {
            let ts_list: Vec<i64> = q.recent.iter().copied().collect();
            if let Some(p) = periodicity(&ts_list, q.last_ttl) {
                let strong = p.cv <= cfg.periodic.max_cv && p.p_value <= cfg.periodic.p_value;
                if strong && !q.periodic {
                    pending.push((
                        "periodic",
                        Severity::Info,
                        Some(qip.to_string()),
                        format!("last {} lookups", ts_list.len()),
                        p.evidence(),
                        format!(
                            "{} looks up {} like a machine: every {} (CV {:.2}, phase test p = {:.1e} over {} lookups)",
                            qip,
                            l.qname,
                            human_period(p.period_s),
                            p.cv,
                            p.p_value,
                            ts_list.len()
                        ),
                    ));
                }
                q.periodic = strong;
            }
        }

        // rcode_change / answer_change
        if l.answered && (cfg.rcode_change.enabled || cfg.answer_change.enabled) {
            if !st.names.contains_key(&l.qname) && st.names.len() >= cfg.max_names_per_entry {
                if let Some(old) = st
                    .names
                    .iter()
                    .min_by(|a, b| (a.1.last_seen, a.0).cmp(&(b.1.last_seen, b.0)))
                    .map(|(k, _)| k.clone())
                {
                    st.names.remove(&old);
                    self.stats.name_evictions += 1;
                }
            }
            let ns = st.names.entry(l.qname.clone()).or_default();
            ns.last_seen = ts;
            let rcode = l.rcode.clone().unwrap_or_default();
            if let Some(prev) = ns.rcode.as_ref() {
                let failing = |r: &str| matches!(r, "NXDOMAIN" | "SERVFAIL" | "REFUSED");
                if cfg.rcode_change.enabled
                    && *prev != rcode
                    && ((prev == "NOERROR" && failing(&rcode))
                        || (failing(prev) && rcode == "NOERROR"))
                {
                    let sev = if rcode == "NXDOMAIN" {
                        Severity::Critical
                    } else {
                        Severity::Warning
                    };
                    pending.push((
                        "rcode_change",
                        sev,
                        Some(qip.to_string()),
                        "last answer".into(),
                        json!({"from": prev, "to": rcode, "qtype": l.qtype, "server": l.server.ip().to_string()}),
                        format!("{} now answers {} (was {}) for {} {}", l.qname, rcode, prev, l.qtype, l.server.ip()),
                    ));
                }
            }
            ns.rcode = Some(rcode.clone());
            if rcode == "NOERROR" && !l.answers.is_empty() {
                let mut set: Vec<String> = l
                    .answers
                    .iter()
                    .map(|a| format!("{} {}", a.rtype, a.data))
                    .collect();
                set.sort();
                set.dedup();
                if let Some(prev) = ns.answers.as_ref() {
                    if cfg.answer_change.enabled && *prev != set {
                        pending.push((
                            "answer_change",
                            Severity::Warning,
                            None,
                            "last answer".into(),
                            json!({"from": prev, "to": set, "qtype": l.qtype}),
                            format!(
                                "answers for {} changed from [{}] to [{}]",
                                l.qname,
                                prev.join(", "),
                                set.join(", ")
                            ),
                        ));
                    }
                }
                ns.answers = Some(set);
            }
        }

        // new_name
        if st.is_address && !st.known_names.contains(&l.qname) {
            if cfg.new_name.enabled
                && learning_over(cfg.new_name.learning_h, st.first_seen)
                && !l.qname.is_empty()
            {
                let ptr = l.qtype == "PTR";
                pending.push((
                    "new_name",
                    Severity::Critical,
                    Some(qip.to_string()),
                    format!("since {}", crate::time::rfc3339(st.first_seen)),
                    json!({"known_names": st.known_names.iter().collect::<std::collections::BTreeSet<_>>(), "qtype": l.qtype,
                           "answers": l.answers.iter().map(|a| format!("{} {}", a.rtype, a.data)).collect::<Vec<_>>()}),
                    if ptr {
                        format!("first reverse (PTR) lookup of watched address {} by {}: {}", entry_name, qip, l.qname)
                    } else {
                        format!("new name {} resolves to watched address {} (first asked by {})", l.qname, entry_name, qip)
                    },
                ));
            }
            if st.known_names.len() < cfg.max_names_per_entry {
                st.known_names.insert(l.qname.clone());
            }
        }

        for (kind, sev, querier, window, evidence, message) in pending {
            self.raise(
                ts,
                kind,
                sev,
                &entry_name,
                &l.qname,
                querier,
                &window,
                evidence,
                message,
            );
        }
    }

    /// Moves packet time forward to `now`, closing buckets that ended more
    /// than the grace period ago.
    pub fn advance(&mut self, now: i64) {
        if now <= self.now {
            return;
        }
        self.now = now;
        let grace = (self.cfg.grace_s * 1e6) as i64;
        let limit_hour = (now - grace).div_euclid(HOUR) - 1; // last hour fully closed
        if limit_hour <= self.closed_through && self.entries.len() == self.entries_at_close {
            return;
        }
        self.closed_through = limit_hour;
        self.entries_at_close = self.entries.len();
        let names: Vec<String> = self.entries.keys().cloned().collect();
        for name in names {
            self.close_hours(&name, limit_hour);
        }
    }

    /// End of input: close every bucket (the last ones are partial).
    pub fn finish(&mut self) {
        let end = self
            .entries
            .values()
            .map(|s| s.last_seen)
            .max()
            .unwrap_or(0);
        let names: Vec<String> = self.entries.keys().cloned().collect();
        for name in names {
            self.close_hours(&name, end.div_euclid(HOUR));
        }
    }

    fn close_hours(&mut self, entry: &str, limit_hour: i64) {
        let Some(st) = self.entries.get(entry) else {
            return;
        };
        if st.closed_hour == i64::MIN || limit_hour <= st.closed_hour {
            return;
        }
        let cfg = self.cfg.clone();
        let baseline_h = i64::from(cfg.burst.baseline_days.max(cfg.quiet.baseline_days)) * 24
            + cfg.quiet.window_h.ceil() as i64
            + 48;
        // Hours to evaluate: those with lookups (bursts need lookups) plus
        // the hour boundaries the quiet test runs at; a jump in packet time
        // longer than the baseline only needs its last stretch examined.
        let from = st.closed_hour.max(limit_hour - baseline_h) + 1;
        let mut alerts = Vec::new();
        for h in from..=limit_hour {
            if let Some(a) = self.evaluate_hour(entry, h, &cfg) {
                alerts.extend(a);
            }
        }
        if let Some(st) = self.entries.get_mut(entry) {
            st.closed_hour = limit_hour;
            // Prune history beyond what any baseline needs.
            let keep_from = limit_hour - baseline_h;
            st.hours = st.hours.split_off(&keep_from);
            st.days = st.days.split_off(&keep_from.div_euclid(24));
            for q in st.queriers.values_mut() {
                if q.hours
                    .first_key_value()
                    .is_some_and(|(h, _)| *h < keep_from)
                {
                    q.hours = q.hours.split_off(&keep_from);
                }
            }
        }
        for a in alerts {
            self.raise(
                a.ts_us, &a.kind, a.severity, &a.entry, &a.name, a.querier, &a.window, a.evidence,
                a.message,
            );
        }
    }

    /// Evaluates the hour `h` (and the day ending with it) of an entry.
    fn evaluate_hour(&mut self, entry: &str, h: i64, cfg: &DetectorConfig) -> Option<Vec<Alert>> {
        let st = self.entries.get_mut(entry)?;
        let mut out = Vec::new();
        let mk = |ts: i64,
                  kind: &str,
                  sev: Severity,
                  name: &str,
                  querier: Option<String>,
                  window: &str,
                  evidence: serde_json::Value,
                  message: String| Alert {
            id: String::new(),
            ts_us: ts,
            kind: kind.into(),
            severity: sev,
            entry: entry.into(),
            entries: Vec::new(),
            name: name.into(),
            querier,
            window: window.into(),
            evidence,
            message,
            suppressed: 0,
        };
        let history_h = h - st.first_seen.div_euclid(HOUR);
        let min_hist_h = (cfg.burst.min_history_days * 24.0) as i64;
        // ---- hourly burst (entry, then pairs)
        if cfg.burst.enabled && history_h >= min_hist_h {
            let observed = u64::from(st.hours.get(&h).copied().unwrap_or(0));
            if observed >= cfg.burst.min_count_hour {
                if let Some(t) = hour_test(
                    &st.hours,
                    &st.days,
                    h,
                    observed,
                    cfg.burst.baseline_days,
                    st.first_seen,
                ) {
                    if t.p_value < cfg.burst.p_value {
                        out.push(mk(h * HOUR, "burst", t.severity(), &st.last_name, None, "1h", t.evidence("1h", cfg.burst.baseline_days),
                            format!("{} lookups of {} in the hour from {} where {:.2} were expected (p = {:.1e})", observed, entry, crate::time::rfc3339(h * HOUR), t.expected, t.p_value)));
                    }
                }
            }
            if cfg.burst.per_querier {
                let mut pairs: Vec<(IpAddr, u64)> = st
                    .queriers
                    .iter()
                    .filter_map(|(ip, q)| q.hours.get(&h).map(|c| (*ip, u64::from(*c))))
                    .filter(|(_, c)| *c >= cfg.burst.min_count_hour)
                    .collect();
                pairs.sort();
                for (ip, observed) in pairs {
                    let Some(q) = st.queriers.get(&ip) else {
                        continue;
                    };
                    if h - q.first_seen.div_euclid(HOUR) < min_hist_h {
                        continue;
                    }
                    let days = day_totals(&q.hours);
                    if let Some(t) = hour_test(
                        &q.hours,
                        &days,
                        h,
                        observed,
                        cfg.burst.baseline_days,
                        q.first_seen,
                    ) {
                        if t.p_value < cfg.burst.p_value {
                            out.push(mk(h * HOUR, "burst", t.severity(), &st.last_name, Some(ip.to_string()), "1h", t.evidence("1h", cfg.burst.baseline_days),
                                format!("{} made {} lookups of {} in the hour from {} where {:.2} were expected (p = {:.1e})", ip, observed, entry, crate::time::rfc3339(h * HOUR), t.expected, t.p_value)));
                        }
                    }
                }
            }
        }
        // ---- at the day boundary: daily burst and concentration
        if (h + 1) % 24 == 0 {
            let d = h.div_euclid(24);
            if cfg.burst.enabled
                && (d - st.first_seen.div_euclid(DAY)) as f64 >= cfg.burst.min_history_days
            {
                let observed = u64::from(st.days.get(&d).copied().unwrap_or(0));
                if observed >= cfg.burst.min_count_day {
                    if let Some(t) = day_test(&st.days, d, observed, cfg.burst.baseline_days) {
                        if t.p_value < cfg.burst.p_value {
                            out.push(mk(d * DAY, "burst", t.severity(), &st.last_name, None, "1d", t.evidence("1d", cfg.burst.baseline_days),
                                format!("{} lookups of {} on {} where {:.1} a day were expected (p = {:.1e})", observed, entry, crate::time::date(d * DAY), t.expected, t.p_value)));
                        }
                    }
                }
            }
            if cfg.concentration.enabled {
                let end = (d + 1) * DAY;
                let start = end - (cfg.concentration.window_days * DAY as f64) as i64;
                while st.window.front().is_some_and(|(t, _)| *t < start) {
                    st.window.pop_front();
                }
                let mut counts: BTreeMap<IpAddr, u64> = BTreeMap::new();
                for (t, ip) in &st.window {
                    if *t < end {
                        *counts.entry(*ip).or_insert(0) += 1;
                    }
                }
                if let Some(a) = concentration(&counts, &cfg.concentration) {
                    if !st.concentrated {
                        let top: Vec<String> = a
                            .top
                            .iter()
                            .map(|(ip, n)| {
                                format!("{ip} {n} ({})", share_pct(*n as f64 / a.n as f64))
                            })
                            .collect();
                        out.push(mk(end, "concentration", Severity::Warning, &st.last_name, a.top.first().map(|t| t.0.to_string()),
                            &format!("{}d", cfg.concentration.window_days), a.evidence.clone(),
                            format!("{} of {} lookups of {} in {} days came from {} querier(s): {} (95% lower bound {})",
                                a.held, a.n, entry, cfg.concentration.window_days, a.k, top.join(", "), share_pct(a.lower))));
                    }
                    st.concentrated = true;
                } else {
                    st.concentrated = false;
                }
            }
        }
        // ---- quiet: evaluated at each hour boundary
        if cfg.quiet.enabled && st.quiet_since.is_none() && (h + 1) * HOUR >= st.quiet_rearm {
            let end = (h + 1) * HOUR;
            let w = (cfg.quiet.window_h * HOUR as f64) as i64;
            let win_start_h = (end - w).div_euclid(HOUR);
            let base_start_h = win_start_h - i64::from(cfg.quiet.baseline_days) * 24;
            if st.first_seen.div_euclid(HOUR) <= base_start_h {
                let observed: u64 = st
                    .hours
                    .range(win_start_h..=h)
                    .map(|(_, c)| u64::from(*c))
                    .sum();
                let base: u64 = st
                    .hours
                    .range(base_start_h..win_start_h)
                    .map(|(_, c)| u64::from(*c))
                    .sum();
                let base_hours = (win_start_h - base_start_h) as f64;
                let expected = base as f64 / base_hours * (h + 1 - win_start_h) as f64;
                if expected >= cfg.quiet.min_expected {
                    let p = stats::poisson_cdf(observed, expected);
                    if p < cfg.quiet.p_value {
                        st.quiet_since = Some(end);
                        out.push(mk(end, "quiet", Severity::Warning, &st.last_name, None, &format!("{}h", cfg.quiet.window_h),
                            json!({"observed": observed, "expected": expected, "p_value": p, "baseline_window": format!("{}d", cfg.quiet.baseline_days), "last_seen": crate::time::rfc3339(st.last_seen)}),
                            format!("{} has gone quiet: {} lookups in the {} hours to {} where {:.1} were expected (p = {:.1e}); last lookup {}",
                                entry, observed, cfg.quiet.window_h, crate::time::rfc3339(end), expected, p, crate::time::rfc3339(st.last_seen))));
                    }
                }
            }
        }
        Some(out)
    }
}

// ------------ tests of counts ----------------------------------------------

/// Result of a burst test.
#[derive(Clone, Debug)]
struct CountTest {
    observed: u64,
    expected: f64,
    p_value: f64,
    dispersion: Option<f64>,
}

impl CountTest {
    fn severity(&self) -> Severity {
        if self.p_value < 1e-12 {
            Severity::Critical
        } else {
            Severity::Warning
        }
    }
    fn evidence(&self, bucket: &str, baseline_days: u32) -> serde_json::Value {
        json!({
            "observed": self.observed,
            "expected": self.expected,
            "p_value": self.p_value,
            "bucket": bucket,
            "baseline_window": format!("{baseline_days}d"),
            "model": if self.dispersion.is_some() { "negative binomial" } else { "poisson" },
            "dispersion": self.dispersion,
        })
    }
}

fn day_totals(hours: &BTreeMap<i64, u32>) -> BTreeMap<i64, u32> {
    let mut d = BTreeMap::new();
    for (h, c) in hours {
        *d.entry(h.div_euclid(24)).or_insert(0) += *c;
    }
    d
}

/// Mean and variance of daily totals over `[from_day, to_day)` (zeros included).
fn daily_moments(days: &BTreeMap<i64, u32>, from_day: i64, to_day: i64) -> Option<(f64, f64)> {
    let n = (to_day - from_day) as f64;
    if n < 2.0 {
        return None;
    }
    let vals: Vec<f64> = (from_day..to_day)
        .map(|d| f64::from(days.get(&d).copied().unwrap_or(0)))
        .collect();
    let mean = vals.iter().sum::<f64>() / n;
    let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Some((mean, var))
}

/// Overdispersion (negative-binomial size) from daily moments, if any.
fn dispersion(mean: f64, var: f64) -> Option<f64> {
    (var > mean * 1.2 && mean > 0.0).then(|| (mean * mean / (var - mean)).max(0.5))
}

/// Hourly burst test: seasonal (time-of-day) Poisson/NB baseline with
/// shrinkage of the hour-of-day rate towards the overall rate.
fn hour_test(
    hours: &BTreeMap<i64, u32>,
    days: &BTreeMap<i64, u32>,
    h: i64,
    observed: u64,
    baseline_days: u32,
    first_seen: i64,
) -> Option<CountTest> {
    let first_h = first_seen.div_euclid(HOUR);
    let base_from = (h - i64::from(baseline_days) * 24).max(first_h);
    let base_hours = (h - base_from) as f64;
    if base_hours < 24.0 {
        return None;
    }
    let total: u64 = hours.range(base_from..h).map(|(_, c)| u64::from(*c)).sum();
    let rate = total as f64 / base_hours;
    // Same hour of day in the baseline days.
    let mut same = 0u64;
    let mut same_n = 0f64;
    let mut k = h - 24;
    while k >= base_from {
        same += u64::from(hours.get(&k).copied().unwrap_or(0));
        same_n += 1.0;
        k -= 24;
    }
    // Shrink the hour-of-day rate towards the overall rate with the weight of 3 days.
    let prior = 3.0;
    let seasonal = (same as f64 + prior * rate) / (same_n + prior);
    // Floor: never below a fraction of one lookup per baseline.
    let expected = seasonal.max(0.5 / base_hours.max(1.0));
    let (from_d, to_d) = (base_from.div_euclid(24), h.div_euclid(24));
    let disp = daily_moments(days, from_d, to_d)
        .and_then(|(m, v)| dispersion(m, v))
        .map(|r| (r / 24.0).max(0.1));
    let p = match disp {
        Some(r) => stats::negbin_sf(observed, expected, r),
        None => stats::poisson_sf(observed, expected),
    };
    Some(CountTest {
        observed,
        expected,
        p_value: p,
        dispersion: disp,
    })
}

/// Daily burst test against the previous days (NB when overdispersed).
fn day_test(
    days: &BTreeMap<i64, u32>,
    d: i64,
    observed: u64,
    baseline_days: u32,
) -> Option<CountTest> {
    let from = d - i64::from(baseline_days);
    let first = days.keys().next().copied()?;
    let from = from.max(first);
    let (mean, var) = daily_moments(days, from, d)?;
    let expected = mean.max(0.5 / (d - from) as f64);
    let disp = dispersion(mean, var);
    let p = match disp {
        Some(r) => stats::negbin_sf(observed, expected, r),
        None => stats::poisson_sf(observed, expected),
    };
    Some(CountTest {
        observed,
        expected,
        p_value: p,
        dispersion: disp,
    })
}

/// A concentration finding.
#[derive(Clone, Debug)]
struct ConcentrationHit {
    n: u64,
    k: usize,
    held: u64,
    lower: f64,
    top: Vec<(IpAddr, u64)>,
    evidence: serde_json::Value,
}

fn concentration(counts: &BTreeMap<IpAddr, u64>, cfg: &Concentration) -> Option<ConcentrationHit> {
    let n: u64 = counts.values().sum();
    if n < cfg.min_lookups || counts.len() < 2 {
        return None;
    }
    let mut top: Vec<(IpAddr, u64)> = counts.iter().map(|(ip, c)| (*ip, *c)).collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (k, threshold) in [(1usize, cfg.top1_share), (2usize, cfg.top2_share)] {
        // Need at least one querier outside the top k for "concentration" to mean anything.
        if top.len() <= k {
            continue;
        }
        let held: u64 = top.iter().take(k).map(|t| t.1).sum();
        let (lower, upper) = stats::wilson_interval(held, n, 1.96);
        if lower >= threshold {
            // One-sided binomial test of the share against the threshold itself.
            let p = stats::binomial_sf(held, n, threshold.min(0.999_999));
            let shares: Vec<serde_json::Value> = top
                .iter()
                .take(5)
                .map(|(ip, c)| json!({"querier": ip.to_string(), "count": c, "share": *c as f64 / n as f64}))
                .collect();
            return Some(ConcentrationHit {
                n,
                k,
                held,
                lower,
                top: top.iter().take(k).copied().collect(),
                evidence: json!({
                    "n": n, "k": k, "held": held, "share": held as f64 / n as f64,
                    "wilson95": [lower, upper], "threshold": threshold, "p_value": p,
                    "distinct_queriers": top.len(), "top": shares,
                }),
            });
        }
    }
    None
}

// ------------ timing -------------------------------------------------------

/// Periodicity of one (entry, querier) series.
#[derive(Clone, Debug, PartialEq)]
pub struct Periodicity {
    /// Lookups used.
    pub n: usize,
    /// Coefficient of variation of inter-arrival gaps (0 periodic, 1 Poisson).
    pub cv: f64,
    /// Burstiness (−1 periodic, 0 Poisson, → 1 bursty).
    pub burstiness: f64,
    /// Best candidate period (s).
    pub period_s: f64,
    /// Mean resultant length at that period (1: all in phase).
    pub r: f64,
    /// Rayleigh p-value, Bonferroni-corrected over the candidates.
    pub p_value: f64,
}

impl Periodicity {
    /// JSON evidence.
    pub fn evidence(&self) -> serde_json::Value {
        json!({"n": self.n, "cv": self.cv, "burstiness": self.burstiness, "period_s": self.period_s,
               "mean_resultant_length": self.r, "p_value": self.p_value})
    }
}

/// A period for people: `250 ms`, `42 s`, `15 min`, `6.0 h`.
fn human_period(secs: f64) -> String {
    if secs < 1.0 {
        format!("{:.0} ms", secs * 1000.0)
    } else if secs < 120.0 {
        format!("{secs:.0} s")
    } else if secs < 7200.0 {
        format!("{:.0} min", secs / 60.0)
    } else {
        format!("{:.1} h", secs / 3600.0)
    }
}

/// Periodicity of sorted timestamps; candidate periods are the median gap,
/// the answer TTL and common scheduler intervals.
pub fn periodicity(ts: &[i64], ttl: Option<u32>) -> Option<Periodicity> {
    let cv = stats::coefficient_of_variation(ts)?;
    let b = stats::burstiness(ts)?;
    let mut cands: Vec<i64> = [60, 300, 600, 900, 1800, 3600, 86_400]
        .iter()
        .map(|s| s * 1_000_000)
        .collect();
    if let Some(m) = stats::median_gap(ts) {
        cands.push(m);
    }
    if let Some(t) = ttl.filter(|t| *t > 0) {
        cands.push(i64::from(t) * 1_000_000);
    }
    cands.sort_unstable();
    cands.dedup();
    cands.retain(|c| *c > 0);
    let (period, r, p) = stats::best_period(ts, &cands)?;
    Some(Periodicity {
        n: ts.len(),
        cv,
        burstiness: b,
        period_s: period as f64 / 1e6,
        r,
        p_value: p,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lk(
        ts: i64,
        querier: &str,
        entry: &str,
        qname: &str,
        rcode: &str,
        answer: Option<&str>,
    ) -> Lookup {
        Lookup {
            ts_us: ts,
            entry: entry.into(),
            also: Vec::new(),
            querier: format!("{querier}:1234").parse().unwrap(),
            server: "192.0.2.53:53".parse().unwrap(),
            transport: "udp".into(),
            qname: qname.into(),
            qtype: "A".into(),
            qclass: "IN".into(),
            opcode: 0,
            flags: "rd ra".into(),
            rcode: Some(rcode.into()),
            answers: answer
                .map(|a| {
                    vec![crate::dns::Answer {
                        name: qname.into(),
                        rtype: "A".into(),
                        ttl: 300,
                        data: a.into(),
                    }]
                })
                .unwrap_or_default(),
            rtt_us: Some(1000),
            ecs: None,
            query_seen: true,
            answered: true,
            source: "t#1".into(),
        }
    }

    #[test]
    fn new_querier_after_learning_and_not_again_after_restart() {
        let mut e = Engine::new(DetectorConfig::default(), &Preload::default());
        e.lookup(&lk(
            0,
            "10.0.0.1",
            "x.com",
            "x.com",
            "NOERROR",
            Some("192.0.2.1"),
        ));
        e.lookup(&lk(
            HOUR,
            "10.0.0.2",
            "x.com",
            "x.com",
            "NOERROR",
            Some("192.0.2.1"),
        ));
        assert!(
            e.take_alerts().iter().all(|a| a.kind != "new_querier"),
            "inside learning period"
        );
        e.lookup(&lk(
            2 * DAY,
            "10.0.0.3",
            "x.com",
            "x.com",
            "NOERROR",
            Some("192.0.2.1"),
        ));
        let a = e.take_alerts();
        assert_eq!(a.iter().filter(|a| a.kind == "new_querier").count(), 1);
        assert_eq!(a[0].querier.as_deref(), Some("10.0.0.3"));
        // restart with what the store knows: no alert for the same querier
        let pre = Preload {
            queriers: vec![
                ("x.com".into(), "10.0.0.1".into(), 0, 0, 1),
                ("x.com".into(), "10.0.0.3".into(), 2 * DAY, 2 * DAY, 1),
            ],
            names: vec![],
        };
        let mut e = Engine::new(DetectorConfig::default(), &pre);
        e.lookup(&lk(
            3 * DAY,
            "10.0.0.3",
            "x.com",
            "x.com",
            "NOERROR",
            Some("192.0.2.1"),
        ));
        assert!(e.take_alerts().iter().all(|a| a.kind != "new_querier"));
    }

    #[test]
    fn rcode_flip_and_back_and_answer_change() {
        let mut e = Engine::new(
            DetectorConfig {
                suppress_s: 0.0,
                ..DetectorConfig::default()
            },
            &Preload::default(),
        );
        e.lookup(&lk(
            0,
            "10.0.0.1",
            "m.com",
            "m.com",
            "NOERROR",
            Some("66.216.133.29"),
        ));
        e.lookup(&lk(10, "10.0.0.1", "m.com", "m.com", "NXDOMAIN", None));
        e.lookup(&lk(
            20,
            "10.0.0.1",
            "m.com",
            "m.com",
            "NOERROR",
            Some("66.216.133.30"),
        ));
        let kinds: Vec<String> = e.take_alerts().into_iter().map(|a| a.kind).collect();
        assert_eq!(kinds, vec!["rcode_change", "rcode_change", "answer_change"]);
    }

    #[test]
    fn suppression_counts_and_carries() {
        let mut e = Engine::new(DetectorConfig::default(), &Preload::default());
        for i in 0..5 {
            let rc = if i % 2 == 0 { "NOERROR" } else { "NXDOMAIN" };
            e.lookup(&lk(
                i * 1000,
                "10.0.0.1",
                "m.com",
                "m.com",
                rc,
                if rc == "NOERROR" {
                    Some("192.0.2.1")
                } else {
                    None
                },
            ));
        }
        let a = e.take_alerts();
        assert_eq!(a.len(), 1, "{a:?}");
        e.lookup(&lk(
            2 * HOUR,
            "10.0.0.1",
            "m.com",
            "m.com",
            "NXDOMAIN",
            None,
        ));
        let a = e.take_alerts();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].suppressed, 3);
    }

    #[test]
    fn periodicity_separates_machine_from_poisson() {
        let periodic: Vec<i64> = (0..15).map(|i| i * 600_000_000 + 7).collect();
        let p = periodicity(&periodic, Some(300)).unwrap();
        assert!(p.cv < 0.01 && p.p_value < 1e-6, "{p:?}");
        // exponential gaps from a fixed LCG
        let mut x: u64 = 42;
        let mut t = 0i64;
        let mut poisson = Vec::new();
        for _ in 0..20 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
            t += (-u.ln() * 600e6) as i64;
            poisson.push(t);
        }
        let q = periodicity(&poisson, Some(300)).unwrap();
        assert!(q.cv > 0.5, "{q:?}");
    }

    #[test]
    fn concentration_needs_sample_size() {
        let cfg = Concentration::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let c: IpAddr = "10.0.0.3".parse().unwrap();
        let small = BTreeMap::from([(a, 5), (b, 4), (c, 1)]);
        assert!(concentration(&small, &cfg).is_none());
        let big = BTreeMap::from([(a, 400), (b, 180), (c, 6)]);
        let hit = concentration(&big, &cfg).unwrap();
        assert_eq!(hit.k, 2);
        assert_eq!(hit.held, 580);
        let spread: BTreeMap<IpAddr, u64> = (1..=20u8)
            .map(|i| (IpAddr::from([10, 0, 0, i]), 10))
            .collect();
        assert!(concentration(&spread, &cfg).is_none());
    }
}
