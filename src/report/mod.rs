//! The evidence report for one watched entry.
//!
//! What an analyst argues from: who looked the entry up and how regularly,
//! how the lookups spread over the days, when the detectors found bursts and
//! quiet periods, how the answers and rcodes changed, and which names were
//! seen for it. [`svg::to_svg`] draws the timeline; an [`Events`] file
//! overlays dated events and lists those near each burst or quiet period,
//! with a caveat.
//!
//! [`build`] reads the store through its typed query API into a [`Report`];
//! [`text`], [`json`] and [`svg`] render it. The `dnswatch report` command
//! (`app::report`) is a thin wrapper that maps [`ReportError`] to an exit
//! status.

pub mod events;
pub mod json;
pub mod svg;
#[cfg(test)]
mod tests;
pub mod text;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;
use thiserror::Error;

use crate::detect::{periodicity, Periodicity};
use crate::model::Alert;
use crate::model::Lookup;
use crate::store::sqlite::{LookupFilter, SqliteStore};
use crate::store::StoreError;
use crate::time;

pub use events::Events;
use events::{coincidences, Chance, Coincidence};

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;
/// Lookups spanning less than this are charted per hour.
const HOURLY_SPAN: i64 = 3 * DAY;
/// Beyond this many days the per-day list holds only the days with lookups.
const MAX_LISTED_DAYS: i64 = 100_000;

/// The sentence that follows every list of coincidences.
pub const CAVEAT: &str = "Coincidence in time is not evidence of cause: check how many events there were to choose from and how many bursts or quiet periods a chance alignment would give.";

/// Why a report could not be made or written.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReportError {
    /// Reading the database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The events file could not be read.
    #[error("{}: {source}", path.display())]
    ReadEvents {
        /// The events file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A line of the events file is not `date,label`.
    #[error("{}:{line}: {reason} (expected `date,label`, e.g. 2016-07-08,Convention)", path.display())]
    Events {
        /// The events file.
        path: PathBuf,
        /// Line number (from 1).
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The SVG file could not be written.
    #[error("writing {}: {source}", path.display())]
    WriteSvg {
        /// The SVG file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

impl ReportError {
    /// True when the input given was at fault (the events file), not the
    /// database or the output.
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::ReadEvents { .. } | Self::Events { .. })
    }
}

/// One querier of the entry.
#[derive(Debug)]
struct QuerierRow {
    ip: String,
    count: u64,
    first: i64,
    last: i64,
    ts: Vec<i64>,
    ttl: Option<u32>,
    period: Option<Periodicity>,
}

/// A quiet alert and what ended it.
#[derive(Debug)]
struct QuietPeriod {
    alert: Alert,
    last_before: Option<i64>,
    resumed: Option<Alert>,
    /// End of the shaded span: the resumption, else the end of the data.
    end: i64,
}

/// An rcode change point of one name.
#[derive(Debug)]
struct RcodeChange {
    ts: i64,
    qname: String,
    querier: String,
    from: String,
    to: String,
}

/// What a chart marker marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MarkerKind {
    /// A name's rcode changed to or from NXDOMAIN.
    NxdomainFlip,
    /// A name newly seen for the entry.
    NewName,
}

impl MarkerKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::NxdomainFlip => "nxdomain_flip",
            Self::NewName => "new_name",
        }
    }
}

/// A marker on the timeline.
#[derive(Clone, Debug)]
struct Marker {
    ts: i64,
    kind: MarkerKind,
    label: String,
}

/// One distinct answer set of a name.
#[derive(Debug)]
struct AnswerSet {
    answers: Vec<String>,
    first: i64,
    last: i64,
    count: u64,
}

/// A name seen for the entry.
#[derive(Debug)]
struct NameRow {
    qname: String,
    first: i64,
    last: i64,
    count: u64,
    in_report: u64,
}

/// Everything the report shows (see [`build`]).
#[derive(Debug)]
pub struct Report {
    entry: String,
    matched_by: &'static str,
    from: Option<i64>,
    to: Option<i64>,
    total: u64,
    answered: u64,
    unanswered: u64,
    nxdomain: u64,
    rcodes: BTreeMap<String, u64>,
    first: Option<i64>,
    last: Option<i64>,
    entries: BTreeSet<String>,
    queriers: Vec<QuerierRow>,
    days: BTreeMap<i64, u64>,
    bursts: Vec<Alert>,
    quiet: Vec<QuietPeriod>,
    resumed: Vec<Alert>,
    rcode_changes: Vec<RcodeChange>,
    answer_history: Vec<(String, Vec<AnswerSet>)>,
    names: Vec<NameRow>,
    names_source: &'static str,
    events: Option<Events>,
    coincidences: Vec<Coincidence>,
    chance: Option<Chance>,
    /// `new_name` alerts of the entry in the range (chart markers).
    new_names: Vec<Alert>,
    /// What pruning deleted, when the report is empty and its range
    /// reaches into the pruned time.
    pruned: Option<crate::store::sqlite::Pruned>,
}

impl Report {
    /// `lookups before T were pruned on W (N lookups deleted by pruning)`,
    /// when an empty report reaches into pruned time.
    fn pruned_note(&self) -> Option<String> {
        self.pruned.map(|p| {
            format!(
                "lookups before {} were pruned (last prune at {}; {} lookups deleted by pruning)",
                short(p.before_us),
                short(p.at_us),
                p.lookups
            )
        })
    }

    /// Whether the timeline is binned by hour: lookups spanning less than
    /// [`HOURLY_SPAN`] (else by day).
    fn hourly(&self) -> bool {
        matches!((self.first, self.last), (Some(f), Some(l)) if l.saturating_sub(f) < HOURLY_SPAN)
    }

    /// Lookups per hour over the span, zeros included (hour numbers since
    /// the epoch); empty unless [`Self::hourly`].
    fn per_hour(&self) -> Vec<(i64, u64)> {
        let (Some(f), Some(l)) = (self.first, self.last) else {
            return Vec::new();
        };
        if !self.hourly() {
            return Vec::new();
        }
        let (lo, hi) = (f.div_euclid(HOUR), l.div_euclid(HOUR));
        let mut counts = vec![0u64; usize::try_from(hi - lo + 1).unwrap_or(0)];
        for q in &self.queriers {
            for t in &q.ts {
                if let Some(c) = usize::try_from(t.div_euclid(HOUR) - lo)
                    .ok()
                    .and_then(|i| counts.get_mut(i))
                {
                    *c += 1;
                }
            }
        }
        (lo..=hi).zip(counts).collect()
    }

    /// Chart markers: NXDOMAIN flips (an rcode change to or from NXDOMAIN)
    /// and new names (`new_name` alerts), oldest first.
    fn markers(&self) -> Vec<Marker> {
        let mut m: Vec<Marker> = self
            .rcode_changes
            .iter()
            .filter(|c| c.from == "NXDOMAIN" || c.to == "NXDOMAIN")
            .map(|c| Marker {
                ts: c.ts,
                kind: MarkerKind::NxdomainFlip,
                label: format!("{} {} -> {}", c.qname, c.from, c.to),
            })
            .collect();
        m.extend(self.new_names.iter().map(|a| Marker {
            ts: a.ts_us,
            kind: MarkerKind::NewName,
            label: format!("new name {}", a.name),
        }));
        m.sort_by(|a, b| a.ts.cmp(&b.ts).then_with(|| a.label.cmp(&b.label)));
        m
    }

    fn span_days(&self) -> Option<(i64, i64)> {
        Some((self.first?.div_euclid(DAY), self.last?.div_euclid(DAY)))
    }
}

/// [`time::parse`], refusing years beyond 99999 (whose microseconds would
/// overflow an i64 inside the parser).
pub fn parse_when(s: &str) -> Option<i64> {
    let t = s.trim();
    if !t.starts_with('@') {
        let year = t.split('-').next().unwrap_or("");
        if year.len() > 5 {
            return None;
        }
    }
    time::parse(t)
}

/// Accumulates the lookups of the report.
#[derive(Debug, Default)]
struct Acc {
    total: u64,
    answered: u64,
    unanswered: u64,
    nxdomain: u64,
    rcodes: BTreeMap<String, u64>,
    first: Option<i64>,
    last: Option<i64>,
    entries: BTreeSet<String>,
    queriers: BTreeMap<String, QuerierRow>,
    days: BTreeMap<i64, u64>,
    last_rcode: BTreeMap<String, String>,
    rcode_changes: Vec<RcodeChange>,
    answers: BTreeMap<String, BTreeMap<Vec<String>, AnswerSet>>,
    names: BTreeMap<String, (i64, i64, u64)>,
}

impl Acc {
    fn add(&mut self, l: Lookup) {
        let ts = l.ts_us;
        self.total += 1;
        self.first = Some(self.first.map_or(ts, |f| f.min(ts)));
        self.last = Some(self.last.map_or(ts, |v| v.max(ts)));
        for e in l.entries() {
            if !self.entries.contains(e) {
                self.entries.insert(e.to_string());
            }
        }
        *self.days.entry(ts.div_euclid(DAY)).or_insert(0) += 1;
        let ip = l.querier_ip();
        let q = self
            .queriers
            .entry(ip.clone())
            .or_insert_with(|| QuerierRow {
                ip: ip.clone(),
                count: 0,
                first: ts,
                last: ts,
                ts: Vec::new(),
                ttl: None,
                period: None,
            });
        q.count += 1;
        q.first = q.first.min(ts);
        q.last = q.last.max(ts);
        q.ts.push(ts);
        if let Some(a) = l.answers.first() {
            q.ttl = Some(a.ttl);
        }
        let n = self.names.entry(l.qname.clone()).or_insert((ts, ts, 0));
        n.0 = n.0.min(ts);
        n.1 = n.1.max(ts);
        n.2 += 1;
        if !l.answered {
            self.unanswered += 1;
            return;
        }
        self.answered += 1;
        let rcode = l.rcode.clone().unwrap_or_else(|| "?".to_string());
        if rcode == "NXDOMAIN" {
            self.nxdomain += 1;
        }
        *self.rcodes.entry(rcode.clone()).or_insert(0) += 1;
        match self.last_rcode.get_mut(&l.qname) {
            Some(prev) if *prev != rcode => {
                self.rcode_changes.push(RcodeChange {
                    ts,
                    qname: l.qname.clone(),
                    querier: ip,
                    from: std::mem::replace(prev, rcode.clone()),
                    to: rcode.clone(),
                });
            }
            Some(_) => {}
            None => {
                self.last_rcode.insert(l.qname.clone(), rcode.clone());
            }
        }
        if rcode == "NOERROR" && !l.answers.is_empty() {
            let mut set: Vec<String> = l
                .answers
                .iter()
                .map(|a| format!("{} {}", a.rtype, a.data))
                .collect();
            set.sort();
            set.dedup();
            let sets = self.answers.entry(l.qname).or_default();
            let s = sets.entry(set).or_insert_with_key(|k| AnswerSet {
                answers: k.clone(),
                first: ts,
                last: ts,
                count: 0,
            });
            s.first = s.first.min(ts);
            s.last = s.last.max(ts);
            s.count += 1;
        }
    }
}

fn read_lookups(store: &SqliteStore, filter: &LookupFilter) -> Result<Acc, StoreError> {
    let mut acc = Acc::default();
    store.lookups(filter, &mut |l| {
        acc.add(l);
        true
    })?;
    Ok(acc)
}

fn in_range(ts: i64, from: Option<i64>, to: Option<i64>) -> bool {
    from.is_none_or(|f| ts >= f) && to.is_none_or(|t| ts < t)
}

fn ev_f64(a: &Alert, key: &str) -> Option<f64> {
    a.evidence.get(key).and_then(Value::as_f64)
}

fn ev_i64(a: &Alert, key: &str) -> Option<i64> {
    a.evidence.get(key).and_then(Value::as_i64)
}

/// Pairs quiet alerts with the resumed alerts that ended them.
fn quiet_periods(quiet: Vec<Alert>, resumed: &[Alert], data_end: Option<i64>) -> Vec<QuietPeriod> {
    let mut used = vec![false; resumed.len()];
    let mut out = Vec::new();
    for q in quiet {
        // The resumption naming this quiet alert, else the next one after it.
        let by_ref = resumed
            .iter()
            .enumerate()
            .position(|(i, r)| !used[i] && ev_i64(r, "quiet_alert_us") == Some(q.ts_us));
        let idx = by_ref.or_else(|| {
            resumed
                .iter()
                .enumerate()
                .position(|(i, r)| !used[i] && r.ts_us >= q.ts_us)
        });
        let r = idx.and_then(|i| {
            let slot = used.get_mut(i)?;
            *slot = true;
            resumed.get(i).cloned()
        });
        let last_before = q
            .evidence
            .get("last_seen")
            .and_then(Value::as_str)
            .and_then(time::parse);
        let end = match &r {
            Some(r) => r.ts_us.max(q.ts_us),
            None => data_end.map_or(q.ts_us, |e| e.max(q.ts_us)),
        };
        out.push(QuietPeriod {
            alert: q,
            last_before,
            resumed: r,
            end,
        });
    }
    out
}

/// Builds the report on `entry` (a watch entry, else a query name) over the
/// lookups in `from .. to` (µs; open ends when `None`), with the events near
/// bursts and quiet periods when an events file is given.
pub fn build(
    entry: &str,
    from: Option<i64>,
    to: Option<i64>,
    store: &SqliteStore,
    events: Option<Events>,
) -> Result<Report, ReportError> {
    let entry = entry.trim().to_string();
    let mut filter = LookupFilter {
        entry: Some(entry.clone()),
        since_us: from,
        until_us: to,
        ..LookupFilter::default()
    };
    let mut acc = read_lookups(store, &filter)?;
    let mut matched_by = "entry";
    if acc.total == 0 {
        filter.entry = None;
        filter.name = Some(entry.clone());
        acc = read_lookups(store, &filter)?;
        matched_by = if acc.total == 0 { "none" } else { "name" };
    }

    // Queriers: count desc, then address; periodicity over all their lookups.
    let mut queriers: Vec<QuerierRow> = std::mem::take(&mut acc.queriers).into_values().collect();
    for q in &mut queriers {
        q.period = periodicity(&q.ts, q.ttl);
    }
    queriers.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.ip.cmp(&b.ip)));

    // Alerts of this entry in the range.
    let mut bursts = Vec::new();
    let mut quiet = Vec::new();
    let mut resumed = Vec::new();
    let mut new_names = Vec::new();
    for (_, a) in store.alerts_after(0)? {
        if a.entry != entry || !in_range(a.ts_us, from, to) {
            continue;
        }
        match a.kind.as_str() {
            "burst" => bursts.push(a),
            "quiet" => quiet.push(a),
            "resumed" => resumed.push(a),
            "new_name" => new_names.push(a),
            _ => {}
        }
    }
    bursts.sort_by_key(|a| a.ts_us);
    quiet.sort_by_key(|a| a.ts_us);
    resumed.sort_by_key(|a| a.ts_us);
    let quiet = quiet_periods(quiet, &resumed, acc.last);

    // Names: the summary of the entry (all time, kept through pruning)
    // overlapping the range, plus names seen in the lookups.
    let mut names: BTreeMap<String, NameRow> = BTreeMap::new();
    let names_source = if matched_by == "entry" {
        for n in store.name_summary(&entry)? {
            if from.is_some_and(|v| n.last_seen_us < v) || to.is_some_and(|v| n.first_seen_us >= v)
            {
                continue;
            }
            names.insert(
                n.qname.clone(),
                NameRow {
                    qname: n.qname,
                    first: n.first_seen_us,
                    last: n.last_seen_us,
                    count: n.count,
                    in_report: 0,
                },
            );
        }
        "name_summary"
    } else {
        "lookups"
    };
    for (qname, (f, l, c)) in std::mem::take(&mut acc.names) {
        let row = names.entry(qname.clone()).or_insert(NameRow {
            qname,
            first: f,
            last: l,
            count: c,
            in_report: 0,
        });
        row.in_report = c;
    }
    let mut names: Vec<NameRow> = names.into_values().collect();
    names.sort_by(|a, b| a.first.cmp(&b.first).then_with(|| a.qname.cmp(&b.qname)));

    let mut answer_history: Vec<(String, Vec<AnswerSet>)> = std::mem::take(&mut acc.answers)
        .into_iter()
        .map(|(q, sets)| {
            let mut v: Vec<AnswerSet> = sets.into_values().collect();
            v.sort_by(|a, b| {
                a.first
                    .cmp(&b.first)
                    .then_with(|| a.answers.cmp(&b.answers))
            });
            (q, v)
        })
        .collect();
    answer_history.sort_by(|a, b| {
        let fa = a.1.first().map(|s| s.first);
        let fb = b.1.first().map(|s| s.first);
        fa.cmp(&fb).then_with(|| a.0.cmp(&b.0))
    });

    let mut r = Report {
        entry,
        matched_by,
        from,
        to,
        total: acc.total,
        answered: acc.answered,
        unanswered: acc.unanswered,
        nxdomain: acc.nxdomain,
        rcodes: acc.rcodes,
        first: acc.first,
        last: acc.last,
        entries: acc.entries,
        queriers,
        days: acc.days,
        bursts,
        quiet,
        resumed,
        rcode_changes: acc.rcode_changes,
        answer_history,
        names,
        names_source,
        events: None,
        coincidences: Vec::new(),
        chance: None,
        new_names,
        pruned: None,
    };
    // An empty report over a range that reaches into pruned time says so.
    if r.total == 0 {
        r.pruned = store
            .pruned()?
            .filter(|p| from.is_none_or(|f| f < p.before_us));
    }
    if let Some(evs) = events {
        let (c, chance) = coincidences(&r, &evs.rows);
        r.coincidences = c;
        r.chance = chance;
        r.events = Some(evs);
    }
    Ok(r)
}

// ------------ shared formatting helpers ----------------------------------------------

/// `2016-05-04T13:22:01Z` (seconds are enough for people).
fn short(us: i64) -> String {
    let s = time::rfc3339(us);
    match s.find('.') {
        Some(i) => format!("{}Z", &s[..i]),
        None => s,
    }
}

/// `2016-05-04` of a day number (days since the epoch).
fn day_date(day: i64) -> String {
    let (y, m, d) = time::civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

fn share(count: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        count as f64 / total as f64
    }
}

/// Every day of the span with its count (zeros included), or only the days
/// with lookups when the span is absurdly long.
fn per_day(r: &Report) -> (Vec<(i64, u64)>, bool) {
    let Some((lo, hi)) = r.span_days() else {
        return (Vec::new(), true);
    };
    if hi - lo >= MAX_LISTED_DAYS {
        return (r.days.iter().map(|(d, c)| (*d, *c)).collect(), false);
    }
    let v = (lo..=hi)
        .map(|d| (d, r.days.get(&d).copied().unwrap_or(0)))
        .collect();
    (v, true)
}
