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

impl LookupDetector for RcodeDetector {
    fn on_lookup(&mut self, cfg: &DetectorConfig, l: &Lookup, out: &mut Vec<Finding>) {
        let c = &cfg.rcode_change;
        let Some(rcode) = l.rcode.as_deref().filter(|_| l.answered) else {
            return;
        };
        if l.qname.is_empty() {
            return;
        }
        let Some(st) = self
            .names
            .get_or_admit(&l.qname, l.ts_us, watched(l), NameRcode::default)
        else {
            return;
        };
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

    fn evictions(&mut self) -> u64 {
        self.names.take_evicted()
    }
}

#[derive(Debug, Default)]
struct RrSet {
    first: i64,
    last_new: i64,
    responses: u64,
    data: FxHashMap<String, i64>,
    last: Vec<String>,
}

/// `answer_change`.
#[derive(Debug)]
pub struct AnswerDetector {
    /// Keyed by `qname qtype` (a space cannot occur in either).
    sets: NameTable<RrSet>,
    key: String,
}

impl Default for AnswerDetector {
    fn default() -> Self {
        Self {
            sets: NameTable::new(MAX_TRACKED, ADMIT),
            key: String::new(),
        }
    }
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
        let Some(st) = self.sets.get_or_admit(&self.key, ts, watched(l), || RrSet {
            first: ts,
            last_new: ts,
            ..RrSet::default()
        }) else {
            return;
        };
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

    fn evictions(&mut self) -> u64 {
        self.sets.take_evicted()
    }
}
