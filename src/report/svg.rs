//! The timeline chart (`--svg FILE`): lookups per day stacked by querier,
//! bursts as markers, quiet periods shaded, events as dashed lines. The SVG
//! is self-contained (no scripts, no external references).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use super::{day_date, short, Events, MarkerKind, QuerierRow, Report, ReportError, DAY, HOUR};
use crate::model::Alert;
use crate::time;

/// At most this many columns in the SVG (days are aggregated beyond it).
const MAX_COLUMNS: i64 = 2000;
/// Queriers drawn in their own colour in the SVG.
const TOP_DRAWN: usize = 4;

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

/// The chart as SVG text.
pub fn to_svg(r: &Report) -> String {
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
        r#"<text x="{left}" y="20" font-size="14" font-weight="bold">Lookups of {} per {} (UTC)</text>"#,
        esc(&r.entry),
        if r.hourly() { "hour" } else { "day" }
    );
    // Bins: hours when the lookups span under three days, else days.
    let hourly = r.hourly();
    let unit = if hourly { HOUR } else { DAY };
    let unit_name = if hourly { "hour" } else { "day" };
    let label_of = |b: i64| {
        if hourly {
            super::text::hour_label(b)
        } else {
            day_date(b)
        }
    };
    let span = r
        .first
        .zip(r.last)
        .map(|(f, l)| (f.div_euclid(unit), l.div_euclid(unit)));
    let (Some((lo, hi)), Some(data_end)) = (span, r.last) else {
        match r.pruned_note() {
            Some(note) => {
                let _ = writeln!(
                    s,
                    r#"<text x="{left}" y="50">No lookups: {}.</text>"#,
                    esc(&note)
                );
            }
            None => {
                let _ = writeln!(s, r#"<text x="{left}" y="50">No lookups.</text>"#);
            }
        }
        s.push_str("</svg>\n");
        return s;
    };
    let ndays = hi - lo + 1;
    let per_col = ((ndays + MAX_COLUMNS - 1) / MAX_COLUMNS).max(1);
    let ncols = ((ndays + per_col - 1) / per_col).max(1);
    let col_us = per_col.saturating_mul(unit) as f64;
    let start_us = lo.saturating_mul(unit);
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
            format!(", {per_col} {unit_name}s per bar")
        } else {
            String::new()
        }
    );

    // Stacks: the top queriers, then the rest.
    let ncols_u = ncols as usize;
    let mut totals = vec![0u64; ncols_u];
    if hourly {
        for (h, c) in r.per_hour() {
            if let Some(t) = totals.get_mut(col_of_day(h)) {
                *t += c;
            }
        }
    } else {
        for (d, c) in &r.days {
            if let Some(t) = totals.get_mut(col_of_day(*d)) {
                *t += *c;
            }
        }
    }
    let top_q: Vec<&QuerierRow> = r.queriers.iter().take(TOP_DRAWN).collect();
    let mut stacks: Vec<Vec<u64>> = Vec::new();
    for q in &top_q {
        let mut v = vec![0u64; ncols_u];
        for t in &q.ts {
            if let Some(x) = v.get_mut(col_of_day(t.div_euclid(unit))) {
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
        let date = label_of(lo.saturating_add((c as i64).saturating_mul(per_col)));
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
            .entry(col_of_day(b.ts_us.div_euclid(unit)))
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

    // NXDOMAIN flips (purple diamonds) and new names (green circles) on
    // the base line, at their time.
    let markers = r.markers();
    for m in &markers {
        let x = x_of_ts(m.ts);
        let y = top + plot_h;
        let title = format!("{} {}", short(m.ts), m.label);
        match m.kind {
            MarkerKind::NxdomainFlip => {
                let _ = writeln!(
                    s,
                    r##"<polygon class="marker-nxdomain-flip" points="{x:.2},{:.2} {:.2},{y:.2} {x:.2},{:.2} {:.2},{y:.2}" fill="#8c1c8c"><title>{}</title></polygon>"##,
                    y - 6.0,
                    x + 6.0,
                    y + 6.0,
                    x - 6.0,
                    esc(&title)
                );
            }
            MarkerKind::NewName => {
                let _ = writeln!(
                    s,
                    r##"<circle class="marker-new-name" cx="{x:.2}" cy="{y:.2}" r="5" fill="#2ca02c" stroke="#fff"><title>{}</title></circle>"##,
                    esc(&title)
                );
            }
        }
    }

    // Events: dashed vertical lines with their labels.
    if let Some(Events { rows: evs, .. }) = &r.events {
        let end_us = hi.saturating_add(1).saturating_mul(unit);
        for (i, e) in evs
            .iter()
            .filter(|e| e.ts >= start_us && e.ts < end_us)
            .enumerate()
        {
            let x = x_of_ts(if e.date_only {
                e.ts.saturating_add(unit / 2)
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
            label_of(d)
        );
        c += label_step;
    }
    let _ = writeln!(
        s,
        r#"<text x="16" y="{:.2}" transform="rotate(-90 16 {:.2})" text-anchor="middle">lookups per {}</text>"#,
        top + plot_h / 2.0,
        top + plot_h / 2.0,
        if per_col > 1 {
            format!("{per_col} {unit_name}s")
        } else {
            unit_name.into()
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
    if markers.iter().any(|m| m.kind == MarkerKind::NxdomainFlip) {
        let _ = writeln!(
            s,
            r##"<polygon points="{:.2},{:.2} {:.2},{:.2} {:.2},{:.2} {:.2},{:.2}" fill="#8c1c8c"/><text x="{:.2}" y="{ly2:.2}">NXDOMAIN flip</text>"##,
            left + 420.0,
            ly2 - 10.0,
            left + 425.0,
            ly2 - 5.0,
            left + 420.0,
            ly2,
            left + 415.0,
            ly2 - 5.0,
            left + 429.0
        );
    }
    if markers.iter().any(|m| m.kind == MarkerKind::NewName) {
        let _ = writeln!(
            s,
            r##"<circle cx="{:.2}" cy="{:.2}" r="5" fill="#2ca02c"/><text x="{:.2}" y="{ly2:.2}">new name</text>"##,
            left + 530.0,
            ly2 - 5.0,
            left + 539.0
        );
    }
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

/// Writes the chart to the file at `path`.
pub fn write_file(path: &Path, r: &Report) -> Result<(), ReportError> {
    std::fs::write(path, to_svg(r)).map_err(|source| ReportError::WriteSvg {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(0.0), 1.0);
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(11.0), 20.0);
        assert_eq!(nice_step(f64::NAN), 1.0);
    }
}
