//! The `--events` file: dated events to lay beside the detectors' findings.
//!
//! Parses the `date,label` CSV, finds the events near each burst day and
//! quiet period, and works out how often such a coincidence is to be
//! expected by chance (see [`super::CAVEAT`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::{parse_when, Report, ReportError, DAY};

/// Days within which an event counts as near a burst or quiet period.
pub(super) const NEAR_DAYS: i64 = 2;

/// The events file, parsed: where it came from and its events, oldest first.
#[derive(Debug, Clone)]
pub struct Events {
    /// The file name as given (shown in the report).
    pub(super) path: String,
    /// The events, oldest first.
    pub(super) rows: Vec<EventRow>,
}

impl Events {
    /// Reads and parses the events file at `path`.
    pub fn load(path: &Path) -> Result<Self, ReportError> {
        let text = std::fs::read_to_string(path).map_err(|source| ReportError::ReadEvents {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses the text of the events file `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ReportError> {
        Ok(Self {
            path: path.display().to_string(),
            rows: parse_events(path, text)?,
        })
    }
}

/// One line of the events file.
#[derive(Debug, Clone)]
pub(super) struct EventRow {
    pub(super) ts: i64,
    /// Given as a date without a time (drawn at mid-day).
    pub(super) date_only: bool,
    pub(super) label: String,
}

/// A burst day or quiet period with the events near it.
#[derive(Debug)]
pub(super) struct Coincidence {
    pub(super) kind: &'static str,
    pub(super) from_day: i64,
    pub(super) to_day: i64,
    /// Alerts behind it (bursts of one day are grouped).
    pub(super) alerts: usize,
    /// (index into the events, offset in days: before start < 0, during 0, after end > 0).
    pub(super) events: Vec<(usize, i64)>,
}

/// How often a chance alignment is to be expected.
#[derive(Debug)]
pub(super) struct Chance {
    pub(super) span_days: i64,
    pub(super) covered_days: i64,
    pub(super) burst_days: usize,
    pub(super) burst_days_near: usize,
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
pub(super) fn parse_events(path: &Path, text: &str) -> Result<Vec<EventRow>, ReportError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut seen_line = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let bad = |reason: &str| ReportError::Events {
            path: path.to_path_buf(),
            line: i + 1,
            reason: reason.to_string(),
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

/// The events near each burst day and quiet period of `r`, and how many
/// burst days would have an event nearby by chance alone.
pub(super) fn coincidences(r: &Report, events: &[EventRow]) -> (Vec<Coincidence>, Option<Chance>) {
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
        assert!(e.is_usage(), "{e:?}");
        assert!(e.to_string().contains("ev.csv:2"), "{e}");
        assert!(parse_events(p, "2016-07-08\n").is_err());
        assert!(parse_events(p, "2016-07-08,\"open\n").is_err());
        assert!(parse_events(p, "2016-07-08,a\ndate,label\n").is_err());
        assert!(parse_events(p, "300000-01-01,far\n").is_err());
        assert!(parse_when("4294967295-01-01").is_none());
        assert_eq!(parse_when("2016-07-08"), crate::time::parse("2016-07-08"));
    }
}
