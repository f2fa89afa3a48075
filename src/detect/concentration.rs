//! `concentration`: a few queriers holding almost all of an entry's lookups,
//! where they did not before.
//!
//! Queriers are counted at three levels: organisations (when the operator
//! gives a prefix→organisation file), networks (`/24`, `/48`) and addresses.
//! Two resolvers of one bank in adjacent /24s are one organisation holding
//! 79%, not two addresses holding 47% and 32%.
//!
//! At each day boundary, for each window (1 and 7 days by default) and
//! level, the top one and top two groups' share is judged twice:
//!
//! * **absolutely**, by the 95% Wilson lower bound of the share against
//!   `top1_share` / `top2_share` (a share on 40 lookups is not a share on
//!   4,000), and
//! * **as a change**, against the entry's own history: in the
//!   `history_days` before the window, the same groups' Wilson upper bound
//!   must have been below the threshold. A name that two partners have
//!   always made all lookups of is news once, not every day; a name that
//!   becomes one bank's is news again.
//!
//! As a change, the share must also have grown by `min_increase` (a share
//! wandering around the threshold is not news).
//!
//! An entry with less than `min_history_days` of history (or too few
//! lookups in it) is judged on the absolute share against the population:
//! the same groups' share of *all* watched lookups in the window must be at
//! most `max_population_ratio` of their share of this entry. A name whose
//! lookups are one bank's from the start while the bank makes few of the
//! other lookups (the 2016 case) alerts once; an office LAN that makes
//! almost every lookup of every name does not.
//!
//! One alert per episode (until no window and level is concentrated, and
//! not again for the same queriers within `history_days`), naming
//! the groups, their shares now and before, and the top addresses.

use std::collections::BTreeMap;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde_json::json;

use super::reference::Labels;
use super::stats;
use super::{pct, Cx, Detector, Finding, Kind, DAY};
use crate::model::Lookup;
use crate::model::Severity;

const LEVELS: [&str; 3] = ["organisation", "network", "address"];

/// One day's lookups by group, a map per level (looked up by the label's
/// text: counting a lookup clones no key).
type Day = [FxHashMap<Arc<str>, u32>; 3];

#[derive(Debug, Default)]
struct State {
    days: BTreeMap<i64, Day>,
    totals: BTreeMap<i64, u64>,
    first_day: Option<i64>,
    raised: bool,
    /// Day of the last alert and the addresses holding its share.
    last: Option<(i64, Vec<Arc<str>>)>,
}

/// The concentration detector.
#[derive(Debug, Default)]
pub struct ConcentrationDetector {
    state: FxHashMap<usize, State>,
    /// Every watched lookup, by day and group: the population an entry's
    /// shares are compared with when it has no history of its own.
    population: State,
    labels: Labels,
}

/// Distinct group keys kept per entry and day (beyond, a day's long tail is
/// counted in its total only: shares of the top groups stay right).
const MAX_KEYS_PER_DAY: usize = 100_000;

struct Hit {
    level: usize,
    window: u32,
    k: usize,
    n: u64,
    held: u64,
    lower: f64,
    upper: f64,
    threshold: f64,
    ref_n: u64,
    ref_share: f64,
    ref_upper: f64,
    pop_share: f64,
    top: Vec<(Arc<str>, u64, f64)>,
}

fn count(st: &mut State, day: i64, labels: &[Option<Arc<str>>; 3]) {
    st.first_day = Some(st.first_day.map_or(day, |f| f.min(day)));
    *st.totals.entry(day).or_insert(0) += 1;
    let m = st.days.entry(day).or_default();
    for (level, label) in labels.iter().enumerate() {
        if let Some(label) = label {
            if let Some(c) = m[level].get_mut(&**label) {
                *c += 1;
            } else if m.iter().map(|l| l.len()).sum::<usize>() < MAX_KEYS_PER_DAY {
                m[level].insert(label.clone(), 1);
            }
        }
    }
}

fn prune(st: &mut State, keep: i64) {
    while st.days.first_key_value().is_some_and(|(k, _)| *k < keep) {
        st.days.pop_first();
    }
    while st.totals.first_key_value().is_some_and(|(k, _)| *k < keep) {
        st.totals.pop_first();
    }
}

fn sum_days(st: &State, from: i64, to: i64, level: u8) -> (FxHashMap<Arc<str>, u64>, u64) {
    let mut counts: FxHashMap<Arc<str>, u64> = FxHashMap::default();
    for (_, m) in st.days.range(from..=to) {
        for (k, c) in &m[usize::from(level)] {
            *counts.entry(k.clone()).or_insert(0) += u64::from(*c);
        }
    }
    let n = st.totals.range(from..=to).map(|(_, c)| *c).sum();
    (counts, n)
}

impl Detector for ConcentrationDetector {
    fn on_lookup(&mut self, cx: &mut Cx<'_>, l: &Lookup, _out: &mut Vec<Finding>) {
        if !cx.cfg.concentration.enabled {
            return;
        }
        let labels = self.labels.of(cx.reference, l.querier.ip()).clone();
        let day = l.ts_us.div_euclid(DAY);
        count(self.state.entry(cx.idx).or_default(), day, &labels);
        count(&mut self.population, day, &labels);
    }

    fn on_hour(&mut self, cx: &mut Cx<'_>, h: i64, out: &mut Vec<Finding>) {
        let cfg = &cx.cfg.concentration;
        if h.rem_euclid(24) != 23 || !cfg.enabled {
            return;
        }
        let d = h.div_euclid(24);
        let Some(st) = self.state.get_mut(&cx.idx) else {
            return;
        };
        let max_w = i64::from(cfg.windows_days.iter().copied().max().unwrap_or(1));
        let keep = d - max_w - i64::from(cfg.history_days);
        prune(st, keep);
        if self
            .population
            .days
            .first_key_value()
            .is_some_and(|(k, _)| *k < keep)
        {
            prune(&mut self.population, keep);
        }
        let Some(first_day) = st.first_day else {
            return;
        };
        let mut hits: Vec<Hit> = Vec::new();
        for &w in &cfg.windows_days {
            let wd = i64::from(w);
            let ref_to = d - wd;
            let ref_from = (ref_to - i64::from(cfg.history_days) + 1).max(first_day);
            let long_enough = ref_to - ref_from + 1 >= i64::from(cfg.min_history_days);
            for (level, _) in LEVELS.iter().enumerate() {
                if level == 0 && !cx.reference.has_organisations() {
                    continue;
                }
                let (counts, n) = sum_days(st, d - wd + 1, d, level as u8);
                if n < cfg.min_lookups {
                    continue;
                }
                let (ref_counts, ref_n) = if long_enough {
                    sum_days(st, ref_from, ref_to, level as u8)
                } else {
                    (FxHashMap::default(), 0)
                };
                let history = ref_n >= cfg.min_lookups;
                let mut top: Vec<(Arc<str>, u64)> = counts.into_iter().collect::<Vec<_>>();
                top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                for (k, threshold) in [(1usize, cfg.top1_share), (2usize, cfg.top2_share)] {
                    if top.len() < k {
                        continue;
                    }
                    let held: u64 = top.iter().take(k).map(|t| t.1).sum();
                    let (lower, upper) = stats::wilson_interval(held, n, 1.96);
                    if lower < threshold {
                        continue;
                    }
                    let ref_held: u64 = top
                        .iter()
                        .take(k)
                        .map(|t| ref_counts.get(&t.0).copied().unwrap_or(0))
                        .sum();
                    let ref_upper = if history {
                        stats::wilson_interval(ref_held, ref_n, 1.96).1
                    } else {
                        f64::NAN
                    };
                    let share_now = held as f64 / n as f64;
                    let ref_share = if history {
                        ref_held as f64 / ref_n as f64
                    } else {
                        f64::NAN
                    };
                    if history
                        && (ref_upper >= threshold || share_now - ref_share < cfg.min_increase)
                    {
                        continue;
                    }
                    let (pop_counts, pop_n) =
                        sum_days(&self.population, d - wd + 1, d, level as u8);
                    let pop_held: u64 = top
                        .iter()
                        .take(k)
                        .map(|t| pop_counts.get(&t.0).copied().unwrap_or(0))
                        .sum();
                    let pop_share = pop_held as f64 / pop_n.max(1) as f64;
                    if !history && pop_share > cfg.max_population_ratio * share_now {
                        continue;
                    }
                    hits.push(Hit {
                        level,
                        window: w,
                        k,
                        n,
                        held,
                        lower,
                        upper,
                        threshold,
                        ref_n: if history { ref_n } else { 0 },
                        ref_share,
                        pop_share,
                        ref_upper,
                        top: top
                            .iter()
                            .take(5)
                            .map(|(g, c)| {
                                let r = ref_counts.get(g).copied().unwrap_or(0);
                                (g.clone(), *c, r as f64 / ref_n.max(1) as f64)
                            })
                            .collect(),
                    });
                    break;
                }
            }
        }
        if hits.is_empty() {
            st.raised = false;
            return;
        }
        if st.raised {
            return;
        }
        st.raised = true;
        // Report the coarsest level, then the shortest window.
        hits.sort_by_key(|x| (x.level, x.window));
        let Some(best) = hits.first() else {
            return;
        };
        let (addr_counts, addr_n) = sum_days(st, d - i64::from(best.window) + 1, d, 2);
        let mut addrs: Vec<(Arc<str>, u64)> = addr_counts.into_iter().collect();
        addrs.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        // The same queriers holding the entry again within the history
        // window is the episode already reported, not a new one (a 1-day
        // window on a sparse name wanders around the threshold).
        let holders: Vec<Arc<str>> = addrs
            .iter()
            .take(best.k.max(2))
            .map(|a| a.0.clone())
            .collect();
        if st.last.as_ref().is_some_and(|(day, before)| {
            d - day < i64::from(cfg.history_days) && holders.iter().any(|h| before.contains(h))
        }) {
            return;
        }
        st.last = Some((d, holders));
        let top_json: Vec<serde_json::Value> = best
            .top
            .iter()
            .map(|(g, c, r)| json!({"group": g.as_ref(), "count": c, "share": *c as f64 / best.n as f64, "share_before": (best.ref_n > 0).then_some(*r)}))
            .collect();
        let top_text: Vec<String> = best
            .top
            .iter()
            .take(best.k)
            .map(|(g, c, _)| format!("{g} {c} ({})", pct(*c as f64 / best.n as f64)))
            .collect();
        let level = LEVELS[best.level];
        let m = &*cx.entry;
        out.push(Finding {
            kind: Kind::Concentration,
            severity: Severity::Warning,
            ts_us: (d + 1) * DAY,
            name: m.last_name.clone(),
            querier: best.top.first().map(|t| t.0.to_string()),
            window: format!("{}d", best.window),
            window_start_us: (d + 1 - i64::from(best.window)) * DAY,
            evidence: json!({
                "level": level,
                "window_days": best.window,
                "k": best.k,
                "n": best.n,
                "held": best.held,
                "share": best.held as f64 / best.n as f64,
                "wilson95": [best.lower, best.upper],
                "threshold": best.threshold,
                "before": (best.ref_n > 0).then(|| json!({"days": cfg.history_days, "n": best.ref_n, "share": best.ref_share, "wilson95_upper": best.ref_upper})),
                "share_of_all_watched_lookups": best.pop_share,
                "top": top_json,
                "top_addresses": addrs.iter().take(5).map(|(a, c)| json!({"querier": a.as_ref(), "count": c, "share": *c as f64 / addr_n.max(1) as f64})).collect::<Vec<_>>(),
                "also": hits.iter().skip(1).map(|x| format!("{} {}d top{}", LEVELS[x.level], x.window, x.k)).collect::<Vec<_>>(),
            }),
            message: format!(
                "concentration: {} {}(s) made {} of {} lookups of {} in {} day(s) to {} (95% lower bound {}), {}: {}",
                best.k,
                level,
                pct(best.held as f64 / best.n as f64),
                best.n,
                m.name,
                best.window,
                crate::time::date(d * DAY),
                pct(best.lower),
                if best.ref_n > 0 {
                    format!("against {} in the {} days before", pct(best.ref_share), cfg.history_days)
                } else {
                    "with no history before".to_string()
                },
                top_text.join(", ")
            ),
            per_name: false,
        });
    }
}
