//! `new_querier` and `new_name`: a newcomer where newcomers are rare.
//!
//! A name asked by thousands of resolvers meets new ones every day, and an
//! office resolver meets new client addresses with every DHCP lease; neither
//! is news. So:
//!
//! * queriers are judged as **organisations** (when the operator gives an
//!   organisation file) or **networks** (`/24`, `/48`): a new address in a
//!   known client subnet or a known bank is not a new querier;
//! * each entry's **rate of newcomers** is modelled: the newcomers of the
//!   last two weeks (from the day after the entry's first lookup; leaving
//!   out the last two days, so that a second newcomer right after a first
//!   still counts as news) give a Poisson rate
//!   `λ = (k + ½) / days`; a newcomer alerts only when one on a given day was
//!   improbable, `1 − e^(−λ) < p_value` (about ten quiet days at the
//!   default 0.05);
//! * a new querier must make `min_lookups` lookups within a day of its first
//!   (a long-tail resolver asking once is not a new user of the name);
//! * nothing is judged during the entry's learning period.
//!
//! `new_name` applies the same to names resolving to a watched address (a
//! shared-hosting address meets new names all the time; a mail server that
//! had one name for months does not). Every new name is its own alert: the
//! suppression key includes the name.

use std::collections::BTreeMap;
use std::net::IpAddr;

use rustc_hash::FxHashMap;
use serde_json::json;

use std::sync::Arc;

use super::config::Newcomer;
use super::reference::Labels;
use super::{evict_lru, Cx, Detector, Finding, Kind, Learnt, DAY, HOUR};
use crate::model::Lookup;
use crate::model::Severity;

/// Newcomers per day of one entry.
#[derive(Debug, Default)]
struct Arrivals {
    days: BTreeMap<i64, u32>,
}

/// The rate test of a newcomer.
#[derive(Debug)]
struct RateTest {
    recent: u32,
    days: i64,
    lambda: f64,
    p: f64,
}

impl Arrivals {
    fn record(&mut self, day: i64) {
        *self.days.entry(day).or_insert(0) += 1;
        while self
            .days
            .first_key_value()
            .is_some_and(|(d, _)| *d < day - 32)
        {
            self.days.pop_first();
        }
    }

    /// The newcomer rate before `day`, counting from `since_day` at the earliest.
    fn test(&self, day: i64, since_day: i64) -> Option<RateTest> {
        let to = day - 2;
        let from = (day - 16).max(since_day);
        let days = to - from;
        if days < 1 {
            return None;
        }
        let recent: u32 = self.days.range(from..to).map(|(_, c)| *c).sum();
        let lambda = (f64::from(recent) + 0.5) / days as f64;
        Some(RateTest {
            recent,
            days,
            lambda,
            p: -(-lambda).exp_m1(),
        })
    }
}

fn learning_over(cfg: &Newcomer, first_seen: i64, now: i64) -> bool {
    now.saturating_sub(first_seen) as f64 >= cfg.learning_h * HOUR as f64
}

/// First day whose newcomers count in the rate: the day after the entry's
/// first lookup (its first day brings the whole population at once).
fn rate_since_day(first_seen: i64) -> i64 {
    first_seen.div_euclid(DAY) + 1
}

/// A newcomer in its first day, watched for the share it takes.
#[derive(Debug)]
struct Young {
    first: i64,
    count: u64,
    querier: IpAddr,
    name: String,
    alerted: bool,
}

/// Fewest lookups of a newcomer judged by its share.
const SHARE_MIN_LOOKUPS: u64 = 20;

impl Young {
    /// Counts one more lookup at `ts`; the share of the entry's lookups
    /// since the newcomer's first, when it newly reaches `min_share`.
    fn count(&mut self, ts: i64, series: &super::series::Series, min_share: f64) -> Option<f64> {
        self.count += 1;
        if self.alerted || min_share <= 0.0 || self.count < SHARE_MIN_LOOKUPS {
            return None;
        }
        let total: u64 = (self.first.div_euclid(HOUR)..=ts.div_euclid(HOUR))
            .map(|h| series.count(h))
            .sum();
        let share = self.count as f64 / total.max(self.count) as f64;
        (share >= min_share).then(|| {
            self.alerted = true;
            share
        })
    }
}

/// Young newcomers of one entry: counted, and forgotten after a day.
#[derive(Debug, Default)]
struct Youngs(FxHashMap<String, Young>);

impl Youngs {
    fn add(&mut self, key: &str, first: i64, count: u64, querier: IpAddr, name: &str) {
        if self.0.len() >= 1000 {
            self.0.retain(|_, y| first - y.first <= DAY);
        }
        if self.0.len() < 1000 {
            self.0.insert(
                key.to_string(),
                Young {
                    first,
                    count,
                    querier,
                    name: name.to_string(),
                    alerted: false,
                },
            );
        }
    }

    /// Counts a lookup of `key`; the young record and its new share, if it
    /// just reached `min_share`.
    fn see(
        &mut self,
        key: &str,
        ts: i64,
        series: &super::series::Series,
        min_share: f64,
    ) -> Option<(&Young, f64)> {
        if self.0.get(key).is_some_and(|y| ts - y.first > DAY) {
            self.0.remove(key);
            return None;
        }
        let y = self.0.get_mut(key)?;
        let share = y.count(ts, series, min_share)?;
        Some((&*y, share))
    }
}

#[derive(Debug)]
struct Pending {
    first: i64,
    count: u64,
    querier: IpAddr,
    name: String,
}

#[derive(Debug, Default)]
struct QState {
    known: FxHashMap<String, i64>,
    pending: FxHashMap<String, Pending>,
    arrivals: Arrivals,
    young: Youngs,
}

/// `new_querier`.
#[derive(Debug, Default)]
pub struct NewQuerier {
    state: FxHashMap<usize, QState>,
    labels: Labels,
    evicted: u64,
}

impl NewQuerier {
    /// The organisation of `ip` when one is known, else its network.
    fn group(&mut self, cx: &Cx<'_>, ip: IpAddr) -> (Arc<str>, &'static str) {
        match self.labels.of(cx.reference, ip) {
            [Some(o), _, _] => (o.clone(), "organisation"),
            [None, Some(n), _] => (n.clone(), "network"),
            [None, None, _] => (Arc::from(cx.reference.network(ip).label()), "network"),
        }
    }
}

impl Detector for NewQuerier {
    fn learn(&mut self, cx: &mut Cx<'_>, what: &Learnt) {
        if let Learnt::Querier(ip, _, last, _) = what {
            let (g, _) = self.group(cx, *ip);
            let st = self.state.entry(cx.idx).or_default();
            let slot = st.known.entry(g.to_string()).or_insert(*last);
            *slot = (*slot).max(*last);
        }
    }

    fn on_lookup(&mut self, cx: &mut Cx<'_>, l: &Lookup, out: &mut Vec<Finding>) {
        let cfg = &cx.cfg.new_querier;
        let ip = l.querier.ip();
        let (group, level) = self.group(cx, ip);
        let group: &str = &group;
        let ts = l.ts_us;
        let st = self.state.entry(cx.idx).or_default();
        if let Some(seen) = st.known.get_mut(group) {
            *seen = ts;
            if !st.young.0.is_empty() && cfg.enabled {
                if let Some((y, share)) = st.young.see(group, ts, &cx.entry.series, cfg.min_share) {
                    out.push(share_finding(
                        Kind::NewQuerier,
                        &format!("new querier {level} {group}"),
                        group,
                        y,
                        share,
                        cx,
                        ts,
                    ));
                }
            }
            return;
        }
        // First lookup of a group: a newcomer, counted in the entry's rate.
        if !st.pending.contains_key(group) {
            st.arrivals.record(ts.div_euclid(DAY));
        }
        let p = st
            .pending
            .entry(group.to_string())
            .or_insert_with(|| Pending {
                first: ts,
                count: 0,
                querier: ip,
                name: l.qname.clone(),
            });
        p.count += 1;
        let (first, count, first_querier, first_name) =
            (p.first, p.count, p.querier, p.name.clone());
        let expired = ts - first > DAY;
        let qualified = count >= cfg.min_lookups;
        if !(qualified || expired) {
            return;
        }
        st.pending.remove(group);
        st.known.insert(group.to_string(), ts);
        self.evicted += evict_lru(&mut st.known, cx.cfg.max_queriers_per_entry, |v| *v);
        if expired && !qualified {
            return;
        }
        let m = &*cx.entry;
        if !cfg.enabled || !learning_over(cfg, m.first_seen, first) {
            return;
        }
        let Some(t) = st
            .arrivals
            .test(first.div_euclid(DAY), rate_since_day(m.first_seen))
        else {
            return;
        };
        if t.p >= cfg.p_value {
            // Common newcomers: news only if it takes a large share at once.
            st.young
                .add(group, first, count, first_querier, &first_name);
            return;
        }
        out.push(Finding {
            kind: Kind::NewQuerier,
            severity: Severity::Warning,
            ts_us: ts,
            name: first_name.clone(),
            querier: Some(group.to_string()),
            window: "14d".into(),
            window_start_us: ts.saturating_sub(14 * super::DAY),
            evidence: json!({
                "level": level,
                "group": group,
                "first_querier": first_querier.to_string(),
                "first_seen": crate::time::rfc3339(first),
                "lookups_so_far": count,
                "known_groups": st.known.len() - 1,
                "newcomers_before": t.recent,
                "over_days": t.days,
                "newcomer_rate_per_day": t.lambda,
                "p_newcomer_day": t.p,
                "entry_first_seen": crate::time::rfc3339(m.first_seen),
            }),
            message: format!(
                "new querier {} {} ({}) looked up {} {} times since {}; {} had {} newcomer(s) in the {} days before (p = {:.3})",
                level,
                group,
                first_querier,
                first_name,
                count,
                crate::time::rfc3339(first),
                m.name,
                t.recent,
                t.days,
                t.p
            ),
            per_name: false,
        });
    }

    fn evictions(&mut self) -> (u64, u64) {
        (std::mem::take(&mut self.evicted), 0)
    }
}

#[derive(Debug, Default)]
struct NState {
    known: FxHashMap<String, i64>,
    arrivals: Arrivals,
    young: Youngs,
}

/// `new_name`: a new name on a watched address.
#[derive(Debug, Default)]
pub struct NewName {
    state: FxHashMap<usize, NState>,
    evicted: u64,
}

impl Detector for NewName {
    fn learn(&mut self, cx: &mut Cx<'_>, what: &Learnt) {
        if let Learnt::Name(name, first) = what {
            self.state
                .entry(cx.idx)
                .or_default()
                .known
                .insert(name.clone(), *first);
        }
    }

    fn on_lookup(&mut self, cx: &mut Cx<'_>, l: &Lookup, out: &mut Vec<Finding>) {
        if !cx.entry.is_address || l.qname.is_empty() {
            return;
        }
        let cfg = &cx.cfg.new_name;
        let ts = l.ts_us;
        let st = self.state.entry(cx.idx).or_default();
        if let Some(seen) = st.known.get_mut(&l.qname) {
            *seen = ts;
            if !st.young.0.is_empty() && cfg.enabled {
                if let Some((y, share)) =
                    st.young.see(&l.qname, ts, &cx.entry.series, cfg.min_share)
                {
                    let mut f = share_finding(
                        Kind::NewName,
                        &format!("new name {}", l.qname),
                        &l.qname,
                        y,
                        share,
                        cx,
                        ts,
                    );
                    f.per_name = true;
                    f.querier = Some(y.querier.to_string());
                    out.push(f);
                }
            }
            return;
        }
        let day = ts.div_euclid(DAY);
        let test = st.arrivals.test(day, rate_since_day(cx.entry.first_seen));
        st.arrivals.record(day);
        let known = st.known.len();
        st.known.insert(l.qname.clone(), ts);
        self.evicted += evict_lru(&mut st.known, cx.cfg.max_names_per_entry, |v| *v);
        if !cfg.enabled || !learning_over(cfg, cx.entry.first_seen, ts) {
            return;
        }
        let Some(t) = test else {
            return;
        };
        if t.p >= cfg.p_value {
            st.young.add(&l.qname, ts, 1, l.querier.ip(), &l.qname);
            return;
        }
        let ptr = l.qtype == "PTR";
        let answers: Vec<String> = l
            .answers
            .iter()
            .map(|a| format!("{} {}", a.rtype, a.data))
            .collect();
        out.push(Finding {
            kind: Kind::NewName,
            severity: Severity::Critical,
            ts_us: ts,
            name: l.qname.clone(),
            querier: Some(l.querier_ip()),
            window: "14d".into(),
            window_start_us: ts.saturating_sub(14 * super::DAY),
            evidence: json!({
                "qtype": l.qtype,
                "answers": answers,
                "known_names": known,
                "newcomers_before": t.recent,
                "over_days": t.days,
                "newcomer_rate_per_day": t.lambda,
                "p_newcomer_day": t.p,
                "entry_first_seen": crate::time::rfc3339(cx.entry.first_seen),
            }),
            message: if ptr {
                format!(
                    "first reverse (PTR) lookup of watched address {} by {}: {}",
                    cx.entry.name,
                    l.querier.ip(),
                    l.qname
                )
            } else {
                format!(
                    "new name {} resolves to watched address {} (first asked by {}); {} name(s) known, {} new in the {} days before",
                    l.qname,
                    cx.entry.name,
                    l.querier.ip(),
                    known,
                    t.recent,
                    t.days
                )
            },
            per_name: true,
        });
    }

    fn evictions(&mut self) -> (u64, u64) {
        (0, std::mem::take(&mut self.evicted))
    }
}

/// A newcomer that took `share` of the entry's lookups in its first day.
fn share_finding(
    kind: Kind,
    what: &str,
    group: &str,
    y: &Young,
    share: f64,
    cx: &Cx<'_>,
    ts: i64,
) -> Finding {
    let m = &*cx.entry;
    Finding {
        kind,
        severity: Severity::Warning,
        ts_us: ts,
        name: y.name.clone(),
        querier: Some(group.to_string()),
        window: "1d".into(),
        window_start_us: ts.saturating_sub(super::DAY),
        evidence: json!({
            "reason": "large share at once",
            "group": group,
            "first_querier": y.querier.to_string(),
            "first_seen": crate::time::rfc3339(y.first),
            "lookups": y.count,
            "share": share,
            "entry_first_seen": crate::time::rfc3339(m.first_seen),
        }),
        message: format!(
            "{} made {} of the lookups of {} since its first at {} ({} lookups; newcomers are common here, a share like this is not)",
            what,
            super::pct(share),
            m.name,
            crate::time::rfc3339(y.first),
            y.count
        ),
        per_name: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_of_newcomers_decides() {
        let mut a = Arrivals::default();
        // Ten quiet days after learning: a newcomer is news.
        let t = a.test(20, 8).unwrap();
        assert_eq!(t.recent, 0);
        assert!(t.p < 0.05, "{t:?}");
        // Five quiet days are not enough evidence of a stable population.
        assert!(a.test(20, 13).unwrap().p > 0.05);
        // One newcomer every other day: a new one is ordinary.
        for d in (4..20).step_by(2) {
            a.record(d);
        }
        assert!(a.test(20, 0).unwrap().p > 0.3);
        // The last two days do not count against the next newcomer.
        let mut b = Arrivals::default();
        b.record(19);
        assert_eq!(b.test(20, 0).unwrap().recent, 0);
    }
}
