//! `periodic`: a querier that looks an entry up on a machine's rhythm.
//!
//! Judged per (entry, querier) on the last `max_events` lookups, after
//! merging lookups closer than `merge_s` into one event (a stub asking A and
//! AAAA together is one event, not two with bimodal gaps).
//!
//! The test is **epoch folding with a sharp phase window**: for each
//! candidate period `P` (common scheduler intervals from 10 s to a day, the
//! median gap, and the most frequent gaps at lags 1–4, which find a beacon
//! among other lookups), every event's phase `t mod P` is taken and the
//! window of width `w = max(4 s, 1% of P)` holding the most events is found.
//! Under no rhythm the phases are uniform, so that count is binomial with
//! `p = w/P`; its tail, corrected for the `P/w` window positions and the
//! number of candidates, is the p-value. Human lookups, even with a daily
//! rhythm, spread over hours, so a 6-hour beacon mixed into a resolver's
//! other lookups of the name still stands out. The rhythm must also fill at
//! least `min_occupancy` of the cycles it spans (a few coincidences are not
//! a schedule).
//!
//! **Caches are explained away**: a resolver re-asking when the answer's TTL
//! runs out is periodic by construction, so a period between 0.9 × TTL and
//! 1.5 × TTL + 60 s (the TTL of the querier's latest answers) is not
//! reported. Nothing faster than `min_period_s` is periodic; periods are
//! given in human units.

use std::collections::VecDeque;
use std::net::IpAddr;

use rustc_hash::FxHashMap;
use serde_json::json;

use super::config::Periodic;
use super::{evict_lru, stats, Cx, Detector, Finding, Kind};
use crate::model::Lookup;
use crate::model::Severity;

/// Scheduler intervals tried on every series (seconds).
const STANDARD: [i64; 21] = [
    10, 15, 20, 30, 60, 120, 180, 300, 600, 900, 1200, 1800, 2700, 3600, 7200, 10_800, 14_400,
    21_600, 28_800, 43_200, 86_400,
];

/// A rhythm found in a series of event times.
#[derive(Clone, Debug, PartialEq)]
pub struct Rhythm {
    /// Period (s).
    pub period_s: f64,
    /// Events in the phase window.
    pub in_phase: usize,
    /// Events judged.
    pub n: usize,
    /// Phase window width (s).
    pub window_s: f64,
    /// Fraction of the cycles of the best run of in-phase events holding one.
    pub occupancy: f64,
    /// Corrected p-value.
    pub p_value: f64,
    /// Candidates tried.
    pub candidates: usize,
    /// The most common number of events between consecutive in-phase
    /// events, when at least 80% of those distances are multiples of it
    /// (else 0): a stride of 6 at period `P`
    /// is the series' own gap regularity (`P/6`) seen six times over, not a
    /// rhythm of its own.
    pub stride: usize,
}

/// Candidate periods (µs) for sorted event times.
fn candidates(ts: &[i64], min_period_us: i64) -> Vec<i64> {
    let mut c: Vec<i64> = STANDARD.iter().map(|s| s * 1_000_000).collect();
    if let Some(m) = stats::median_gap(ts) {
        c.push(m);
    }
    // The most frequent gaps at lags 1..=4, in 0.5% log bins.
    let mut bins: FxHashMap<i64, (u32, i64)> = FxHashMap::default();
    for lag in 1..=4usize {
        for w in ts.windows(lag + 1) {
            let d = w[lag] - w[0];
            if d < min_period_us {
                continue;
            }
            let b = ((d as f64).ln() / 1.005f64.ln()).round() as i64;
            let e = bins.entry(b).or_insert((0, 0));
            e.0 += 1;
            e.1 += d;
        }
    }
    let mut top: Vec<(u32, i64, i64)> = bins
        .into_iter()
        .map(|(b, (n, s))| (n, b, s / i64::from(n)))
        .collect();
    top.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    c.extend(top.iter().take(3).filter(|t| t.0 >= 4).map(|t| t.2));
    c.retain(|p| *p >= min_period_us);
    c.sort_unstable();
    c.dedup();
    c
}

/// Folds sorted event times (µs) at period `p`: the densest phase window
/// and its corrected p-value (`n_c` candidates), if it passes the event
/// and occupancy minimums of `cfg`.
fn fold(ts: &[i64], p: i64, cfg: &Periodic, n_c: usize) -> Option<Rhythm> {
    let n = ts.len();
    let span = ts.last()? - ts.first()?;
    // The rhythm must span enough cycles to be seen min_events times.
    if p <= 0 || span / p < cfg.min_events as i64 - 1 {
        return None;
    }
    let w = (p / 100).max(4_000_000).min(p / 2);
    let mut phases: Vec<i64> = ts.iter().map(|t| t.rem_euclid(p)).collect();
    phases.sort_unstable();
    // Circular sliding window: the most phases within [x, x + w).
    let (mut best_count, mut best_start) = (0usize, 0i64);
    let mut j = 0usize;
    for i in 0..n {
        let start = phases[i];
        let end = start + w;
        if j < i {
            j = i;
        }
        while j < i + n && {
            let v = if j < n { phases[j] } else { phases[j - n] + p };
            v < end
        } {
            j += 1;
        }
        if j - i > best_count {
            best_count = j - i;
            best_start = start;
        }
    }
    if best_count < cfg.min_events {
        return None;
    }
    let frac = w as f64 / p as f64;
    let positions = (1.0 / frac).ceil();
    // Occupancy: cycles holding an in-phase event.
    let in_phase = |t: &i64| (t.rem_euclid(p) - best_start).rem_euclid(p) < w;
    // Over the cycles from the first in-phase event to the last: a beacon
    // that starts in the middle of a querier's history is a rhythm for as
    // long as it runs.
    let idx: Vec<usize> = (0..n).filter(|i| in_phase(&ts[*i])).collect();
    let mut hit: Vec<i64> = idx.iter().map(|i| ts[*i].div_euclid(p)).collect();
    hit.dedup();
    // The run of cycles holding the most in-phase events at the required
    // occupancy: a chance in-phase lookup weeks before the beacon began
    // must not dilute it.
    let (mut run_hits, mut run_cycles) = (0usize, 1i64);
    for i in 0..hit.len() {
        for j in (i..hit.len()).rev() {
            let hits = j - i + 1;
            if hits <= run_hits {
                break;
            }
            let cycles = hit[j] - hit[i] + 1;
            if hits as f64 >= cfg.min_occupancy * cycles as f64 {
                (run_hits, run_cycles) = (hits, cycles);
                break;
            }
        }
    }
    let occupancy = run_hits as f64 / run_cycles as f64;
    let mut strides: FxHashMap<usize, usize> = FxHashMap::default();
    for w in idx.windows(2) {
        *strides.entry(w[1] - w[0]).or_insert(0) += 1;
    }
    let diffs = idx.len().saturating_sub(1);
    let stride = strides
        .iter()
        .max_by_key(|(k, c)| (**c, usize::MAX - **k))
        .map(|(k, _)| *k)
        .filter(|k| {
            let multiples: usize = strides
                .iter()
                .filter(|(d, _)| **d % *k == 0)
                .map(|(_, c)| *c)
                .sum();
            multiples * 5 >= diffs * 4
        })
        .unwrap_or(0);
    // A rhythm is seen in min_events different cycles: a burst of lookups
    // inside one cycle falls in one phase window at any long period.
    if run_hits == 0 || occupancy < cfg.min_occupancy || run_hits < cfg.min_events {
        return None;
    }
    // The binomial counts one in-phase event per cycle, for the same reason.
    let in_cycles = run_hits;
    let p_value =
        (stats::binomial_sf(in_cycles as u64, n as u64, frac) * positions * n_c as f64).min(1.0);
    Some(Rhythm {
        period_s: p as f64 / 1e6,
        in_phase: in_cycles,
        n,
        window_s: w as f64 / 1e6,
        occupancy,
        p_value,
        candidates: n_c,
        stride,
    })
}

/// The strongest rhythm of sorted event times (µs), if any passes `cfg`.
///
/// A rhythm of period `P` also folds at `P/2`, `P/3` (every other cycle
/// empty, same events in phase): when a multiple of the best period keeps
/// at least 90% of its in-phase events, the longest such multiple is the
/// rhythm (a 6-hour beacon is not reported as "every 3 h").
pub fn rhythm(ts: &[i64], cfg: &Periodic) -> Option<Rhythm> {
    if ts.len() < cfg.min_events {
        return None;
    }
    let min_p = (cfg.min_period_s * 1e6) as i64;
    let cands = candidates(ts, min_p.max(1));
    let n_c = cands.len().max(1) + 3;
    let mut best: Option<(i64, Rhythm)> = None;
    for &p in &cands {
        if let Some(r) = fold(ts, p, cfg, n_c) {
            if best.as_ref().is_none_or(|(_, b)| r.p_value < b.p_value) {
                best = Some((p, r));
            }
        }
    }
    let (p, mut r) = best?;
    for k in 2..=4i64 {
        if let Some(m) = fold(ts, p * k, cfg, n_c) {
            if m.in_phase as f64 >= 0.9 * r.in_phase as f64 && m.p_value < cfg.p_value {
                r = m;
            }
        }
    }
    Some(r).filter(|b| b.p_value < cfg.p_value)
}

/// Whether a rhythm is a cache re-fetching at the TTL: a period of one to
/// one and a half TTLs is. A resolver re-asking whenever its cache expires
/// has near-constant gaps, so it also folds at multiples of its gap, with
/// every in-phase lookup the same number of lookups after the last (its
/// `stride`); such a rhythm is explained when one stride of it is. A beacon
/// hidden among other lookups has no fixed stride and stays unexplained.
pub fn explained_by_ttl(r: &Rhythm, ttl: Option<u32>) -> bool {
    ttl.filter(|t| *t > 0).is_some_and(|t| {
        let t = f64::from(t);
        let band = |p: f64| p >= 0.9 * t && p <= 1.5 * t + 60.0;
        band(r.period_s) || (r.stride >= 2 && band(r.period_s / r.stride as f64))
    })
}

#[derive(Debug, Default)]
struct Series {
    events: VecDeque<i64>,
    last_seen: i64,
    ttl: Option<u32>,
    since_eval: u32,
    /// Period (s) of the rhythm already reported for this querier.
    reported: Option<f64>,
}

/// The periodic detector.
#[derive(Debug, Default)]
pub struct PeriodicDetector {
    state: FxHashMap<usize, FxHashMap<IpAddr, Series>>,
    evicted: u64,
}

impl Detector for PeriodicDetector {
    fn on_lookup(&mut self, cx: &mut Cx<'_>, l: &Lookup, out: &mut Vec<Finding>) {
        let cfg = &cx.cfg.periodic;
        if !cfg.enabled {
            return;
        }
        let ts = l.ts_us;
        let map = self.state.entry(cx.idx).or_default();
        let ip = l.querier.ip();
        // (`evict_lru` does nothing while the map is within its cap: the
        // querier is looked up only when it might.)
        if map.len() > cx.cfg.max_queriers_per_entry && !map.contains_key(&ip) {
            self.evicted += evict_lru(map, cx.cfg.max_queriers_per_entry, |s: &Series| s.last_seen);
        }
        let s = map.entry(ip).or_default();
        s.last_seen = ts;
        if let Some(t) = l.answers.iter().map(|a| a.ttl).min() {
            s.ttl = Some(t);
        }
        let merge = (cfg.merge_s * 1e6) as i64;
        if s.events
            .back()
            .is_some_and(|b| ts.saturating_sub(*b) < merge.max(1))
        {
            return;
        }
        s.events.push_back(ts);
        while s.events.len() > cfg.max_events {
            s.events.pop_front();
        }
        s.since_eval += 1;
        // Judged every 8th event: a series does not change character in fewer.
        if s.events.len() < cfg.min_events || s.since_eval < 8 {
            return;
        }
        s.since_eval = 0;
        let mut ts_list: Vec<i64> = s.events.iter().copied().collect();
        ts_list.sort_unstable();
        let found = rhythm(&ts_list, cfg).filter(|r| !explained_by_ttl(r, s.ttl));
        let Some(r) = found else {
            return;
        };
        // One alert per rhythm: the same querier's rhythm is reported again
        // only when its period changes by more than 10%.
        if s.reported
            .is_some_and(|p| (r.period_s - p).abs() <= 0.1 * p)
        {
            return;
        }
        s.reported = Some(r.period_s);
        out.push(Finding {
            kind: Kind::Periodic,
            severity: Severity::Info,
            ts_us: ts,
            name: l.qname.clone(),
            querier: Some(ip.to_string()),
            window: format!("last {} lookups", r.n),
            window_start_us: ts_list.first().copied().unwrap_or(ts),
            evidence: json!({
                "period_s": r.period_s,
                "period": human_period(r.period_s),
                "in_phase": r.in_phase,
                "n": r.n,
                "phase_window_s": r.window_s,
                "occupancy": r.occupancy,
                "p_value": r.p_value,
                "candidates": r.candidates,
                "ttl": s.ttl,
                "first": crate::time::rfc3339(ts_list[0]),
            }),
            message: format!(
                "{} looks up {} like a machine: every {} ({} of its last {} lookups in a {:.0} s phase window, {:.0}% of cycles; p = {:.1e}; answer TTL {})",
                ip,
                l.qname,
                human_period(r.period_s),
                r.in_phase,
                r.n,
                r.window_s,
                r.occupancy * 100.0,
                r.p_value,
                s.ttl.map_or_else(|| "unknown".to_string(), |t| format!("{t} s"))
            ),
            per_name: false,
        });
    }

    fn evictions(&mut self) -> (u64, u64) {
        (std::mem::take(&mut self.evicted), 0)
    }
}

/// A period for people: `42 s`, `15 min`, `6.0 h`, `1.5 d`.
pub fn human_period(secs: f64) -> String {
    if secs < 120.0 {
        format!("{secs:.0} s")
    } else if secs < 7200.0 {
        format!("{:.0} min", secs / 60.0)
    } else if secs < 172_800.0 {
        format!("{:.1} h", secs / 3600.0)
    } else {
        format!("{:.1} d", secs / 86_400.0)
    }
}

/// Regularity of one querier's lookups (for `report`): gap statistics and
/// the Rayleigh phase test.
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
