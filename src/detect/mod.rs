//! Detectors: turn the stream of lookups into alerts an on-call person can
//! trust.
//!
//! Input: [`Lookup`]s in (nearly) packet-time order, and the current packet
//! time through [`Engine::advance`]. Output: [`Alert`]s. Packet timestamps are
//! the only clock, so a replay gives the same alerts every time.
//!
//! The [`Engine`] keeps what every detector shares — per watch entry, the
//! hourly [`series::Series`] with its seasonal model, the queriers of the
//! open hours and days — and drives the detectors, each in a file of its own
//! behind the [`Detector`] trait:
//!
//! | detector | file | judges |
//! |---|---|---|
//! | `burst` | `burst.rs` | hours (online) and days above the seasonal model, as episodes |
//! | `quiet` / `resumed` | `quiet.rs` | silences and dips below it, as episodes |
//! | `concentration` | `concentration.rs` | organisations/networks/addresses holding almost all lookups, as a change |
//! | `new_querier` | `newcomer.rs` | a new organisation or network where newcomers are rare |
//! | `new_name` | `newcomer.rs` | a new name on a watched address where new names are rare |
//! | `first_seen` | `mod.rs` | the first lookup ever of a watched entry |
//! | `periodic` | `periodic.rs` | a querier's machine rhythm that is not its cache's TTL |
//! | `rcode_change` | `answers.rs` | a name that starts failing, persistently |
//! | `answer_change` | `answers.rs` | data never seen for a (name, type) that was stable |
//!
//! Detectors return typed [`Finding`]s; the engine turns them into alerts:
//! one alert per event (findings of the same kind about entries that share
//! lookups — a name and its watched address — are merged and carry every
//! entry in `entries`), suppression keyed by kind, entries, name and querier,
//! and a stable `id`.
//!
//! Size: the engine (linking, suppression, preload, the detector loop) is
//! one state machine of about 800 lines; each detector lives in its own file.

pub mod answers;
pub mod bounded;
pub mod burst;
pub mod concentration;
pub mod config;
pub mod newcomer;
pub mod periodic;
pub mod quiet;
pub mod reference;
pub mod series;
pub mod stats;

use std::collections::BTreeMap;
use std::net::IpAddr;

use rustc_hash::{FxHashMap, FxHashSet};

pub use config::DetectorConfig;
pub use periodic::{periodicity, Periodicity};
pub use reference::{Reference, ReferenceError};

use crate::model::{Alert, Lookup, Preload, Severity};
use series::Series;

/// One hour in µs.
pub const HOUR: i64 = 3_600_000_000;
/// One day in µs.
pub const DAY: i64 = 24 * HOUR;

/// What a detector found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// More lookups than the model allows.
    Burst,
    /// Fewer (or none).
    Quiet,
    /// Lookups again after a quiet silence.
    Resumed,
    /// A few groups hold almost all lookups.
    Concentration,
    /// A new organisation or network.
    NewQuerier,
    /// A new name on a watched address.
    NewName,
    /// The first lookup ever of an entry.
    FirstSeen,
    /// A querier with a machine rhythm.
    Periodic,
    /// A name that started failing or recovered.
    RcodeChange,
    /// New data for a stable (name, type).
    AnswerChange,
}

impl Kind {
    /// Every kind, in the order of the README's table.
    pub const ALL: [Kind; 10] = [
        Self::Burst,
        Self::Quiet,
        Self::Resumed,
        Self::Concentration,
        Self::NewQuerier,
        Self::NewName,
        Self::FirstSeen,
        Self::Periodic,
        Self::RcodeChange,
        Self::AnswerChange,
    ];

    /// The name used in alerts and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Burst => "burst",
            Self::Quiet => "quiet",
            Self::Resumed => "resumed",
            Self::Concentration => "concentration",
            Self::NewQuerier => "new_querier",
            Self::NewName => "new_name",
            Self::FirstSeen => "first_seen",
            Self::Periodic => "periodic",
            Self::RcodeChange => "rcode_change",
            Self::AnswerChange => "answer_change",
        }
    }
}

/// A finding of one detector about one entry (or one lookup).
#[derive(Clone, Debug)]
pub struct Finding {
    /// What.
    pub kind: Kind,
    /// How urgent.
    pub severity: Severity,
    /// Packet time at which it was found.
    pub ts_us: i64,
    /// The query name involved.
    pub name: String,
    /// The querier (or querier group) it is about.
    pub querier: Option<String>,
    /// The window the evidence covers.
    pub window: String,
    /// Where that window starts (packet time, µs); it ends at `ts_us`.
    pub window_start_us: i64,
    /// The numbers.
    pub evidence: serde_json::Value,
    /// One readable sentence.
    pub message: String,
    /// Whether `name` belongs in the suppression key (per-name findings:
    /// a second new name must not be swallowed by the first's alert).
    pub per_name: bool,
}

/// What the engine keeps per watch entry, shared by every detector.
#[derive(Debug)]
pub struct EntryModel {
    /// The entry's text.
    pub name: String,
    /// Whether the entry is an address (or network).
    pub is_address: bool,
    /// First lookup (packet time, or from the store).
    pub first_seen: i64,
    /// Last lookup.
    pub last_seen: i64,
    /// Lookups seen.
    pub total: u64,
    /// Hourly counts and the seasonal model.
    pub series: Series,
    /// Most frequent query name of the last hour seen (for alerts about the entry).
    pub last_name: String,
    /// Per-querier counts of the hours not yet closed.
    pub hour_queriers: BTreeMap<i64, FxHashMap<IpAddr, u32>>,
    /// Per-querier counts of the days not yet closed.
    pub day_queriers: BTreeMap<i64, FxHashMap<IpAddr, u32>>,
    /// Per closed day: the largest count of one querier in one hour, and in the day.
    pub querier_max: BTreeMap<i64, (u32, u32)>,
    /// Last hour closed.
    pub closed_hour: i64,
}

impl EntryModel {
    /// The largest one-querier count of an hour and of a day over the
    /// baseline days before `day` (what one ordinary querier can do).
    pub fn querier_max_before(&self, day: i64, days: i64) -> (u32, u32) {
        self.querier_max
            .range(day - days..day)
            .fold((0, 0), |a, (_, m)| (a.0.max(m.0), a.1.max(m.1)))
    }

    /// Distinct queriers and the top querier's count in hour `h` (or day).
    pub fn spread(map: Option<&FxHashMap<IpAddr, u32>>) -> (usize, u32, Option<IpAddr>) {
        let Some(m) = map else {
            return (0, 0, None);
        };
        let top = m
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(ip, c)| (*ip, *c));
        (m.len(), top.map_or(0, |t| t.1), top.map(|t| t.0))
    }
}

/// What a detector sees of one entry.
pub struct Cx<'a> {
    /// Settings.
    pub cfg: &'a DetectorConfig,
    /// Organisations, networks, holidays.
    pub reference: &'a Reference,
    /// Index of the entry.
    pub idx: usize,
    /// The entry's shared state.
    pub entry: &'a mut EntryModel,
    /// Packet time now.
    pub now: i64,
}

/// Something an earlier run learnt, handed to detectors at start.
#[derive(Clone, Debug)]
pub enum Learnt {
    /// A querier of the entry: address, first and last seen, lookups.
    Querier(IpAddr, i64, i64, u64),
    /// A name seen for the (address) entry, first seen.
    Name(String, i64),
}

/// A detector. Each keeps its own state, indexed by entry.
pub trait Detector: std::fmt::Debug + Send {
    /// One lookup touching the entry.
    fn on_lookup(&mut self, _cx: &mut Cx<'_>, _l: &Lookup, _out: &mut Vec<Finding>) {}
    /// An hour of the entry closed (`hour % 24 == 23` closes a day too).
    fn on_hour(&mut self, _cx: &mut Cx<'_>, _hour: i64, _out: &mut Vec<Finding>) {}
    /// What an earlier run learnt about the entry.
    fn learn(&mut self, _cx: &mut Cx<'_>, _what: &Learnt) {}
    /// State evicted by caps since the last call (querier, name).
    fn evictions(&mut self) -> (u64, u64) {
        (0, 0)
    }
}

/// A detector judged once per lookup, whatever entries it touches
/// (properties of the name, not of an entry).
pub trait LookupDetector: std::fmt::Debug + Send {
    /// One answered or unanswered lookup.
    fn on_lookup(&mut self, cfg: &DetectorConfig, l: &Lookup, out: &mut Vec<Finding>);
    /// State evicted by caps since the last call.
    fn evictions(&mut self) -> u64 {
        0
    }
}

/// How long the same querier's rhythm about linked entries is one alert.
const PERIODIC_SUPPRESS: i64 = 7 * DAY;

/// Days of hourly history read back at start: the burst baseline plus the
/// days the refit skips.
pub fn preload_days(cfg: &DetectorConfig) -> i64 {
    i64::from(cfg.burst.baseline_days) + 3
}

/// Counters of the detectors.
#[derive(Clone, Debug, Default)]
pub struct DetectStats {
    /// Alerts raised, by kind.
    pub alerts: BTreeMap<String, u64>,
    /// Alerts suppressed.
    pub suppressed: u64,
    /// Findings merged into another entry's alert (one alert per event).
    pub merged: u64,
    /// Querier states evicted by the per-entry cap.
    pub querier_evictions: u64,
    /// Name states evicted by the caps.
    pub name_evictions: u64,
}

/// Entries that share lookups (a name and its watched address), as a
/// union-find over entry indexes.
#[derive(Debug, Default)]
struct Links {
    parent: Vec<usize>,
}

impl Links {
    fn add(&mut self) {
        let n = self.parent.len();
        self.parent.push(n);
    }
    fn find(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            let p = self.parent[self.parent[i]];
            self.parent[i] = p;
            i = p;
        }
        i
    }
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[hi] = lo;
        }
    }
}

type SuppressKey = (Kind, usize, Option<String>, String);

/// The detectors and their state.
#[derive(Debug)]
pub struct Engine {
    cfg: DetectorConfig,
    reference: Reference,
    index: FxHashMap<String, usize>,
    entries: Vec<EntryModel>,
    detectors: Vec<Box<dyn Detector>>,
    lookup_detectors: Vec<Box<dyn LookupDetector>>,
    links: Links,
    /// Entries an earlier run saw (no `first_seen` for them).
    known: FxHashSet<String>,
    /// Packet time the sensor started watching (first lookup, or the store's).
    sensor_start: i64,
    suppress: FxHashMap<SuppressKey, (i64, u64)>,
    now: i64,
    /// Last hour of preloaded history, until the first lookup of this run.
    history_until: Option<i64>,
    closed_through: i64,
    entries_at_close: usize,
    out: Vec<Alert>,
    /// Scratch of [`Engine::lookup`]: the entries a lookup touched and
    /// their findings (kept for its room).
    touched: Vec<(usize, Vec<Finding>)>,
    /// Counters.
    pub stats: DetectStats,
}

impl Engine {
    /// Detectors with `cfg`, knowing what an earlier run learnt. Reference
    /// files that cannot be read leave the detectors on networks only (the
    /// configuration check reports them before a run).
    pub fn new(cfg: DetectorConfig, preload: &Preload) -> Self {
        let reference = Reference::load(&cfg).unwrap_or_else(|e| {
            tracing::error!("detector reference data not loaded: {e}");
            Reference::networks(cfg.network_prefix_v4, cfg.network_prefix_v6)
        });
        Self::with_reference(cfg, reference, preload)
    }

    /// Detectors with `cfg` and already loaded reference data.
    pub fn with_reference(cfg: DetectorConfig, reference: Reference, preload: &Preload) -> Self {
        let mut e = Self {
            cfg,
            reference,
            index: FxHashMap::default(),
            entries: Vec::new(),
            detectors: vec![
                Box::new(burst::BurstDetector::default()),
                Box::new(quiet::QuietDetector::default()),
                Box::new(concentration::ConcentrationDetector::default()),
                Box::new(newcomer::NewQuerier::default()),
                Box::new(newcomer::NewName::default()),
                Box::new(periodic::PeriodicDetector::default()),
            ],
            lookup_detectors: vec![
                Box::new(answers::RcodeDetector::default()),
                Box::new(answers::AnswerDetector::default()),
            ],
            links: Links::default(),
            known: FxHashSet::default(),
            sensor_start: i64::MAX,
            suppress: FxHashMap::default(),
            now: i64::MIN,
            history_until: None,
            closed_through: i64::MIN,
            entries_at_close: 0,
            out: Vec::new(),
            touched: Vec::new(),
            stats: DetectStats::default(),
        };
        let mut learnt: Vec<(String, i64, Learnt)> = Vec::new();
        for (entry, querier, first, last, count) in &preload.queriers {
            if let Ok(ip) = querier.parse::<IpAddr>() {
                learnt.push((
                    entry.clone(),
                    *first,
                    Learnt::Querier(ip, *first, *last, *count),
                ));
            }
        }
        for (entry, name, first) in &preload.names {
            learnt.push((entry.clone(), *first, Learnt::Name(name.clone(), *first)));
        }
        for (entry, first, what) in learnt {
            e.sensor_start = e.sensor_start.min(first);
            e.known.insert(entry.clone());
            let idx = e.entry_index(&entry, first);
            let m = &mut e.entries[idx];
            m.first_seen = m.first_seen.min(first);
            for d in &mut e.detectors {
                let mut cx = Cx {
                    cfg: &e.cfg,
                    reference: &e.reference,
                    idx,
                    entry: &mut e.entries[idx],
                    now: first,
                };
                d.learn(&mut cx, &what);
            }
        }
        // The recent hourly series: counts only (per-querier state starts
        // afresh), refitted at the last complete day.
        let mut last_hour = i64::MIN;
        for (entry, h, c) in &preload.hours {
            e.known.insert(entry.clone());
            let idx = e.entry_index(entry, h.saturating_mul(HOUR));
            let m = &mut e.entries[idx];
            m.series.late = false;
            m.series.preload(*h, *c);
            m.first_seen = m.first_seen.min(h.saturating_mul(HOUR));
            last_hour = last_hour.max(*h);
        }
        if last_hour > i64::MIN {
            let d = last_hour.div_euclid(24) - 1;
            for m in &mut e.entries {
                if m.series.has_counts() {
                    m.series.refit(d, &e.cfg.burst, &e.reference);
                }
            }
            e.history_until = Some(last_hour);
        }
        // History before this run is not in memory: buckets start afresh.
        for m in &mut e.entries {
            m.closed_hour = i64::MIN;
        }
        e
    }

    /// At the first lookup of a run that preloaded history: hours from this
    /// one on are this run's (a capture replayed again into the same
    /// database must not count twice), and every entry counts as seen now
    /// (the time the sensor was not running is not a silence).
    fn start_live(&mut self, ts: i64) {
        let Some(until) = self.history_until.take() else {
            return;
        };
        let h = ts.div_euclid(HOUR);
        for m in &mut self.entries {
            let dropped = m.series.drop_from(h);
            if dropped || until >= h {
                m.series
                    .refit(h.div_euclid(24) - 1, &self.cfg.burst, &self.reference);
            }
            m.last_seen = m.last_seen.max(ts);
        }
    }

    /// Swaps the settings (SIGHUP); state is kept. Reference files are
    /// read again; if they cannot be, the previous ones stay.
    pub fn set_config(&mut self, cfg: DetectorConfig) {
        match Reference::load(&cfg) {
            Ok(r) => self.reference = r,
            Err(e) => tracing::error!("detector reference data not reloaded: {e}"),
        }
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

    fn entry_index(&mut self, entry: &str, ts: i64) -> usize {
        if let Some(i) = self.index.get(entry) {
            return *i;
        }
        let idx = self.entries.len();
        let is_address = entry != "."
            && crate::watch::Watchlist::new([entry]).is_ok_and(|w| w.watches_addresses());
        // An entry first seen once the sensor has watched for a day has a
        // real empty past: it starts from the population prior.
        let late = ts.saturating_sub(self.sensor_start) >= DAY;
        let mut series = Series::new(ts.div_euclid(HOUR), late);
        if late {
            series.start_prior(self.cfg.burst.prior_per_day);
        }
        self.entries.push(EntryModel {
            name: entry.to_string(),
            is_address,
            first_seen: ts,
            last_seen: ts,
            total: 0,
            series,
            last_name: String::new(),
            hour_queriers: BTreeMap::new(),
            day_queriers: BTreeMap::new(),
            querier_max: BTreeMap::new(),
            closed_hour: ts.div_euclid(HOUR) - 1,
        });
        self.index.insert(entry.to_string(), idx);
        self.links.add();
        idx
    }

    /// Feeds one lookup (to the series of every entry it touches).
    pub fn lookup(&mut self, l: &Lookup) {
        self.start_live(l.ts_us);
        self.advance(l.ts_us);
        let ts = l.ts_us;
        self.sensor_start = self.sensor_start.min(ts);
        let mut touched = std::mem::take(&mut self.touched);
        touched.clear();
        let mut first = None;
        for entry in l.entries() {
            let known_idx = self.index.get(entry).copied();
            let new_entry = known_idx.is_none() && !self.known.contains(entry);
            let idx = match known_idx {
                Some(i) => i,
                None => self.entry_index(entry, ts),
            };
            if let Some(f) = first {
                self.links.union(f, idx);
            } else {
                first = Some(idx);
            }
            let mut findings = Vec::new();
            if new_entry
                && self.cfg.first_seen.enabled
                && ts.saturating_sub(self.sensor_start) as f64
                    >= self.cfg.first_seen.after_h * HOUR as f64
            {
                findings.push(Finding {
                    kind: Kind::FirstSeen,
                    severity: Severity::Warning,
                    ts_us: ts,
                    name: l.qname.clone(),
                    querier: Some(l.querier_ip()),
                    window: "since start".into(),
                    window_start_us: self.sensor_start,
                    evidence: serde_json::json!({
                        "sensor_watching_since": crate::time::rfc3339(self.sensor_start),
                        "qtype": l.qtype, "rcode": l.rcode,
                    }),
                    message: format!(
                        "first lookup of watched {} ever seen (watching since {}): {} asked {} {}",
                        entry,
                        crate::time::rfc3339(self.sensor_start),
                        l.querier.ip(),
                        l.qname,
                        l.qtype
                    ),
                    per_name: false,
                });
            }
            let m = &mut self.entries[idx];
            if m.closed_hour == i64::MIN {
                m.closed_hour = ts.div_euclid(HOUR) - 1;
            }
            m.first_seen = m.first_seen.min(ts);
            m.last_seen = m.last_seen.max(ts);
            m.total += 1;
            if m.last_name != l.qname {
                m.last_name.clone_from(&l.qname);
            }
            let h = ts.div_euclid(HOUR);
            m.series.add(h);
            let qip = l.querier.ip();
            *m.hour_queriers
                .entry(h)
                .or_default()
                .entry(qip)
                .or_insert(0) += 1;
            *m.day_queriers
                .entry(h.div_euclid(24))
                .or_default()
                .entry(qip)
                .or_insert(0) += 1;
            for d in &mut self.detectors {
                let mut cx = Cx {
                    cfg: &self.cfg,
                    reference: &self.reference,
                    idx,
                    entry: &mut self.entries[idx],
                    now: ts,
                };
                d.on_lookup(&mut cx, l, &mut findings);
            }
            touched.push((idx, findings));
        }
        let mut per_lookup = Vec::new();
        for d in &mut self.lookup_detectors {
            d.on_lookup(&self.cfg, l, &mut per_lookup);
        }
        // Needed only for a finding about the lookup itself (rare).
        let all: Vec<usize> = if per_lookup.is_empty() {
            Vec::new()
        } else {
            touched.iter().map(|t| t.0).collect()
        };
        let mut groups: Vec<(Vec<usize>, Finding)> = Vec::new();
        for (idx, findings) in touched.drain(..) {
            for f in findings {
                merge_into(&mut groups, idx, f, &mut self.stats.merged);
            }
        }
        self.touched = touched;
        for f in per_lookup {
            groups.push((all.clone(), f));
        }
        for (entries, f) in groups {
            self.raise(&entries, f);
        }
        self.collect_evictions();
    }

    fn collect_evictions(&mut self) {
        for d in &mut self.detectors {
            let (q, n) = d.evictions();
            self.stats.querier_evictions += q;
            self.stats.name_evictions += n;
        }
        for d in &mut self.lookup_detectors {
            self.stats.name_evictions += d.evictions();
        }
    }

    /// Moves packet time forward to `now`, closing hours that ended more
    /// than the grace period ago.
    pub fn advance(&mut self, now: i64) {
        if now <= self.now {
            return;
        }
        self.now = now;
        let grace = (self.cfg.grace_s * 1e6) as i64;
        let limit_hour = (now - grace).div_euclid(HOUR) - 1;
        if limit_hour <= self.closed_through && self.entries.len() == self.entries_at_close {
            return;
        }
        self.closed_through = limit_hour;
        self.entries_at_close = self.entries.len();
        self.close_all(limit_hour);
    }

    /// End of input: close every hour up to the last lookup's (the last day
    /// is partial and is not judged as a day).
    pub fn finish(&mut self) {
        let end = self.entries.iter().map(|m| m.last_seen).max().unwrap_or(0);
        self.close_all(end.div_euclid(HOUR));
    }

    fn close_all(&mut self, limit_hour: i64) {
        let mut groups: Vec<(Vec<usize>, Finding)> = Vec::new();
        for idx in 0..self.entries.len() {
            let from = self.entries[idx].closed_hour;
            if from == i64::MIN || limit_hour <= from {
                continue;
            }
            // A jump in packet time longer than any baseline only needs its
            // last stretch examined.
            let span = i64::from(self.cfg.burst.baseline_days + 2) * 24;
            let start = (from + 1).max(limit_hour - span);
            for h in start..=limit_hour {
                let mut findings = Vec::new();
                self.close_hour(idx, h, &mut findings);
                for f in findings {
                    let root = self.links.find(idx);
                    // Merge with a finding of the same kind about a linked
                    // entry in the same hour.
                    if let Some(g) = groups.iter_mut().find(|(es, g)| {
                        g.kind == f.kind
                            && g.querier == f.querier
                            && g.ts_us.div_euclid(HOUR) == f.ts_us.div_euclid(HOUR)
                            && es.first().is_some_and(|e| self.links.parent_of(*e) == root)
                    }) {
                        g.0.push(idx);
                        self.stats.merged += 1;
                    } else {
                        groups.push((vec![idx], f));
                    }
                }
            }
            self.entries[idx].closed_hour = limit_hour;
        }
        groups.sort_by_key(|(es, f)| (f.ts_us, es.first().copied()));
        for (entries, f) in groups {
            self.raise(&entries, f);
        }
        self.collect_evictions();
    }

    fn close_hour(&mut self, idx: usize, h: i64, out: &mut Vec<Finding>) {
        let m = &mut self.entries[idx];
        // One querier's largest hour and day, for "what one querier can do".
        let hour_max = m
            .hour_queriers
            .remove(&h)
            .map_or(0, |q| q.values().copied().max().unwrap_or(0));
        let d = h.div_euclid(24);
        let slot = m.querier_max.entry(d).or_insert((0, 0));
        slot.0 = slot.0.max(hour_max);
        // Stale open hours (lookups for hours closed before they arrived).
        while m
            .hour_queriers
            .first_key_value()
            .is_some_and(|(k, _)| *k < h)
        {
            m.hour_queriers.pop_first();
        }
        for det in &mut self.detectors {
            let mut cx = Cx {
                cfg: &self.cfg,
                reference: &self.reference,
                idx,
                entry: &mut self.entries[idx],
                now: (h + 1) * HOUR,
            };
            det.on_hour(&mut cx, h, out);
        }
        if h.rem_euclid(24) == 23 {
            let m = &mut self.entries[idx];
            let day_max = m
                .day_queriers
                .remove(&d)
                .map_or(0, |q| q.values().copied().max().unwrap_or(0));
            let slot = m.querier_max.entry(d).or_insert((0, 0));
            slot.1 = slot.1.max(day_max);
            while m
                .day_queriers
                .first_key_value()
                .is_some_and(|(k, _)| *k < d)
            {
                m.day_queriers.pop_first();
            }
            let keep = d - i64::from(self.cfg.burst.baseline_days) - 2;
            while m
                .querier_max
                .first_key_value()
                .is_some_and(|(k, _)| *k < keep)
            {
                m.querier_max.pop_first();
            }
            m.series.refit(d, &self.cfg.burst, &self.reference);
        }
    }

    fn raise(&mut self, entries: &[usize], f: Finding) {
        let Some(&primary) = entries.first() else {
            return;
        };
        // Name entries first: the alert reads as being about the name.
        let mut names: Vec<&EntryModel> = entries.iter().map(|i| &self.entries[*i]).collect();
        names.sort_by_key(|m| m.is_address);
        names.dedup_by_key(|m| m.name.clone());
        let entry_names: Vec<String> = names.iter().map(|m| m.name.clone()).collect();
        let root = self.links.find(primary);
        let key = (
            f.kind,
            root,
            f.querier.clone(),
            if f.per_name {
                f.name.clone()
            } else {
                String::new()
            },
        );
        let mut interval = (self.cfg.suppress_s * 1e6) as i64;
        if f.kind == Kind::Periodic {
            // One alert per rhythm: linked entries (a name and its watched
            // address) judge the same querier's lookups at different times
            // and would each report it.
            interval = interval.max(PERIODIC_SUPPRESS);
        }
        let slot = self.suppress.entry(key).or_insert((i64::MIN, 0));
        if slot.0 != i64::MIN && f.ts_us.saturating_sub(slot.0) < interval {
            slot.1 += 1;
            self.stats.suppressed += 1;
            return;
        }
        let suppressed = slot.1;
        *slot = (f.ts_us, 0);
        *self
            .stats
            .alerts
            .entry(f.kind.as_str().to_string())
            .or_insert(0) += 1;
        let mut alert = Alert {
            id: String::new(),
            ts_us: f.ts_us,
            kind: f.kind.as_str().to_string(),
            severity: f.severity,
            entry: entry_names.first().cloned().unwrap_or_default(),
            entries: entry_names,
            name: f.name,
            querier: f.querier,
            window: f.window,
            window_start_us: Some(f.window_start_us.min(f.ts_us)),
            sensor: String::new(),
            evidence: f.evidence,
            message: f.message,
            suppressed,
        };
        alert.seal();
        self.out.push(alert);
    }
}

impl Links {
    fn parent_of(&self, mut i: usize) -> usize {
        while self.parent[i] != i {
            i = self.parent[i];
        }
        i
    }
}

/// Adds a lookup-time finding of entry `idx`, merged with one of the same
/// kind and querier from another entry of the same lookup.
fn merge_into(groups: &mut Vec<(Vec<usize>, Finding)>, idx: usize, f: Finding, merged: &mut u64) {
    if let Some(g) = groups
        .iter_mut()
        .find(|(_, g)| g.kind == f.kind && g.querier == f.querier)
    {
        g.0.push(idx);
        *merged += 1;
    } else {
        groups.push((vec![idx], f));
    }
}

/// `12.5%`.
pub(crate) fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// Removes the least recently used tenth of `map` when it holds more than
/// `cap` (amortised: one sort per `cap / 10` insertions). Returns how many
/// were removed.
pub(crate) fn evict_lru<K: Clone + Ord + std::hash::Hash + Eq, V>(
    map: &mut FxHashMap<K, V>,
    cap: usize,
    last_used: impl Fn(&V) -> i64,
) -> u64 {
    if map.len() <= cap {
        return 0;
    }
    let drop = (map.len() - cap).max(cap / 10).max(1);
    let mut ages: Vec<(i64, K)> = map.iter().map(|(k, v)| (last_used(v), k.clone())).collect();
    ages.sort();
    for (_, k) in ages.iter().take(drop) {
        map.remove(k);
    }
    drop as u64
}

#[cfg(test)]
mod tests;
