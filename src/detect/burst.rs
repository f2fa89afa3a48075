//! `burst`: more lookups than the seasonal model allows, in an hour or a day,
//! raised once per episode.
//!
//! * **Hours, online.** When an hour's first lookup arrives, the critical
//!   count of the hour is computed from the entry's model (the smallest `k`
//!   with negative-binomial `P(X ≥ k) < p_value`, at least `min_count_hour`
//!   and `min_lift ×` expected); the alert is raised by the lookup that
//!   reaches it, so a burst is known minutes after it starts, not at the end
//!   of its hour. An entry with a real empty past (first seen after the
//!   sensor had run a day) is judged against the population prior, which is
//!   how a wave of clients on a never-seen watched name becomes a burst.
//! * **One querier is not a burst by itself** when it does no more than
//!   ordinary queriers of this entry do: if the top querier of the hour holds
//!   half of it and its count is within 1.5× the largest one-querier hour of
//!   the baseline, the hour is not raised (a laptop's ordinary hour of use on
//!   a resolver box). A resolver that suddenly asks ten times what any
//!   querier ever asked is. On the prior (no history), three distinct
//!   queriers are needed.
//! * **Days** are tested at their end against the daily model.
//! * **Episodes.** Flagged hours within 3 hours of each other, and flagged
//!   days next to each other or to flagged hours, are one episode: one alert
//!   at its start, with the numbers. Flagged hours and days stay out of every
//!   later baseline, so a second spike after the first is judged against
//!   normal traffic, not against the first spike.

use rustc_hash::FxHashMap;
use serde_json::json;

use super::stats;
use super::{Cx, Detector, EntryModel, Finding, Kind, HOUR};
use crate::model::Lookup;
use crate::model::Severity;

#[derive(Clone, Debug)]
struct Episode {
    start_h: i64,
    last_h: i64,
    peak: u64,
}

#[derive(Clone, Debug, Default)]
struct State {
    crit_hour: i64,
    crit: Option<(u64, f64, f64)>,
    raised_hour: Option<i64>,
    episode: Option<Episode>,
}

/// The burst detector.
#[derive(Debug, Default)]
pub struct BurstDetector {
    state: FxHashMap<usize, State>,
}

/// Smallest `k ≥ floor` with `negbin_sf(k, mu, size) < p` (None if beyond 10^9).
pub fn critical_count(mu: f64, size: f64, p: f64, floor: u64) -> Option<u64> {
    let sf = |k: u64| stats::negbin_sf(k, mu, size);
    let mut lo = floor.max(1);
    if sf(lo) < p {
        return Some(lo);
    }
    let mut hi = lo.saturating_mul(2).max(2);
    while sf(hi) >= p {
        lo = hi;
        hi = hi.saturating_mul(2);
        if hi > 1_000_000_000 {
            return None;
        }
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if sf(mid) < p {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

impl BurstDetector {
    fn episode_alert(st: &mut State, from_h: i64, to_h: i64, observed: u64, gap_h: i64) -> bool {
        match st.episode.as_mut() {
            Some(e) if from_h - e.last_h <= gap_h => {
                e.last_h = e.last_h.max(to_h);
                e.peak = e.peak.max(observed);
                false
            }
            _ => {
                st.episode = Some(Episode {
                    start_h: from_h,
                    last_h: to_h,
                    peak: observed,
                });
                true
            }
        }
    }
}

fn severity(p: f64) -> Severity {
    if p < 1e-12 {
        Severity::Critical
    } else {
        Severity::Warning
    }
}

/// Whether one querier explains the count: it holds half of it and does no
/// more than 1.5× what one querier did in the baseline.
fn one_querier_explains(observed: u64, top: u32, usual_max: u32) -> bool {
    2 * u64::from(top) >= observed && usual_max > 0 && f64::from(top) <= 1.5 * f64::from(usual_max)
}

impl Detector for BurstDetector {
    fn on_lookup(&mut self, cx: &mut Cx<'_>, l: &Lookup, out: &mut Vec<Finding>) {
        let cfg = &cx.cfg.burst;
        if !cfg.enabled {
            return;
        }
        let h = l.ts_us.div_euclid(HOUR);
        if h <= cx.entry.closed_hour {
            return;
        }
        let st = self.state.entry(cx.idx).or_insert_with(|| State {
            crit_hour: i64::MIN,
            ..State::default()
        });
        if st.crit_hour != h {
            st.crit_hour = h;
            st.crit = cx
                .entry
                .series
                .expected_hour_given_day(h, cx.reference)
                .and_then(|(mu, size)| {
                    let floor = cfg.min_count_hour.max((mu * cfg.min_lift).ceil() as u64);
                    critical_count(mu, size, cfg.p_value, floor).map(|k| (k, mu, size))
                });
        }
        let Some((crit, mu, size)) = st.crit else {
            return;
        };
        let observed = cx.entry.series.count(h);
        if observed < crit || st.raised_hour == Some(h) {
            return;
        }
        let m = &*cx.entry;
        let (distinct, top, top_ip) = EntryModel::spread(m.hour_queriers.get(&h));
        let prior = m.series.model().is_some_and(|m| m.prior);
        let day = h.div_euclid(24);
        let (usual_hour, _) = m.querier_max_before(day, i64::from(cfg.baseline_days));
        if prior {
            if distinct < 3 {
                return;
            }
        } else if one_querier_explains(observed, top, usual_hour) {
            return;
        }
        st.raised_hour = Some(h);
        let p = stats::negbin_sf(observed, mu, size);
        let new = Self::episode_alert(st, h, h, observed, 3);
        cx.entry.series.flag(h, h);
        if !new {
            return;
        }
        let m = &*cx.entry;
        let querier = (2 * u64::from(top) >= observed)
            .then(|| top_ip.map(|ip| ip.to_string()))
            .flatten();
        let model = m.series.model();
        out.push(Finding {
            kind: Kind::Burst,
            severity: severity(p),
            ts_us: l.ts_us,
            name: l.qname.clone(),
            querier,
            window: "1h".into(),
            window_start_us: h * HOUR,
            evidence: json!({
                "bucket": "1h",
                "hour_start": crate::time::rfc3339(h * HOUR),
                "observed": observed,
                "observed_at": "detection (the hour was still open)",
                "critical_count": crit,
                "expected": mu,
                "p_value": p,
                "model": if prior { "population prior (no history)" } else { "seasonal negative binomial" },
                "nb_size": size,
                "daily_level": model.map(|m| m.level),
                "baseline_days": model.map(|m| m.days),
                "distinct_queriers": distinct,
                "top_querier": top_ip.map(|ip| ip.to_string()),
                "top_querier_count": top,
                "usual_max_per_querier_hour": usual_hour,
                "episode_start": crate::time::rfc3339(h * HOUR),
            }),
            message: format!(
                "burst: {} lookups of {} since {} where {:.1} were expected in the hour (p = {:.1e}); {} queriers, the top one {} with {}",
                observed,
                m.name,
                crate::time::rfc3339(h * HOUR),
                mu,
                p,
                distinct,
                top_ip.map_or_else(|| "-".to_string(), |ip| ip.to_string()),
                top
            ),
            per_name: false,
        });
    }

    fn on_hour(&mut self, cx: &mut Cx<'_>, h: i64, out: &mut Vec<Finding>) {
        let cfg = &cx.cfg.burst;
        if !cfg.enabled {
            return;
        }
        let st = self.state.entry(cx.idx).or_insert_with(|| State {
            crit_hour: i64::MIN,
            ..State::default()
        });
        if let Some(e) = st.episode.as_mut() {
            if e.last_h == h {
                e.peak = e.peak.max(cx.entry.series.count(h));
            }
        }
        if h.rem_euclid(24) != 23 {
            return;
        }
        let d = h.div_euclid(24);
        let m = &*cx.entry;
        let Some(model) = m.series.model() else {
            return;
        };
        if model.prior {
            return;
        }
        let Some((mu, size)) = m.series.expected_day(d, cx.reference) else {
            return;
        };
        let observed = m.series.day_total(d);
        if observed < cfg.min_count_day || (observed as f64) < mu * cfg.min_lift {
            return;
        }
        let p = stats::negbin_sf(observed, mu, size);
        if p >= cfg.p_value_day {
            return;
        }
        let (distinct, top, top_ip) = EntryModel::spread(m.day_queriers.get(&d));
        let (_, usual_day) = m.querier_max_before(d, i64::from(cfg.baseline_days));
        if one_querier_explains(observed, top, usual_day) {
            return;
        }
        let level = model.level;
        let days = model.days;
        let new = Self::episode_alert(st, d * 24, h, observed, 24);
        let episode_start = st.episode.as_ref().map_or(d * 24, |e| e.start_h);
        cx.entry.series.flag(d * 24, h);
        if !new {
            return;
        }
        let m = &*cx.entry;
        let querier = (2 * u64::from(top) >= observed)
            .then(|| top_ip.map(|ip| ip.to_string()))
            .flatten();
        out.push(Finding {
            kind: Kind::Burst,
            severity: severity(p),
            ts_us: (d + 1) * super::DAY,
            name: m.last_name.clone(),
            querier,
            window: "1d".into(),
            window_start_us: d * super::DAY,
            evidence: json!({
                "bucket": "1d",
                "day": crate::time::date(d * super::DAY),
                "observed": observed,
                "expected": mu,
                "p_value": p,
                "model": "seasonal negative binomial",
                "nb_size": size,
                "daily_level": level,
                "baseline_days": days,
                "distinct_queriers": distinct,
                "top_querier": top_ip.map(|ip| ip.to_string()),
                "top_querier_count": top,
                "usual_max_per_querier_day": usual_day,
                "episode_start": crate::time::rfc3339(episode_start * HOUR),
            }),
            message: format!(
                "burst: {} lookups of {} on {} where {:.1} were expected that day (p = {:.1e}); {} queriers, the top one {} with {}",
                observed,
                m.name,
                crate::time::date(d * super::DAY),
                mu,
                p,
                distinct,
                top_ip.map_or_else(|| "-".to_string(), |ip| ip.to_string()),
                top
            ),
            per_name: false,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn critical_count_is_the_first_count_below_p() {
        for (mu, size, p) in [
            (2.0, 5.0, 1e-7),
            (40.0, 10.0, 1e-7),
            (0.2, 1.0, 1e-7),
            (300.0, 50.0, 1e-5),
        ] {
            let k = critical_count(mu, size, p, 1).unwrap();
            assert!(stats::negbin_sf(k, mu, size) < p);
            assert!(stats::negbin_sf(k - 1, mu, size) >= p, "{mu} {size} {k}");
        }
        assert_eq!(critical_count(0.001, 10.0, 1e-7, 10), Some(10));
    }

    #[test]
    fn one_ordinary_querier_is_not_a_burst() {
        assert!(one_querier_explains(30, 24, 24));
        assert!(!one_querier_explains(30, 24, 10));
        assert!(!one_querier_explains(30, 10, 24), "spread over queriers");
        assert!(!one_querier_explains(30, 24, 0), "no baseline");
    }
}
