//! `quiet` and `resumed`: an entry that falls silent (or nearly) where the
//! seasonal model expects lookups, raised once per episode.
//!
//! * **Silence**, judged at every hour boundary: the probability of no
//!   lookup at all since the last one, under the model with each day's
//!   gamma multiplier integrated out (`Π_days (1 + φ E_d)^(−1/φ)`), which is
//!   honest about overdispersion: a busy name missing an hour is not news, a
//!   name with twenty lookups a day missing two days is. Weekends and
//!   holidays expect little and so are rarely improbable.
//! * **Dip**, judged at every day boundary over the last 1–3 days: at most
//!   `max_fraction` of the expected count, with a negative-binomial lower
//!   tail below `p_value`.
//! * An episode is raised once; the hours it covers stay out of later
//!   baselines. A silence is closed by the next lookup with `resumed`, which
//!   is therefore only ever raised after a silence that was itself improbable;
//!   a dip closes quietly once a day is back to half its expected count.

use rustc_hash::FxHashMap;
use serde_json::json;

use super::stats;
use super::{Cx, Detector, Finding, Kind, DAY, HOUR};
use crate::model::Lookup;
use crate::model::Severity;

#[derive(Clone, Debug)]
enum Episode {
    Silence {
        raised: i64,
        last_before: i64,
        expected: f64,
    },
    Dip,
}

/// The quiet detector.
#[derive(Debug, Default)]
pub struct QuietDetector {
    state: FxHashMap<usize, Episode>,
}

impl Detector for QuietDetector {
    fn on_lookup(&mut self, cx: &mut Cx<'_>, l: &Lookup, out: &mut Vec<Finding>) {
        let Some(Episode::Silence {
            raised,
            last_before,
            expected,
        }) = self.state.get(&cx.idx).cloned()
        else {
            return;
        };
        self.state.remove(&cx.idx);
        let gap = l.ts_us.saturating_sub(last_before);
        let hours = gap as f64 / HOUR as f64;
        out.push(Finding {
            kind: Kind::Resumed,
            severity: Severity::Info,
            ts_us: l.ts_us,
            name: l.qname.clone(),
            querier: Some(l.querier_ip()),
            window: format!("{hours:.1}h"),
            window_start_us: last_before,
            evidence: json!({
                "silence_h": hours,
                "gap_s": gap / 1_000_000,
                "last_before": crate::time::rfc3339(last_before),
                "quiet_alert": crate::time::rfc3339(raised),
                "expected_during_silence": expected,
            }),
            message: format!(
                "lookups of {} resumed after {:.1} hours of silence ({} asked {})",
                cx.entry.name,
                hours,
                l.querier.ip(),
                l.qname
            ),
            per_name: false,
        });
    }

    fn on_hour(&mut self, cx: &mut Cx<'_>, h: i64, out: &mut Vec<Finding>) {
        let cfg = &cx.cfg.quiet;
        if !cfg.enabled {
            return;
        }
        let end = (h + 1) * HOUR;
        match self.state.get(&cx.idx) {
            Some(Episode::Silence { .. }) => return,
            Some(Episode::Dip) => {
                if h.rem_euclid(24) == 23 {
                    let d = h.div_euclid(24);
                    let back = cx
                        .entry
                        .series
                        .expected_day(d, cx.reference)
                        .is_none_or(|(mu, _)| cx.entry.series.day_total(d) as f64 >= 0.5 * mu);
                    if back {
                        self.state.remove(&cx.idx);
                    }
                }
                return;
            }
            None => {}
        }
        let m = &*cx.entry;
        // Quiet is judged only once the weekly shape is known: an office's
        // first weekend is not a silence.
        if !m.series.model().is_some_and(|m| m.weekly) {
            return;
        }
        let last = m.last_seen;
        let last_h = last.div_euclid(HOUR);
        if last_h < h {
            if let Some((p0, expected)) = m.series.silence(last_h + 1, h, cx.reference) {
                if expected >= cfg.min_expected && p0 < cfg.p_value {
                    let phi = m.series.model().map(|m| m.phi_day);
                    let hours = (end - last) as f64 / HOUR as f64;
                    out.push(Finding {
                        kind: Kind::Quiet,
                        severity: Severity::Warning,
                        ts_us: end,
                        name: m.last_name.clone(),
                        querier: None,
                        window: format!("{hours:.0}h"),
                        window_start_us: last,
                        evidence: json!({
                            "shape": "silence",
                            "observed": 0,
                            "expected": expected,
                            "p_value": p0,
                            "model": "seasonal negative binomial, probability of no lookup",
                            "phi_day": phi,
                            "silent_since": crate::time::rfc3339(last),
                            "silent_h": hours,
                        }),
                        message: format!(
                            "{} has gone quiet: no lookup for {:.1} hours since {} where {:.1} were expected (p = {:.1e})",
                            m.name,
                            hours,
                            crate::time::rfc3339(last),
                            expected,
                            p0
                        ),
                        per_name: false,
                    });
                    self.state.insert(
                        cx.idx,
                        Episode::Silence {
                            raised: end,
                            last_before: last,
                            expected,
                        },
                    );
                    return;
                }
            }
        }
        if h.rem_euclid(24) != 23 {
            return;
        }
        let d = h.div_euclid(24);
        let Some(model) = m.series.model() else {
            return;
        };
        if model.prior {
            return;
        }
        for k in 1..=3i64 {
            let days: Vec<i64> = (d - k + 1..=d).collect();
            if days.iter().any(|day| day * 24 < m.series.first_hour) {
                break;
            }
            let mut mean = 0.0;
            let mut var = 0.0;
            let mut observed = 0u64;
            for day in &days {
                let Some((mu, size)) = m.series.expected_day(*day, cx.reference) else {
                    return;
                };
                mean += mu;
                var += mu + mu * mu / size;
                observed += m.series.day_total(*day);
            }
            if mean < cfg.min_expected || observed as f64 > cfg.max_fraction * mean {
                continue;
            }
            let size = if var > mean {
                mean * mean / (var - mean)
            } else {
                f64::INFINITY
            };
            let p = stats::negbin_cdf(observed, mean, size);
            if p >= cfg.p_value {
                continue;
            }
            out.push(Finding {
                kind: Kind::Quiet,
                severity: Severity::Warning,
                ts_us: (d + 1) * DAY,
                name: m.last_name.clone(),
                querier: None,
                window: format!("{k}d"),
                window_start_us: (d - k + 1) * DAY,
                evidence: json!({
                    "shape": "dip",
                    "observed": observed,
                    "expected": mean,
                    "p_value": p,
                    "model": "seasonal negative binomial, lower tail",
                    "nb_size": size,
                    "from": crate::time::date((d - k + 1) * DAY),
                    "to": crate::time::date(d * DAY),
                }),
                message: format!(
                    "{} has gone quiet: {} lookups in the {} day(s) to {} where {:.1} were expected (p = {:.1e})",
                    m.name,
                    observed,
                    k,
                    crate::time::date(d * DAY),
                    mean,
                    p
                ),
                per_name: false,
            });
            self.state.insert(cx.idx, Episode::Dip);
            return;
        }
    }
}
