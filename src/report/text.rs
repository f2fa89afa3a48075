//! The report as aligned plain text (`--format text`, the default): one
//! function per section, in the order they are printed.

use std::io::{Result, Write};

use super::events::NEAR_DAYS;
use super::{day_date, ev_f64, ev_i64, per_day, share, short, Events, Report, CAVEAT, HOUR};
use crate::time;

/// Writes the whole report.
pub fn write_text(out: &mut impl Write, r: &Report) -> Result<()> {
    writeln!(out, "Evidence report: {}", r.entry)?;
    if r.total == 0 {
        return no_lookups(out, r);
    }
    let (Some(first), Some(last), Some(span)) = (r.first, r.last, r.span_days()) else {
        return Ok(());
    };
    summary(out, r, first, last, span)?;
    queriers(out, r)?;
    lookups_per_day(out, r)?;
    bursts(out, r)?;
    quiet_periods(out, r)?;
    resumptions(out, r)?;
    rcodes(out, r)?;
    answer_history(out, r)?;
    names(out, r)?;
    if let Some(evs) = &r.events {
        events(out, r, evs)?;
    }
    Ok(())
}

/// ` between A and B` for a report limited in time, else empty.
fn range(r: &Report) -> String {
    match (r.from, r.to) {
        (None, None) => String::new(),
        (f, t) => format!(
            " between {} and {}",
            f.map_or("the start".to_string(), short),
            t.map_or("the end".to_string(), short)
        ),
    }
}

/// The one line said when nothing matched.
fn no_lookups(out: &mut impl Write, r: &Report) -> Result<()> {
    let range = range(r);
    if let Some(note) = r.pruned_note() {
        return writeln!(out, "No lookups of {}{range} left: {note}.", r.entry);
    }
    writeln!(
        out,
        "No lookups of {} in the database{range} (neither as a watch entry nor as a query name).",
        r.entry
    )?;
    Ok(())
}

/// How the entry matched, the span and the totals.
fn summary(
    out: &mut impl Write,
    r: &Report,
    first: i64,
    last: i64,
    span: (i64, i64),
) -> Result<()> {
    let range = range(r);
    let (lo, hi) = span;
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
    Ok(())
}

/// Who looked the entry up, how often and how regularly.
fn queriers(out: &mut impl Write, r: &Report) -> Result<()> {
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
    Ok(())
}

/// Lookups per day with a bar.
fn lookups_per_day(out: &mut impl Write, r: &Report) -> Result<()> {
    writeln!(out)?;
    if r.hourly() {
        return lookups_per_hour(out, r);
    }
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
    Ok(())
}

/// Lookups per hour (a span under three days), with the NXDOMAIN flips
/// and new names of each hour.
fn lookups_per_hour(out: &mut impl Write, r: &Report) -> Result<()> {
    writeln!(out, "Lookups per hour (UTC)")?;
    let hours = r.per_hour();
    let markers = r.markers();
    let max = hours.iter().map(|h| h.1).max().unwrap_or(0).max(1);
    let rows: Vec<Vec<String>> = hours
        .iter()
        .map(|(h, c)| {
            let bar = ((*c as f64 / max as f64) * 40.0).round() as usize;
            let marks: Vec<&str> = markers
                .iter()
                .filter(|m| m.ts.div_euclid(HOUR) == *h)
                .map(|m| m.label.as_str())
                .collect();
            vec![
                hour_label(*h),
                c.to_string(),
                "#".repeat(bar),
                marks.join("; "),
            ]
        })
        .collect();
    table(
        out,
        &["HOUR", "COUNT", "", "MARKERS"],
        &[false, true, false, false],
        &rows,
    )?;
    Ok(())
}

/// `2016-05-04 13:00` of an hour number (hours since the epoch).
pub(super) fn hour_label(hour: i64) -> String {
    let s = time::rfc3339(hour.saturating_mul(HOUR));
    format!(
        "{} {}",
        s.get(..10).unwrap_or(""),
        s.get(11..16).unwrap_or("")
    )
}

/// The burst alerts.
fn bursts(out: &mut impl Write, r: &Report) -> Result<()> {
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
    Ok(())
}

/// The quiet alerts and what ended them.
fn quiet_periods(out: &mut impl Write, r: &Report) -> Result<()> {
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
    Ok(())
}

/// The resumed alerts (nothing when there are none).
fn resumptions(out: &mut impl Write, r: &Report) -> Result<()> {
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
    Ok(())
}

/// Rcode counts and the points where a name's rcode changed.
fn rcodes(out: &mut impl Write, r: &Report) -> Result<()> {
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
    Ok(())
}

/// The distinct answer sets of each name.
fn answer_history(out: &mut impl Write, r: &Report) -> Result<()> {
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
    Ok(())
}

/// The names seen for the entry.
fn names(out: &mut impl Write, r: &Report) -> Result<()> {
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
    Ok(())
}

/// The events near each burst and quiet period, the chance of that, and the caveat.
fn events(out: &mut impl Write, r: &Report, evs: &Events) -> Result<()> {
    let Events { path, rows: evs } = evs;
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
    Ok(())
}

// ------------ formatting helpers ------------------------------------------------------

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

/// Writes an aligned table indented by two spaces; `right[i]` aligns column i
/// to the right.
fn table(out: &mut impl Write, head: &[&str], right: &[bool], rows: &[Vec<String>]) -> Result<()> {
    table_at(out, 2, head, right, rows)
}

/// [`table`] indented by `indent` spaces.
fn table_at(
    out: &mut impl Write,
    indent: usize,
    head: &[&str],
    right: &[bool],
    rows: &[Vec<String>],
) -> Result<()> {
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
