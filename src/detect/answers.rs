//! Properties of a name rather than of an entry, judged once per lookup:
//!
//! * `rcode_change`: a name with an established NOERROR state that starts
//!   failing **persistently** — `nxdomain_streak` NXDOMAIN answers in a row
//!   (an authoritative "gone"), or `failure_streak` SERVFAIL/REFUSED answers
//!   in a row spanning `failure_min_s` (a single SERVFAIL is a transient) —
//!   and its recovery once the failure had been raised.
//! * `answer_change`: per (name, query type), data never seen within
//!   `memory_days` in an answer set that had been stable for `stable_h`.
//!   Round-robin rotation and subsets of known data are not changes; a pool
//!   that keeps producing new data (a CDN) is never stable and never alerts.
//!   The alert names what was added and what the set held before.

use std::collections::BTreeSet;

use rustc_hash::FxHashMap;
use serde_json::json;

use super::bounded::NameTable;
use super::config::{AnswerChange, RcodeChange};
use super::{DetectorConfig, Finding, Kind, LookupDetector, DAY, HOUR};
use crate::model::Lookup;
use crate::model::Severity;

/// Names (or name × type sets) tracked at most.
pub const MAX_TRACKED: usize = 200_000;
/// Sightings a name matched only by a catch-all entry (`.`) needs before
/// it gets state ([`NameTable`]).
pub const ADMIT: u8 = 2;

/// Whether the lookup matched an entry more specific than the catch-all.
fn watched(l: &Lookup) -> bool {
    l.entry != "."
}

fn failing(r: &str) -> bool {
    matches!(r, "NXDOMAIN" | "SERVFAIL" | "REFUSED")
}

#[derive(Debug, Default)]
struct NameRcode {
    noerror: u32,
    streak_rcode: String,
    streak: u32,
    streak_start: i64,
    raised: Option<String>,
}

/// `rcode_change`.
#[derive(Debug)]
pub struct RcodeDetector {
    names: NameTable<NameRcode>,
}

impl Default for RcodeDetector {
    fn default() -> Self {
        Self {
            names: NameTable::new(MAX_TRACKED, ADMIT),
        }
    }
}

/// `rcode_change` for one answered lookup of a name with state `st`.
fn judge_rcode(
    st: &mut NameRcode,
    c: &RcodeChange,
    rcode: &str,
    l: &Lookup,
    out: &mut Vec<Finding>,
) {
    if rcode == "NOERROR" {
        st.noerror = st.noerror.saturating_add(1);
        st.streak = 0;
        if let Some(was) = st.raised.take() {
            if c.enabled {
                out.push(Finding {
                    kind: Kind::RcodeChange,
                    severity: Severity::Warning,
                    ts_us: l.ts_us,
                    name: l.qname.clone(),
                    querier: None,
                    window: "since the failure".into(),
                    window_start_us: st.streak_start,
                    evidence: json!({"from": was, "to": "NOERROR", "qtype": l.qtype, "server": l.server.ip().to_string(),
                                     "failing_since": crate::time::rfc3339(st.streak_start)}),
                    message: format!(
                        "{} answers NOERROR again (was {} since {}) for {} {}",
                        l.qname,
                        was,
                        crate::time::rfc3339(st.streak_start),
                        l.qtype,
                        l.server.ip()
                    ),
                    per_name: true,
                });
            }
        }
        return;
    }
    if !failing(rcode) {
        return;
    }
    if st.streak_rcode != rcode || st.streak == 0 {
        st.streak_rcode = rcode.to_string();
        st.streak = 0;
        st.streak_start = l.ts_us;
    }
    st.streak += 1;
    if st.raised.is_some() || st.noerror < c.min_established {
        return;
    }
    let span_s = (l.ts_us - st.streak_start) as f64 / 1e6;
    let confirmed = if rcode == "NXDOMAIN" {
        st.streak >= c.nxdomain_streak
    } else {
        st.streak >= c.failure_streak && span_s >= c.failure_min_s
    };
    if !confirmed {
        return;
    }
    st.raised = Some(rcode.to_string());
    if !c.enabled {
        return;
    }
    out.push(Finding {
        kind: Kind::RcodeChange,
        severity: if rcode == "NXDOMAIN" {
            Severity::Critical
        } else {
            Severity::Warning
        },
        ts_us: l.ts_us,
        name: l.qname.clone(),
        querier: None,
        window: format!("{} answers", st.streak),
        window_start_us: st.streak_start,
        evidence: json!({"from": "NOERROR", "to": rcode, "qtype": l.qtype, "server": l.server.ip().to_string(),
                         "consecutive": st.streak, "since": crate::time::rfc3339(st.streak_start),
                         "span_s": span_s, "noerror_before": st.noerror}),
        message: format!(
            "{} now answers {} (was NOERROR): {} answers in a row since {} ({} {})",
            l.qname,
            rcode,
            st.streak,
            crate::time::rfc3339(st.streak_start),
            l.qtype,
            l.server.ip()
        ),
        per_name: true,
    });
}

impl LookupDetector for RcodeDetector {
    fn on_lookup(&mut self, cfg: &DetectorConfig, l: &Lookup, out: &mut Vec<Finding>) {
        let c = &cfg.rcode_change;
        let Some(rcode) = l.rcode.as_deref().filter(|_| l.answered) else {
            return;
        };
        if l.qname.is_empty() {
            return;
        }
        // One lookup of the name's state (not a `contains` and a `get`).
        self.names
            .with_state(&l.qname, l.ts_us, watched(l), NameRcode::default, |st| {
                judge_rcode(st, c, rcode, l, out);
            });
    }

    fn evictions(&mut self) -> u64 {
        self.names.take_evicted()
    }
}

#[derive(Debug)]
struct RrSet {
    first: i64,
    last_new: i64,
    responses: u64,
    /// `type data` → when last seen.
    data: FxHashMap<String, i64>,
    /// The latest answer set (`type data`, sorted, no repeats); every item
    /// is in `data`, seen at `last_ts`.
    last: Vec<String>,
    /// When `last` was seen.
    last_ts: i64,
    /// At most the oldest time in `data` (`i64::MAX` when empty): while
    /// `now - oldest` is within the memory nothing is forgotten, and the
    /// pass over `data` is skipped.
    oldest: i64,
}

impl RrSet {
    fn new(ts: i64) -> Self {
        Self {
            first: ts,
            last_new: ts,
            responses: 0,
            data: FxHashMap::default(),
            last: Vec::new(),
            last_ts: ts,
            oldest: i64::MAX,
        }
    }

    /// Forgets data not seen within `memory` of `ts`.
    fn forget(&mut self, ts: i64, memory: i64) {
        if ts.saturating_sub(self.oldest) <= memory {
            return;
        }
        self.data
            .retain(|_, seen| ts.saturating_sub(*seen) <= memory);
        self.oldest = self.data.values().copied().min().unwrap_or(i64::MAX);
    }

    /// Whether the answers of `l` are the set `last` (as sets), checked
    /// without building the set (`buf` is scratch).
    fn same_as_last(&self, l: &Lookup, buf: &mut String) -> bool {
        // Which items of `last` the answers hit, as bits.
        if self.last.is_empty() || self.last.len() > 64 {
            return false;
        }
        let mut hit = 0u64;
        for a in &l.answers {
            set_item(buf, &a.rtype, &a.data);
            match self.last.binary_search(buf) {
                Ok(i) => hit |= 1 << i,
                Err(_) => return false,
            }
        }
        hit.count_ones() as usize == self.last.len()
    }
}

/// Writes the answer-set item `type data` into `buf`.
fn set_item(buf: &mut String, rtype: &str, data: &str) {
    buf.clear();
    buf.push_str(rtype);
    buf.push(' ');
    buf.push_str(data);
}

/// `answer_change`.
#[derive(Debug)]
pub struct AnswerDetector {
    /// Keyed by `qname qtype` (a space cannot occur in either).
    sets: NameTable<RrSet>,
    key: String,
    /// Scratch for one answer-set item.
    item: String,
}

impl Default for AnswerDetector {
    fn default() -> Self {
        Self {
            sets: NameTable::new(MAX_TRACKED, ADMIT),
            key: String::new(),
            item: String::new(),
        }
    }
}

/// `answer_change` for one answered lookup with the state `st` of its
/// (name, type); `item` is scratch.
fn judge_answers(
    st: &mut RrSet,
    c: &AnswerChange,
    l: &Lookup,
    item: &mut String,
    out: &mut Vec<Finding>,
) {
    let ts = l.ts_us;
    st.responses += 1;
    let memory = (c.memory_days * DAY as f64) as i64;
    // The common case: the same set as last time, none of it forgotten
    // since (it was all seen at `last_ts`). Nothing is added, so all
    // that changes is when its items were seen.
    if ts.saturating_sub(st.last_ts) <= memory && st.same_as_last(l, item) {
        st.forget(ts, memory);
        for d in &st.last {
            match st.data.get_mut(d) {
                Some(seen) => *seen = ts,
                None => {
                    st.data.insert(d.clone(), ts);
                }
            }
        }
        st.last_ts = ts;
        st.oldest = st.oldest.min(ts);
        return;
    }
    st.forget(ts, memory);
    let mut set: Vec<String> = l
        .answers
        .iter()
        .map(|a| {
            let mut item = String::with_capacity(a.rtype.len() + 1 + a.data.len());
            set_item(&mut item, &a.rtype, &a.data);
            item
        })
        .collect();
    set.sort_unstable();
    set.dedup();
    let added: Vec<String> = set
        .iter()
        .filter(|d| !st.data.contains_key(*d))
        .cloned()
        .collect();
    // What the set held before: needed only for an alert.
    let before: BTreeSet<String> = if added.is_empty() {
        BTreeSet::new()
    } else {
        st.data.keys().cloned().collect()
    };
    for d in &set {
        match st.data.get_mut(d) {
            Some(seen) => *seen = ts,
            None => {
                st.data.insert(d.clone(), ts);
            }
        }
    }
    st.oldest = st.oldest.min(ts);
    st.last_ts = ts;
    let previous = std::mem::replace(&mut st.last, set);
    if added.is_empty() {
        return;
    }
    let stable_for = ts.saturating_sub(st.last_new);
    st.last_new = ts;
    let learnt = ts.saturating_sub(st.first) as f64 >= c.learning_h * HOUR as f64
        && st.responses > c.min_responses;
    let set = &st.last;
    if !c.enabled || !learnt || (stable_for as f64) < c.stable_h * HOUR as f64 {
        return;
    }
    let removed: Vec<&String> = previous.iter().filter(|d| !set.contains(*d)).collect();
    out.push(Finding {
        kind: Kind::AnswerChange,
        severity: Severity::Warning,
        ts_us: ts,
        name: l.qname.clone(),
        querier: None,
        window: format!("{:.0}d memory", c.memory_days),
        window_start_us: ts.saturating_sub((c.memory_days * 86_400e6) as i64),
        evidence: json!({
            "qtype": l.qtype,
            "added": added,
            "removed": removed,
            "now": set,
            "known_before": before,
            "stable_h": stable_for as f64 / HOUR as f64,
            "responses": st.responses,
            "server": l.server.ip().to_string(),
        }),
        message: format!(
            "answers for {} {} changed: new [{}] never seen in {:.0} days (set stable for {:.0} h; before [{}])",
            l.qname,
            l.qtype,
            added.join(", "),
            c.memory_days,
            stable_for as f64 / HOUR as f64,
            previous.join(", ")
        ),
        per_name: true,
    });
}

impl LookupDetector for AnswerDetector {
    fn on_lookup(&mut self, cfg: &DetectorConfig, l: &Lookup, out: &mut Vec<Finding>) {
        let c = &cfg.answer_change;
        if !l.answered || l.rcode.as_deref() != Some("NOERROR") || l.answers.is_empty() {
            return;
        }
        let ts = l.ts_us;
        self.key.clear();
        self.key.push_str(&l.qname);
        self.key.push(' ');
        self.key.push_str(&l.qtype);
        let item = &mut self.item;
        // One lookup of the set's state (not a `contains` and a `get`).
        self.sets.with_state(
            &self.key,
            ts,
            watched(l),
            || RrSet::new(ts),
            |st| {
                judge_answers(st, c, l, item, out);
            },
        );
    }

    fn evictions(&mut self) -> u64 {
        self.sets.take_evicted()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use super::*;
    use crate::model::Answer;

    /// What an alert of [`plain`] says: added, the set before, what was
    /// known before, stable for (µs), responses.
    type Said = (Vec<String>, Vec<String>, BTreeSet<String>, i64, u64);

    /// The state of `answer_change` as first written: every lookup builds
    /// its set and sweeps the memory.
    #[derive(Default)]
    struct Plain {
        first: i64,
        last_new: i64,
        responses: u64,
        data: HashMap<String, i64>,
        last: Vec<String>,
    }

    /// The judgement of `answer_change` as first written, which the fast
    /// path must reproduce exactly.
    fn plain(sets: &mut HashMap<String, Plain>, c: &AnswerChange, l: &Lookup) -> Option<Said> {
        let ts = l.ts_us;
        let st = sets
            .entry(format!("{} {}", l.qname, l.qtype))
            .or_insert_with(|| Plain {
                first: ts,
                last_new: ts,
                ..Plain::default()
            });
        st.responses += 1;
        let memory = (c.memory_days * DAY as f64) as i64;
        st.data.retain(|_, seen| ts.saturating_sub(*seen) <= memory);
        let mut set: Vec<String> = l
            .answers
            .iter()
            .map(|a| format!("{} {}", a.rtype, a.data))
            .collect();
        set.sort_unstable();
        set.dedup();
        let added: Vec<String> = set
            .iter()
            .filter(|d| !st.data.contains_key(*d))
            .cloned()
            .collect();
        let before: BTreeSet<String> = if added.is_empty() {
            BTreeSet::new()
        } else {
            st.data.keys().cloned().collect()
        };
        for d in &set {
            st.data.insert(d.clone(), ts);
        }
        let previous = std::mem::replace(&mut st.last, set);
        if added.is_empty() {
            return None;
        }
        let stable_for = ts.saturating_sub(st.last_new);
        st.last_new = ts;
        let learnt = ts.saturating_sub(st.first) as f64 >= c.learning_h * HOUR as f64
            && st.responses > c.min_responses;
        if !learnt || (stable_for as f64) < c.stable_h * HOUR as f64 {
            return None;
        }
        Some((added, previous, before, stable_for, st.responses))
    }

    #[test]
    fn the_fast_path_judges_as_the_plain_sweep_does() {
        let mut cfg = DetectorConfig::default();
        let c = &mut cfg.answer_change;
        c.learning_h = 2.0;
        c.min_responses = 3;
        c.stable_h = 1.0;
        c.memory_days = 0.25;
        let pool = [
            "192.0.2.1",
            "192.0.2.2",
            "192.0.2.3",
            "192.0.2.4",
            "2001:db8::1",
        ];
        let mut det = AnswerDetector::default();
        let mut sets = HashMap::new();
        // A small deterministic generator (xorshift).
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut ts: i64 = 1_000 * HOUR;
        let mut alerts = 0;
        for _ in 0..20_000 {
            // Mostly small steps, some back in time, some past the memory.
            ts += match next(20) {
                0 => -(next(600) as i64) * 1_000_000,
                1 => (next(12) as i64) * HOUR,
                _ => (next(900) as i64) * 1_000_000,
            };
            let name = ["a.example", "b.example"][next(2) as usize];
            // Mostly the same set as last time, in any order, repeats too.
            let n = 1 + next(3) as usize;
            let answers: Vec<Answer> = (0..n)
                .map(|_| {
                    let wide = next(8) == 0;
                    let data = pool[next(if wide { 5 } else { 2 }) as usize];
                    Answer {
                        name: name.into(),
                        rtype: if data.contains(':') { "AAAA" } else { "A" }.into(),
                        ttl: 60,
                        data: data.into(),
                    }
                })
                .collect();
            let l = Lookup {
                ts_us: ts,
                entry: name.into(),
                qname: name.into(),
                qtype: "A".into(),
                rcode: Some("NOERROR".into()),
                answered: true,
                answers,
                ..Lookup::default()
            };
            let mut out = Vec::new();
            det.on_lookup(&cfg, &l, &mut out);
            let want = plain(&mut sets, &cfg.answer_change, &l);
            assert_eq!(out.len(), usize::from(want.is_some()), "at {ts}: {want:?}");
            let (Some(f), Some((added, previous, before, stable_for, responses))) =
                (out.first(), want)
            else {
                continue;
            };
            alerts += 1;
            let ev = &f.evidence;
            assert_eq!(ev["added"], json!(added));
            assert_eq!(ev["known_before"], json!(before));
            assert_eq!(ev["stable_h"], json!(stable_for as f64 / HOUR as f64));
            assert_eq!(ev["responses"], json!(responses));
            assert!(
                f.message
                    .contains(&format!("before [{}]", previous.join(", "))),
                "{}",
                f.message
            );
        }
        assert!(
            alerts > 10,
            "{alerts} alerts: the generator should provoke some"
        );
    }
}
