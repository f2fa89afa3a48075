//! `dnswatch report`: the evidence report for one watched entry.
//!
//! What an analyst argues from: who looked the entry up and how regularly,
//! how the lookups spread over the days, when the detectors found bursts and
//! quiet periods, how the answers and rcodes changed, and which names were
//! seen for it. `--svg` draws the timeline; `--events` overlays dated events
//! and lists those near each burst or quiet period, with a caveat.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::{json, Value};

use super::ExitError;
use crate::cli::{ReportArgs, ReportFormat};
use crate::detect::{periodicity, Periodicity};
use crate::model::Alert;
use crate::model::Lookup;
use crate::store::sqlite::{LookupFilter, SqliteStore};
use crate::time;

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;
/// Days within which an event counts as near a burst or quiet period.
const NEAR_DAYS: i64 = 2;
/// At most this many columns in the SVG (days are aggregated beyond it).
const MAX_COLUMNS: i64 = 2000;
/// Beyond this many days the per-day list holds only the days with lookups.
const MAX_LISTED_DAYS: i64 = 100_000;
/// Queriers drawn in their own colour in the SVG.
const TOP_DRAWN: usize = 4;

/// The sentence that follows every list of coincidences.
pub const CAVEAT: &str = "Coincidence in time is not evidence of cause: check how many events there were to choose from and how many bursts or quiet periods a chance alignment would give.";

// ------------ data -----------------------------------------------------------

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

/// One line of the events file.
#[derive(Debug, Clone)]
struct EventRow {
    ts: i64,
    /// Given as a date without a time (drawn at mid-day).
    date_only: bool,
    label: String,
}

/// A burst day or quiet period with the events near it.
#[derive(Debug)]
struct Coincidence {
    kind: &'static str,
    from_day: i64,
    to_day: i64,
    /// Alerts behind it (bursts of one day are grouped).
    alerts: usize,
    /// (index into the events, offset in days: before start < 0, during 0, after end > 0).
    events: Vec<(usize, i64)>,
}

/// How often a chance alignment is to be expected.
#[derive(Debug)]
struct Chance {
    span_days: i64,
    covered_days: i64,
    burst_days: usize,
    burst_days_near: usize,
}

/// Everything the report shows.
#[derive(Debug)]
struct Report {
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
    events: Option<(String, Vec<EventRow>)>,
    coincidences: Vec<Coincidence>,
    chance: Option<Chance>,
}

impl Report {
    fn span_days(&self) -> Option<(i64, i64)> {
        Some((self.first?.div_euclid(DAY), self.last?.div_euclid(DAY)))
    }
}

// ------------ input ------------------------------------------------------------

/// [`time::parse`], refusing years beyond 99999 (whose microseconds would
/// overflow an i64 inside the parser).
fn parse_when(s: &str) -> Option<i64> {
    let t = s.trim();
    if !t.starts_with('@') {
        let year = t.split('-').next().unwrap_or("");
        if year.len() > 5 {
            return None;
        }
    }
    time::parse(t)
}

fn parse_time(flag: &str, value: &Option<String>) -> Result<Option<i64>, ExitError> {
    match value {
        None => Ok(None),
        Some(v) => parse_when(v).map(Some).ok_or_else(|| {
            ExitError::Usage(format!(
                "{flag} {v:?}: not a time (use RFC 3339, YYYY-MM-DD[ HH:MM[:SS]] in UTC, or @unix-seconds)"
            ))
        }),
    }
}

/// A CSV field, unquoted (`"a ""b"""` → `a "b"`); `None` if a quote is unterminated.
fn csv_unquote(field: &str) -> Option<String> {
    let f = field.trim();
    let Some(inner) = f.strip_prefix('"') else {
        return Some(f.to_string());
    };
    let inner = inner.strip_suffix('"')?;
    // Inside, quotes must come in pairs.
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            if chars.peek() == Some(&'"') {
                chars.next();
            } else {
                return None;
            }
        }
        out.push(c);
    }
    Some(out)
}

/// Parses the events CSV (`date,label` per line; an optional `date,label` header).
fn parse_events(path: &Path, text: &str) -> Result<Vec<EventRow>, ExitError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut seen_line = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let bad = |reason: &str| {
            ExitError::Usage(format!(
                "{}:{}: {reason} (expected `date,label`, e.g. 2016-07-08,Convention)",
                path.display(),
                i + 1
            ))
        };
        let first = !seen_line;
        seen_line = true;
        let Some((date, label)) = line.split_once(',') else {
            return Err(bad("no comma"));
        };
        let date = csv_unquote(date).ok_or_else(|| bad("unterminated quote in the date"))?;
        let label =
            csv_unquote(label).ok_or_else(|| bad("unterminated or stray quote in the label"))?;
        if first && date.eq_ignore_ascii_case("date") && label.trim().eq_ignore_ascii_case("label")
        {
            continue;
        }
        let Some(ts) = parse_when(&date) else {
            return Err(bad(&format!("{date:?} is not a date")));
        };
        let label = label.trim().to_string();
        if label.is_empty() {
            return Err(bad("empty label"));
        }
        let date_only = !date.starts_with('@') && !date.contains(['T', 't', ' ', ':']);
        out.push(EventRow {
            ts,
            date_only,
            label,
        });
    }
    out.sort_by_key(|e| e.ts);
    Ok(out)
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

fn read_lookups(store: &SqliteStore, filter: &LookupFilter) -> Result<Acc, ExitError> {
    let mut acc = Acc::default();
    store
        .lookups(filter, &mut |l| {
            acc.add(l);
            true
        })
        .map_err(|e| ExitError::Runtime(e.to_string()))?;
    Ok(acc)
}

fn in_range(ts: i64, from: Option<i64>, to: Option<i64>) -> bool {
    from.is_none_or(|f| ts >= f) && to.is_none_or(|t| ts < t)
}

fn name_summary(
    store: &SqliteStore,
    entry: &str,
) -> Result<Vec<(String, i64, i64, u64)>, rusqlite::Error> {
    let mut stmt = store.conn().prepare(
        "SELECT qname, first_seen_us, last_seen_us, count FROM name_summary WHERE entry = ?",
    )?;
    let rows = stmt.query_map([entry], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (q, f, l, c) = row?;
        out.push((q, f, l, u64::try_from(c).unwrap_or(0)));
    }
    Ok(out)
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

fn coincidences(r: &Report, events: &[EventRow]) -> (Vec<Coincidence>, Option<Chance>) {
    let ev_days: Vec<i64> = events.iter().map(|e| e.ts.div_euclid(DAY)).collect();
    let near = |from_day: i64, to_day: i64| -> Vec<(usize, i64)> {
        ev_days
            .iter()
            .enumerate()
            .filter_map(|(i, &d)| {
                let off = if d < from_day {
                    d - from_day
                } else if d > to_day {
                    d - to_day
                } else {
                    0
                };
                (off.abs() <= NEAR_DAYS).then_some((i, off))
            })
            .collect()
    };
    let mut out = Vec::new();
    let mut burst_days: BTreeMap<i64, usize> = BTreeMap::new();
    for b in &r.bursts {
        *burst_days.entry(b.ts_us.div_euclid(DAY)).or_insert(0) += 1;
    }
    for (&day, &n) in &burst_days {
        out.push(Coincidence {
            kind: "burst",
            from_day: day,
            to_day: day,
            alerts: n,
            events: near(day, day),
        });
    }
    for q in &r.quiet {
        let from_day = q.alert.ts_us.div_euclid(DAY);
        let to_day = q.end.div_euclid(DAY).max(from_day);
        out.push(Coincidence {
            kind: "quiet",
            from_day,
            to_day,
            alerts: 1 + usize::from(q.resumed.is_some()),
            events: near(from_day, to_day),
        });
    }
    let chance = r.span_days().map(|(lo, hi)| {
        let mut covered = BTreeSet::new();
        for &d in &ev_days {
            let a = (d - NEAR_DAYS).max(lo);
            let b = (d + NEAR_DAYS).min(hi);
            let mut x = a;
            while x <= b {
                covered.insert(x);
                x += 1;
            }
        }
        Chance {
            span_days: hi - lo + 1,
            covered_days: covered.len() as i64,
            burst_days: burst_days.len(),
            burst_days_near: out
                .iter()
                .filter(|c| c.kind == "burst" && !c.events.is_empty())
                .count(),
        }
    });
    (out, chance)
}

fn build(
    entry: &str,
    from: Option<i64>,
    to: Option<i64>,
    store: &SqliteStore,
    events: Option<(String, Vec<EventRow>)>,
) -> Result<Report, ExitError> {
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
    let rt = |e: crate::store::StoreError| ExitError::Runtime(e.to_string());

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
    for (_, a) in store.alerts_after(0).map_err(rt)? {
        if a.entry != entry || !in_range(a.ts_us, from, to) {
            continue;
        }
        match a.kind.as_str() {
            "burst" => bursts.push(a),
            "quiet" => quiet.push(a),
            "resumed" => resumed.push(a),
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
        let rows = name_summary(store, &entry).map_err(|e| ExitError::Runtime(e.to_string()))?;
        for (qname, f, l, c) in rows {
            if from.is_some_and(|v| l < v) || to.is_some_and(|v| f >= v) {
                continue;
            }
            names.insert(
                qname.clone(),
                NameRow {
                    qname,
                    first: f,
                    last: l,
                    count: c,
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
    };
    if let Some((path, evs)) = events {
        let (c, chance) = coincidences(&r, &evs);
        r.coincidences = c;
        r.chance = chance;
        r.events = Some((path, evs));
    }
    Ok(r)
}

// ------------ formatting helpers ------------------------------------------------------

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

fn opt_time(us: Option<i64>) -> Value {
    us.map_or(Value::Null, |v| Value::String(time::rfc3339(v)))
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn num(v: Option<f64>, prec: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.prec$}"),
        _ => "-".to_string(),
    }
}

fn pval(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.1e}"),
        _ => "-".to_string(),
    }
}

fn offset(d: i64) -> String {
    if d == 0 {
        "0d".to_string()
    } else {
        format!("{d:+}d")
    }
}

fn share(count: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        count as f64 / total as f64
    }
}

/// Writes an aligned table indented by two spaces; `right[i]` aligns column i
/// to the right.
fn table(
    out: &mut impl Write,
    head: &[&str],
    right: &[bool],
    rows: &[Vec<String>],
) -> std::io::Result<()> {
    table_at(out, 2, head, right, rows)
}

/// [`table`] indented by `indent` spaces.
fn table_at(
    out: &mut impl Write,
    indent: usize,
    head: &[&str],
    right: &[bool],
    rows: &[Vec<String>],
) -> std::io::Result<()> {
    let mut w: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, c) in row.iter().enumerate() {
            if let Some(x) = w.get_mut(i) {
                *x = (*x).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut s = " ".repeat(indent);
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            let width = w.get(i).copied().unwrap_or(0);
            let pad = " ".repeat(width.saturating_sub(c.chars().count()));
            if right.get(i).copied().unwrap_or(false) {
                s.push_str(&pad);
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&pad);
            }
        }
        s.trim_end().to_string()
    };
    writeln!(out, "{}", line(head.to_vec()))?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
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

fn periodicity_json(p: &Option<Periodicity>) -> Value {
    match p {
        Some(p) => json!({
            "n": p.n,
            "cv": p.cv,
            "burstiness": p.burstiness,
            "period_s": p.period_s,
            "r": p.r,
            "p_value": p.p_value,
        }),
        None => Value::Null,
    }
}

fn evidence_of(a: &Alert, key: &str) -> Value {
    a.evidence.get(key).cloned().unwrap_or(Value::Null)
}

// ------------ JSON --------------------------------------------------------------------

fn to_json(r: &Report) -> Value {
    let span_days = r.span_days().map(|(lo, hi)| hi - lo + 1).unwrap_or(0);
    let queriers: Vec<Value> = r
        .queriers
        .iter()
        .map(|q| {
            json!({
                "querier": q.ip,
                "count": q.count,
                "share": share(q.count, r.total),
                "first_seen": time::rfc3339(q.first),
                "last_seen": time::rfc3339(q.last),
                "periodicity": periodicity_json(&q.period),
            })
        })
        .collect();
    let (days, complete) = per_day(r);
    let per_day: Vec<Value> = days
        .iter()
        .map(|(d, c)| json!({"date": day_date(*d), "count": c}))
        .collect();
    let bursts: Vec<Value> = r
        .bursts
        .iter()
        .map(|a| {
            json!({
                "ts": time::rfc3339(a.ts_us),
                "date": time::date(a.ts_us),
                "window": a.window,
                "querier": a.querier,
                "severity": a.severity.as_str(),
                "observed": evidence_of(a, "observed"),
                "expected": evidence_of(a, "expected"),
                "p_value": evidence_of(a, "p_value"),
                "message": a.message,
            })
        })
        .collect();
    let quiet: Vec<Value> = r
        .quiet
        .iter()
        .map(|q| {
            json!({
                "ts": time::rfc3339(q.alert.ts_us),
                "date": time::date(q.alert.ts_us),
                "last_lookup_before": opt_time(q.last_before),
                "until": time::rfc3339(q.end),
                "resumed": q.resumed.is_some(),
                "hours": q.end.saturating_sub(q.alert.ts_us) as f64 / HOUR as f64,
                "window": q.alert.window,
                "observed": evidence_of(&q.alert, "observed"),
                "expected": evidence_of(&q.alert, "expected"),
                "p_value": evidence_of(&q.alert, "p_value"),
                "message": q.alert.message,
            })
        })
        .collect();
    let resumptions: Vec<Value> = r
        .resumed
        .iter()
        .map(|a| {
            json!({
                "ts": time::rfc3339(a.ts_us),
                "querier": a.querier,
                "gap_s": evidence_of(a, "gap_s"),
                "window": a.window,
                "message": a.message,
            })
        })
        .collect();
    let changes: Vec<Value> = r
        .rcode_changes
        .iter()
        .map(|c| {
            json!({
                "ts": time::rfc3339(c.ts),
                "qname": c.qname,
                "querier": c.querier,
                "from": c.from,
                "to": c.to,
            })
        })
        .collect();
    let answers: Vec<Value> = r
        .answer_history
        .iter()
        .map(|(q, sets)| {
            let sets: Vec<Value> = sets
                .iter()
                .map(|s| {
                    json!({
                        "answers": s.answers,
                        "first_seen": time::rfc3339(s.first),
                        "last_seen": time::rfc3339(s.last),
                        "count": s.count,
                    })
                })
                .collect();
            json!({"qname": q, "sets": sets})
        })
        .collect();
    let names: Vec<Value> = r
        .names
        .iter()
        .map(|n| {
            json!({
                "qname": n.qname,
                "first_seen": time::rfc3339(n.first),
                "last_seen": time::rfc3339(n.last),
                "count": n.count,
                "in_report": n.in_report,
            })
        })
        .collect();
    let mut doc = json!({
        "entry": r.entry,
        "matched_by": r.matched_by,
        "entries": r.entries,
        "from": opt_time(r.from),
        "to": opt_time(r.to),
        "first_seen": opt_time(r.first),
        "last_seen": opt_time(r.last),
        "days": span_days,
        "total": r.total,
        "answered": r.answered,
        "unanswered": r.unanswered,
        "nxdomain": r.nxdomain,
        "rcodes": r.rcodes,
        "queriers": queriers,
        "per_day": per_day,
        "per_day_complete": complete,
        "bursts": bursts,
        "quiet_periods": quiet,
        "resumptions": resumptions,
        "rcode_changes": changes,
        "answer_history": answers,
        "names": names,
        "names_source": r.names_source,
    });
    if let (Some((path, evs)), Some(obj)) = (&r.events, doc.as_object_mut()) {
        let events: Vec<Value> = evs
            .iter()
            .map(|e| json!({"date": time::date(e.ts), "ts": time::rfc3339(e.ts), "label": e.label}))
            .collect();
        let near: Vec<Value> = r
            .coincidences
            .iter()
            .map(|c| {
                let list: Vec<Value> = c
                    .events
                    .iter()
                    .filter_map(|(i, off)| {
                        let e = evs.get(*i)?;
                        Some(
                            json!({"date": time::date(e.ts), "label": e.label, "offset_days": off}),
                        )
                    })
                    .collect();
                json!({
                    "kind": c.kind,
                    "from": day_date(c.from_day),
                    "to": day_date(c.to_day),
                    "alerts": c.alerts,
                    "events": list,
                })
            })
            .collect();
        let chance = r.chance.as_ref().map_or(Value::Null, |c| {
            let s = share(c.covered_days as u64, c.span_days as u64);
            json!({
                "span_days": c.span_days,
                "days_within_2_days_of_an_event": c.covered_days,
                "share": s,
                "burst_days": c.burst_days,
                "burst_days_near_an_event": c.burst_days_near,
                "burst_days_near_an_event_by_chance": s * c.burst_days as f64,
            })
        });
        obj.insert("events_file".into(), path.clone().into());
        obj.insert("events".into(), Value::Array(events));
        obj.insert("coincidences".into(), Value::Array(near));
        obj.insert("chance".into(), chance);
        obj.insert("caveat".into(), CAVEAT.into());
    }
    doc
}

// ------------ text --------------------------------------------------------------------

fn write_text(out: &mut impl Write, r: &Report) -> std::io::Result<()> {
    let range = match (r.from, r.to) {
        (None, None) => String::new(),
        (f, t) => format!(
            " between {} and {}",
            f.map_or("the start".to_string(), short),
            t.map_or("the end".to_string(), short)
        ),
    };
    writeln!(out, "Evidence report: {}", r.entry)?;
    if r.total == 0 {
        writeln!(
            out,
            "No lookups of {} in the database{range} (neither as a watch entry nor as a query name).",
            r.entry
        )?;
        return Ok(());
    }
    let (Some(first), Some(last), Some((lo, hi))) = (r.first, r.last, r.span_days()) else {
        return Ok(());
    };
    let matched = match r.matched_by {
        "entry" => "watch entry".to_string(),
        _ => format!(
            "query name (watch entries: {})",
            r.entries.iter().cloned().collect::<Vec<_>>().join(", ")
        ),
    };
    writeln!(out, "  Matched as:  {matched}")?;
    if !range.is_empty() {
        writeln!(out, "  Range:       {}", range.trim_start())?;
    }
    writeln!(
        out,
        "  Span:        {} .. {} ({} days)",
        short(first),
        short(last),
        hi - lo + 1
    )?;
    writeln!(out, "  Lookups:     {}", r.total)?;
    writeln!(
        out,
        "  Answered:    {}   unanswered: {}   NXDOMAIN: {}",
        r.answered, r.unanswered, r.nxdomain
    )?;

    writeln!(out)?;
    writeln!(out, "Queriers ({})", r.queriers.len())?;
    let rows: Vec<Vec<String>> = r
        .queriers
        .iter()
        .map(|q| {
            let p = q.period.as_ref();
            vec![
                q.ip.clone(),
                q.count.to_string(),
                pct(share(q.count, r.total)),
                short(q.first),
                short(q.last),
                p.map_or("n/a".into(), |p| num(Some(p.cv), 2)),
                p.map_or("n/a".into(), |p| num(Some(p.burstiness), 2)),
                p.map_or("n/a".into(), |p| num(Some(p.period_s), 0)),
                p.map_or("n/a".into(), |p| pval(Some(p.p_value))),
            ]
        })
        .collect();
    table(
        out,
        &[
            "QUERIER",
            "COUNT",
            "SHARE",
            "FIRST SEEN",
            "LAST SEEN",
            "CV",
            "BURSTINESS",
            "PERIOD(s)",
            "P-VALUE",
        ],
        &[false, true, true, false, false, true, true, true, true],
        &rows,
    )?;
    writeln!(
        out,
        "  (CV of gaps: 0 clockwork, 1 random; burstiness -1 periodic .. 1 bursty; p-value of the phase test at the best period; n/a under 3 lookups)"
    )?;

    writeln!(out)?;
    let (days, complete) = per_day(r);
    writeln!(
        out,
        "Lookups per day (UTC{})",
        if complete {
            ""
        } else {
            ", only days with lookups"
        }
    )?;
    let max = days.iter().map(|d| d.1).max().unwrap_or(0).max(1);
    let rows: Vec<Vec<String>> = days
        .iter()
        .map(|(d, c)| {
            let bar = ((*c as f64 / max as f64) * 40.0).round() as usize;
            vec![day_date(*d), c.to_string(), "#".repeat(bar)]
        })
        .collect();
    table(out, &["DATE", "COUNT", ""], &[false, true, false], &rows)?;

    writeln!(out)?;
    writeln!(out, "Bursts ({})", r.bursts.len())?;
    if !r.bursts.is_empty() {
        let rows: Vec<Vec<String>> = r
            .bursts
            .iter()
            .map(|a| {
                vec![
                    short(a.ts_us),
                    a.window.clone(),
                    a.querier.clone().unwrap_or_else(|| "(all)".into()),
                    num(ev_f64(a, "observed"), 0),
                    num(ev_f64(a, "expected"), 2),
                    pval(ev_f64(a, "p_value")),
                ]
            })
            .collect();
        table(
            out,
            &[
                "TIME", "WINDOW", "QUERIER", "OBSERVED", "EXPECTED", "P-VALUE",
            ],
            &[false, false, false, true, true, true],
            &rows,
        )?;
    }

    writeln!(out)?;
    writeln!(out, "Quiet periods ({})", r.quiet.len())?;
    if !r.quiet.is_empty() {
        let rows: Vec<Vec<String>> = r
            .quiet
            .iter()
            .map(|q| {
                vec![
                    short(q.alert.ts_us),
                    q.last_before.map_or("-".into(), short),
                    match &q.resumed {
                        Some(a) => short(a.ts_us),
                        None => format!("(not resumed; data end {})", short(q.end)),
                    },
                    format!(
                        "{:.1}",
                        q.end.saturating_sub(q.alert.ts_us) as f64 / HOUR as f64
                    ),
                    q.alert.window.clone(),
                    num(ev_f64(&q.alert, "observed"), 0),
                    num(ev_f64(&q.alert, "expected"), 1),
                    pval(ev_f64(&q.alert, "p_value")),
                ]
            })
            .collect();
        table(
            out,
            &[
                "QUIET FROM",
                "LAST LOOKUP BEFORE",
                "RESUMED",
                "HOURS",
                "WINDOW",
                "OBSERVED",
                "EXPECTED",
                "P-VALUE",
            ],
            &[false, false, false, true, false, true, true, true],
            &rows,
        )?;
    }
    if !r.resumed.is_empty() {
        writeln!(out)?;
        writeln!(out, "Resumptions ({})", r.resumed.len())?;
        let rows: Vec<Vec<String>> = r
            .resumed
            .iter()
            .map(|a| {
                vec![
                    short(a.ts_us),
                    a.querier.clone().unwrap_or_else(|| "-".into()),
                    ev_i64(a, "gap_s").map_or("-".into(), |g| format!("{:.1}", g as f64 / 3600.0)),
                ]
            })
            .collect();
        table(
            out,
            &["TIME", "FIRST QUERIER", "GAP (h)"],
            &[false, false, true],
            &rows,
        )?;
    }

    writeln!(out)?;
    let counts: Vec<String> = r.rcodes.iter().map(|(k, v)| format!("{k} {v}")).collect();
    writeln!(
        out,
        "Rcodes: {}{}",
        if counts.is_empty() {
            "-".to_string()
        } else {
            counts.join(", ")
        },
        if r.unanswered > 0 {
            format!(", unanswered {}", r.unanswered)
        } else {
            String::new()
        }
    )?;
    writeln!(out, "Rcode changes ({})", r.rcode_changes.len())?;
    if !r.rcode_changes.is_empty() {
        let rows: Vec<Vec<String>> = r
            .rcode_changes
            .iter()
            .map(|c| {
                vec![
                    short(c.ts),
                    c.qname.clone(),
                    format!("{} -> {}", c.from, c.to),
                    c.querier.clone(),
                ]
            })
            .collect();
        table(
            out,
            &["TIME", "QNAME", "CHANGE", "QUERIER"],
            &[false; 4],
            &rows,
        )?;
    }

    writeln!(out)?;
    writeln!(
        out,
        "Answer history ({} name{})",
        r.answer_history.len(),
        if r.answer_history.len() == 1 { "" } else { "s" }
    )?;
    for (qname, sets) in &r.answer_history {
        writeln!(out, "  {qname}")?;
        let rows: Vec<Vec<String>> = sets
            .iter()
            .map(|s| {
                vec![
                    short(s.first),
                    short(s.last),
                    s.count.to_string(),
                    s.answers.join(", "),
                ]
            })
            .collect();
        table_at(
            out,
            4,
            &["FIRST SEEN", "LAST SEEN", "COUNT", "ANSWERS"],
            &[false, false, true, false],
            &rows,
        )?;
    }

    writeln!(out)?;
    writeln!(
        out,
        "Names seen for {} ({}; from {})",
        r.entry,
        r.names.len(),
        if r.names_source == "name_summary" {
            "the name summary, all time"
        } else {
            "the lookups"
        }
    )?;
    let rows: Vec<Vec<String>> = r
        .names
        .iter()
        .map(|n| {
            vec![
                n.qname.clone(),
                short(n.first),
                short(n.last),
                n.count.to_string(),
                n.in_report.to_string(),
            ]
        })
        .collect();
    table(
        out,
        &["QNAME", "FIRST SEEN", "LAST SEEN", "COUNT", "IN REPORT"],
        &[false, false, false, true, true],
        &rows,
    )?;
    if r.matched_by == "name" {
        writeln!(
            out,
            "\n(Bursts and quiet periods are found per watch entry; report on the entry to see them.)"
        )?;
    }

    if let Some((path, evs)) = &r.events {
        writeln!(out)?;
        writeln!(
            out,
            "Events near bursts and quiet periods (within {NEAR_DAYS} days; {} events in {path})",
            evs.len()
        )?;
        if r.coincidences.is_empty() {
            writeln!(out, "  no bursts or quiet periods to compare with")?;
        }
        for c in &r.coincidences {
            let when = if c.from_day == c.to_day {
                day_date(c.from_day)
            } else {
                format!("{} .. {}", day_date(c.from_day), day_date(c.to_day))
            };
            let what = if c.kind == "burst" {
                format!(
                    "burst {when} ({} alert{})",
                    c.alerts,
                    if c.alerts == 1 { "" } else { "s" }
                )
            } else {
                format!("quiet {when}")
            };
            if c.events.is_empty() {
                writeln!(out, "  {what}: no events nearby")?;
                continue;
            }
            writeln!(out, "  {what}:")?;
            for (i, off) in &c.events {
                if let Some(e) = evs.get(*i) {
                    writeln!(
                        out,
                        "    {:<10} {:>4}  {}",
                        time::date(e.ts),
                        offset(*off),
                        e.label
                    )?;
                }
            }
        }
        if let Some(c) = &r.chance {
            let s = share(c.covered_days as u64, c.span_days as u64);
            writeln!(
                out,
                "  {} of the {} days in the span lie within {NEAR_DAYS} days of an event ({}): by chance alone about {:.1} of the {} burst days would have an event nearby; observed: {}.",
                c.covered_days,
                c.span_days,
                pct(s),
                s * c.burst_days as f64,
                c.burst_days,
                c.burst_days_near
            )?;
        }
        writeln!(out, "{CAVEAT}")?;
    }
    Ok(())
}

// ------------ SVG ---------------------------------------------------------------------

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// 1, 2 or 5 times a power of ten, at least `x`.
fn nice_step(x: f64) -> f64 {
    if !(x.is_finite() && x > 0.0) {
        return 1.0;
    }
    let p = 10f64.powf(x.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= x {
            return (m * p).max(1.0);
        }
    }
    (10.0 * p).max(1.0)
}

const COLORS: [&str; TOP_DRAWN] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"];
const OTHER_COLOR: &str = "#b0b0b0";

fn to_svg(r: &Report) -> String {
    let (left, top, plot_w, plot_h) = (70.0_f64, 70.0_f64, 960.0_f64, 300.0_f64);
    let width = left + plot_w + 30.0;
    let height = top + plot_h + 100.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        s,
        r#"<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>"#
    );
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="20" font-size="14" font-weight="bold">Lookups of {} per day (UTC)</text>"#,
        esc(&r.entry)
    );
    let (Some((lo, hi)), Some(data_end)) = (r.span_days(), r.last) else {
        let _ = writeln!(s, r#"<text x="{left}" y="50">No lookups.</text>"#);
        s.push_str("</svg>\n");
        return s;
    };
    let ndays = hi - lo + 1;
    let per_col = ((ndays + MAX_COLUMNS - 1) / MAX_COLUMNS).max(1);
    let ncols = ((ndays + per_col - 1) / per_col).max(1);
    let col_us = per_col.saturating_mul(DAY) as f64;
    let start_us = lo.saturating_mul(DAY);
    let colw = plot_w / ncols as f64;
    let col_of_day = |d: i64| -> usize { ((d - lo) / per_col).clamp(0, ncols - 1) as usize };
    let x_of_ts = |ts: i64| -> f64 {
        let x = left + (ts.saturating_sub(start_us)) as f64 / col_us * colw;
        x.clamp(left, left + plot_w)
    };
    let _ = writeln!(
        s,
        r##"<text x="{left}" y="38" fill="#555">{} .. {}, {} lookups{}</text>"##,
        time::date(r.first.unwrap_or(start_us)),
        time::date(data_end),
        r.total,
        if per_col > 1 {
            format!(", {per_col} days per bar")
        } else {
            String::new()
        }
    );

    // Stacks: the top queriers, then the rest.
    let ncols_u = ncols as usize;
    let mut totals = vec![0u64; ncols_u];
    for (d, c) in &r.days {
        if let Some(t) = totals.get_mut(col_of_day(*d)) {
            *t += *c;
        }
    }
    let top_q: Vec<&QuerierRow> = r.queriers.iter().take(TOP_DRAWN).collect();
    let mut stacks: Vec<Vec<u64>> = Vec::new();
    for q in &top_q {
        let mut v = vec![0u64; ncols_u];
        for t in &q.ts {
            if let Some(x) = v.get_mut(col_of_day(t.div_euclid(DAY))) {
                *x += 1;
            }
        }
        stacks.push(v);
    }
    let max = totals.iter().copied().max().unwrap_or(0).max(1);
    let step = nice_step(max as f64 / 5.0);
    let ymax = ((max as f64 / step).ceil() * step).max(1.0);
    let y_of = |v: f64| top + plot_h - v / ymax * plot_h;

    // Quiet periods (under the bars).
    for q in &r.quiet {
        let x0 = x_of_ts(q.alert.ts_us);
        let x1 = x_of_ts(q.end).max(x0 + 1.0).min(left + plot_w);
        let _ = writeln!(
            s,
            r##"<rect x="{x0:.2}" y="{top}" width="{:.2}" height="{plot_h}" fill="#7f7f7f" fill-opacity="0.22"><title>quiet from {}{}</title></rect>"##,
            (x1 - x0).max(0.5),
            short(q.alert.ts_us),
            match &q.resumed {
                Some(a) => format!(" until {}", short(a.ts_us)),
                None => " (not resumed)".to_string(),
            }
        );
    }

    // Y grid and scale.
    let mut v = 0.0;
    while v <= ymax + 1e-9 {
        let y = y_of(v);
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{y:.2}" x2="{:.2}" y2="{y:.2}" stroke="#e0e0e0"/><text x="{:.2}" y="{:.2}" text-anchor="end">{}</text>"##,
            left + plot_w,
            left - 6.0,
            y + 4.0,
            v
        );
        v += step;
    }

    // Bars.
    let barw = if colw >= 3.0 { colw * 0.8 } else { colw };
    for c in 0..ncols_u {
        let x = left + c as f64 * colw + (colw - barw) / 2.0;
        let mut base = 0u64;
        let date = day_date(lo.saturating_add((c as i64).saturating_mul(per_col)));
        let mut segs: Vec<(u64, &str, String)> = Vec::new();
        for (i, q) in top_q.iter().enumerate() {
            let n = stacks.get(i).and_then(|v| v.get(c)).copied().unwrap_or(0);
            segs.push((
                n,
                COLORS.get(i).copied().unwrap_or(OTHER_COLOR),
                q.ip.clone(),
            ));
        }
        let total = totals.get(c).copied().unwrap_or(0);
        let drawn: u64 = segs.iter().map(|x| x.0).sum();
        segs.push((total.saturating_sub(drawn), OTHER_COLOR, "other".into()));
        for (n, color, who) in segs {
            if n == 0 {
                continue;
            }
            let y1 = y_of(base as f64);
            let y0 = y_of((base + n) as f64);
            let _ = writeln!(
                s,
                r#"<rect x="{x:.2}" y="{y0:.2}" width="{barw:.2}" height="{:.2}" fill="{color}"><title>{date} {}: {n}</title></rect>"#,
                (y1 - y0).max(0.0),
                esc(&who)
            );
            base += n;
        }
    }

    // Bursts: a red marker above the bar of their day (hourly and daily alike).
    let mut burst_cols: BTreeMap<usize, Vec<&Alert>> = BTreeMap::new();
    for b in &r.bursts {
        burst_cols
            .entry(col_of_day(b.ts_us.div_euclid(DAY)))
            .or_default()
            .push(b);
    }
    for (c, alerts) in &burst_cols {
        let cx = left + (*c as f64 + 0.5) * colw;
        let yt = y_of(totals.get(*c).copied().unwrap_or(0) as f64) - 3.0;
        let title: Vec<String> = alerts
            .iter()
            .map(|a| {
                format!(
                    "burst {} {}{}",
                    short(a.ts_us),
                    a.window,
                    a.querier
                        .as_ref()
                        .map_or(String::new(), |q| format!(" {q}"))
                )
            })
            .collect();
        let _ = writeln!(
            s,
            r##"<polygon points="{:.2},{:.2} {:.2},{:.2} {cx:.2},{yt:.2}" fill="#d62728"><title>{}</title></polygon>"##,
            cx - 5.0,
            yt - 9.0,
            cx + 5.0,
            yt - 9.0,
            esc(&title.join("; "))
        );
    }

    // Events: dashed vertical lines with their labels.
    if let Some((_, evs)) = &r.events {
        let end_us = hi.saturating_add(1).saturating_mul(DAY);
        for (i, e) in evs
            .iter()
            .filter(|e| e.ts >= start_us && e.ts < end_us)
            .enumerate()
        {
            let x = x_of_ts(if e.date_only {
                e.ts.saturating_add(DAY / 2)
            } else {
                e.ts
            });
            let ly = top - 4.0 - (i % 3) as f64 * 11.0;
            let _ = writeln!(
                s,
                r##"<line x1="{x:.2}" y1="{:.2}" x2="{x:.2}" y2="{:.2}" stroke="#333" stroke-width="1" stroke-dasharray="4 3"><title>{} {}</title></line><text x="{:.2}" y="{ly:.2}" font-size="10" fill="#333">{}</text>"##,
                ly + 2.0,
                top + plot_h,
                time::date(e.ts),
                esc(&e.label),
                x + 2.0,
                esc(&e.label)
            );
        }
    }

    // Axes and day labels (thinned).
    let base_y = top + plot_h;
    let _ = writeln!(
        s,
        r##"<line x1="{left}" y1="{base_y}" x2="{:.2}" y2="{base_y}" stroke="#000"/><line x1="{left}" y1="{top}" x2="{left}" y2="{base_y}" stroke="#000"/>"##,
        left + plot_w
    );
    let max_labels = 12i64;
    let label_step = ((ncols + max_labels - 1) / max_labels).max(1);
    let mut c = 0i64;
    while c < ncols {
        let x = left + (c as f64 + 0.5) * colw;
        let d = lo.saturating_add(c.saturating_mul(per_col));
        let _ = writeln!(
            s,
            r##"<line x1="{x:.2}" y1="{base_y}" x2="{x:.2}" y2="{:.2}" stroke="#000"/><text x="{x:.2}" y="{:.2}" text-anchor="middle">{}</text>"##,
            base_y + 4.0,
            base_y + 16.0,
            day_date(d)
        );
        c += label_step;
    }
    let _ = writeln!(
        s,
        r#"<text x="16" y="{:.2}" transform="rotate(-90 16 {:.2})" text-anchor="middle">lookups per {}</text>"#,
        top + plot_h / 2.0,
        top + plot_h / 2.0,
        if per_col > 1 {
            format!("{per_col} days")
        } else {
            "day".into()
        }
    );

    // Legend.
    let ly = base_y + 45.0;
    let mut lx = left;
    let mut items: Vec<(String, String)> = top_q
        .iter()
        .enumerate()
        .map(|(i, q)| {
            (
                format!(
                    r#"<rect x="0" y="{:.2}" width="10" height="10" fill="{}"/>"#,
                    ly - 9.0,
                    COLORS.get(i).copied().unwrap_or(OTHER_COLOR)
                ),
                q.ip.clone(),
            )
        })
        .collect();
    if r.queriers.len() > top_q.len() {
        items.push((
            format!(
                r#"<rect x="0" y="{:.2}" width="10" height="10" fill="{OTHER_COLOR}"/>"#,
                ly - 9.0
            ),
            "other".into(),
        ));
    }
    for (shape, label) in items {
        let _ = writeln!(
            s,
            r#"<g transform="translate({lx:.2} 0)">{shape}<text x="14" y="{ly:.2}">{}</text></g>"#,
            esc(&label)
        );
        lx += 24.0 + label.chars().count() as f64 * 6.5;
    }
    let ly2 = ly + 20.0;
    let _ = writeln!(
        s,
        r##"<polygon points="{:.2},{:.2} {:.2},{:.2} {:.2},{ly2:.2}" fill="#d62728"/><text x="{:.2}" y="{ly2:.2}">burst</text>"##,
        left,
        ly2 - 9.0,
        left + 10.0,
        ly2 - 9.0,
        left + 5.0,
        left + 14.0
    );
    let _ = writeln!(
        s,
        r##"<rect x="{:.2}" y="{:.2}" width="14" height="10" fill="#7f7f7f" fill-opacity="0.22"/><text x="{:.2}" y="{ly2:.2}">quiet period (alert to resumption)</text>"##,
        left + 70.0,
        ly2 - 9.0,
        left + 88.0
    );
    if r.events.is_some() {
        let _ = writeln!(
            s,
            r##"<line x1="{:.2}" y1="{:.2}" x2="{:.2}" y2="{ly2:.2}" stroke="#333" stroke-dasharray="4 3"/><text x="{:.2}" y="{ly2:.2}">event</text>"##,
            left + 320.0,
            ly2 - 10.0,
            left + 320.0,
            left + 326.0
        );
    }
    s.push_str("</svg>\n");
    s
}

// ------------ command ------------------------------------------------------------------

pub(super) fn report(args: ReportArgs) -> Result<(), ExitError> {
    // Usage errors first: times and the events file.
    let from = parse_time("--from", &args.from)?;
    let to = parse_time("--to", &args.to)?;
    if let (Some(f), Some(t)) = (from, to) {
        if f >= t {
            return Err(ExitError::Usage(format!(
                "--from {} is not before --to {}",
                time::rfc3339(f),
                time::rfc3339(t)
            )));
        }
    }
    let events = match &args.events {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ExitError::Usage(format!("--events {}: {e}", path.display())))?;
            Some((path.display().to_string(), parse_events(path, &text)?))
        }
    };
    // The fleet: the entry's lookups and the alerts of every sensor, copied
    // into a private SQLite database the report reads as usual.
    let fleet = match &args.fleet.clickhouse {
        Some(_) => Some(super::fleet::materialize(
            &args.fleet,
            &crate::store::sqlite::LookupFilter {
                entry: Some(args.entry.clone()),
                since_us: from,
                until_us: to,
                ..Default::default()
            },
            true,
        )?),
        None => None,
    };
    let db = fleet.as_ref().map_or_else(|| args.db.clone(), |t| t.path());
    let store = SqliteStore::open_read_only(&db).map_err(|e| ExitError::Runtime(e.to_string()))?;
    let r = build(&args.entry, from, to, &store, events)?;

    if let Some(path) = &args.svg {
        std::fs::write(path, to_svg(&r))
            .map_err(|e| ExitError::Runtime(format!("writing {}: {e}", path.display())))?;
    }

    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let res = match args.format {
        ReportFormat::Json => serde_json::to_writer_pretty(&mut out, &to_json(&r))
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out)),
        ReportFormat::Text => write_text(&mut out, &r),
    }
    .and_then(|()| out.flush());
    match res {
        // A closed pipe (`| head`) is a normal way to stop reading.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(ExitError::Runtime(format!("writing output: {e}")))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_csv_forms() {
        let p = Path::new("ev.csv");
        let evs = parse_events(
            p,
            "date,label\n2016-07-08,\"Convention, day 1\"\n\n2016-07-27 12:00,said \"x\"\n",
        )
        .unwrap();
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].label, "Convention, day 1");
        assert_eq!(evs[1].label, "said \"x\"");
        let e = parse_events(p, "2016-07-08,a\nnot a date,b\n").unwrap_err();
        assert_eq!(e.code(), 2);
        assert!(e.message().contains("ev.csv:2"), "{}", e.message());
        assert!(parse_events(p, "2016-07-08\n").is_err());
        assert!(parse_events(p, "2016-07-08,\"open\n").is_err());
        assert!(parse_events(p, "2016-07-08,a\ndate,label\n").is_err());
        assert!(parse_events(p, "300000-01-01,far\n").is_err());
        assert!(parse_when("4294967295-01-01").is_none());
        assert_eq!(parse_when("2016-07-08"), time::parse("2016-07-08"));
    }

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(0.0), 1.0);
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(11.0), 20.0);
        assert_eq!(nice_step(f64::NAN), 1.0);
    }

    #[test]
    fn empty_report_renders() {
        let r = Report {
            entry: "x".into(),
            matched_by: "none",
            from: None,
            to: None,
            total: 0,
            answered: 0,
            unanswered: 0,
            nxdomain: 0,
            rcodes: BTreeMap::new(),
            first: None,
            last: None,
            entries: BTreeSet::new(),
            queriers: Vec::new(),
            days: BTreeMap::new(),
            bursts: Vec::new(),
            quiet: Vec::new(),
            resumed: Vec::new(),
            rcode_changes: Vec::new(),
            answer_history: Vec::new(),
            names: Vec::new(),
            names_source: "lookups",
            events: Some(("e.csv".into(), Vec::new())),
            coincidences: Vec::new(),
            chance: None,
        };
        assert_eq!(to_json(&r)["total"], 0);
        assert!(to_svg(&r).starts_with("<svg"));
        let mut buf = Vec::new();
        write_text(&mut buf, &r).unwrap();
        assert!(String::from_utf8_lossy(&buf).contains("No lookups"));
    }

    #[test]
    fn huge_span_svg_is_capped() {
        let q = QuerierRow {
            ip: "192.0.2.1".into(),
            count: 2,
            first: 0,
            last: 4_000_000 * DAY,
            ts: vec![0, 4_000_000 * DAY],
            ttl: None,
            period: None,
        };
        let mut days = BTreeMap::new();
        days.insert(0, 1);
        days.insert(4_000_000, 1);
        let r = Report {
            entry: "x".into(),
            matched_by: "entry",
            from: None,
            to: None,
            total: 2,
            answered: 0,
            unanswered: 2,
            nxdomain: 0,
            rcodes: BTreeMap::new(),
            first: Some(0),
            last: Some(4_000_000 * DAY),
            entries: BTreeSet::new(),
            queriers: vec![q],
            days,
            bursts: Vec::new(),
            quiet: Vec::new(),
            resumed: Vec::new(),
            rcode_changes: Vec::new(),
            answer_history: Vec::new(),
            names: Vec::new(),
            names_source: "lookups",
            events: None,
            coincidences: Vec::new(),
            chance: None,
        };
        let svg = to_svg(&r);
        assert!(svg.matches("<rect").count() < 2_100);
        let (days, complete) = per_day(&r);
        assert!(!complete);
        assert_eq!(days.len(), 2);
        let mut buf = Vec::new();
        write_text(&mut buf, &r).unwrap();
    }

    fn alert(ts: i64, kind: &str, evidence: Value) -> Alert {
        Alert {
            id: String::new(),
            ts_us: ts,
            kind: kind.into(),
            severity: crate::model::Severity::Warning,
            entry: "x".into(),
            entries: vec!["x".into()],
            name: "x".into(),
            querier: None,
            window: "1h".into(),
            evidence,
            message: String::new(),
            suppressed: 0,
        }
    }

    #[test]
    fn extreme_timestamps_do_not_panic() {
        let ts = [i64::MIN, -1, 0, 1, i64::MAX];
        let mut acc = Acc::default();
        for (k, t) in ts.iter().enumerate() {
            acc.add(Lookup {
                ts_us: *t,
                entry: "x".into(),
                also: Vec::new(),
                querier: "192.0.2.1:53".parse().unwrap(),
                server: "192.0.2.53:53".parse().unwrap(),
                transport: "udp".into(),
                qname: "x".into(),
                qtype: "A".into(),
                qclass: "IN".into(),
                opcode: 0,
                flags: String::new(),
                rcode: Some(if k % 2 == 0 { "NOERROR" } else { "NXDOMAIN" }.into()),
                answers: Vec::new(),
                rtt_us: None,
                ecs: None,
                query_seen: true,
                answered: k != 4,
                source: String::new(),
                sensor: String::new(),
            });
        }
        let mut queriers: Vec<QuerierRow> =
            std::mem::take(&mut acc.queriers).into_values().collect();
        for q in &mut queriers {
            q.period = periodicity(&q.ts, q.ttl);
        }
        let resumed = vec![alert(
            i64::MAX,
            "resumed",
            json!({"quiet_alert_us": i64::MIN}),
        )];
        let quiet = quiet_periods(
            vec![alert(i64::MIN, "quiet", json!({"last_seen": "nonsense"}))],
            &resumed,
            acc.last,
        );
        let mut r = Report {
            entry: "x".into(),
            matched_by: "entry",
            from: None,
            to: None,
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
            bursts: vec![
                alert(i64::MIN, "burst", json!({"observed": "n/a"})),
                alert(i64::MAX, "burst", Value::Null),
            ],
            quiet,
            resumed,
            rcode_changes: acc.rcode_changes,
            answer_history: Vec::new(),
            names: Vec::new(),
            names_source: "lookups",
            events: None,
            coincidences: Vec::new(),
            chance: None,
        };
        let evs = vec![
            EventRow {
                ts: i64::MIN,
                date_only: true,
                label: "<&>".into(),
            },
            EventRow {
                ts: i64::MAX,
                date_only: true,
                label: "end".into(),
            },
        ];
        let (c, chance) = coincidences(&r, &evs);
        assert_eq!(c.len(), 3);
        r.coincidences = c;
        r.chance = chance;
        r.events = Some(("e.csv".into(), evs));
        assert_eq!(to_json(&r)["total"], 5);
        let svg = to_svg(&r);
        assert!(svg.contains("&lt;&amp;&gt;"));
        let mut buf = Vec::new();
        write_text(&mut buf, &r).unwrap();
        assert!(String::from_utf8_lossy(&buf).contains(CAVEAT));
    }
}
