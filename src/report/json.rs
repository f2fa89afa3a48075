//! The report as one JSON document (`--format json`).

use serde_json::{json, Value};

use super::{day_date, per_day, share, Events, Report, CAVEAT, HOUR};
use crate::detect::Periodicity;
use crate::model::Alert;
use crate::time;

fn opt_time(us: Option<i64>) -> Value {
    us.map_or(Value::Null, |v| Value::String(time::rfc3339(v)))
}

fn periodicity_json(p: &Option<Periodicity>) -> Value {
    match p {
        Some(p) => json!({
            "n": p.n,
            "cv": p.cv,
            "burstiness": p.burstiness,
            "period_s": p.period_s,
            "r": p.r,
            "p_value": p.p_value,
        }),
        None => Value::Null,
    }
}

fn evidence_of(a: &Alert, key: &str) -> Value {
    a.evidence.get(key).cloned().unwrap_or(Value::Null)
}

/// The report as a JSON value.
pub fn to_json(r: &Report) -> Value {
    let span_days = r.span_days().map(|(lo, hi)| hi - lo + 1).unwrap_or(0);
    let queriers: Vec<Value> = r
        .queriers
        .iter()
        .map(|q| {
            json!({
                "querier": q.ip,
                "count": q.count,
                "share": share(q.count, r.total),
                "first_seen": time::rfc3339(q.first),
                "last_seen": time::rfc3339(q.last),
                "periodicity": periodicity_json(&q.period),
            })
        })
        .collect();
    let (days, complete) = per_day(r);
    let per_day: Vec<Value> = days
        .iter()
        .map(|(d, c)| json!({"date": day_date(*d), "count": c}))
        .collect();
    let bursts: Vec<Value> = r
        .bursts
        .iter()
        .map(|a| {
            json!({
                "ts": time::rfc3339(a.ts_us),
                "date": time::date(a.ts_us),
                "window": a.window,
                "querier": a.querier,
                "severity": a.severity.as_str(),
                "observed": evidence_of(a, "observed"),
                "expected": evidence_of(a, "expected"),
                "p_value": evidence_of(a, "p_value"),
                "message": a.message,
            })
        })
        .collect();
    let quiet: Vec<Value> = r
        .quiet
        .iter()
        .map(|q| {
            json!({
                "ts": time::rfc3339(q.alert.ts_us),
                "date": time::date(q.alert.ts_us),
                "last_lookup_before": opt_time(q.last_before),
                "until": time::rfc3339(q.end),
                "resumed": q.resumed.is_some(),
                "hours": q.end.saturating_sub(q.alert.ts_us) as f64 / HOUR as f64,
                "window": q.alert.window,
                "observed": evidence_of(&q.alert, "observed"),
                "expected": evidence_of(&q.alert, "expected"),
                "p_value": evidence_of(&q.alert, "p_value"),
                "message": q.alert.message,
            })
        })
        .collect();
    let resumptions: Vec<Value> = r
        .resumed
        .iter()
        .map(|a| {
            json!({
                "ts": time::rfc3339(a.ts_us),
                "querier": a.querier,
                "gap_s": evidence_of(a, "gap_s"),
                "window": a.window,
                "message": a.message,
            })
        })
        .collect();
    let changes: Vec<Value> = r
        .rcode_changes
        .iter()
        .map(|c| {
            json!({
                "ts": time::rfc3339(c.ts),
                "qname": c.qname,
                "querier": c.querier,
                "from": c.from,
                "to": c.to,
            })
        })
        .collect();
    let answers: Vec<Value> = r
        .answer_history
        .iter()
        .map(|(q, sets)| {
            let sets: Vec<Value> = sets
                .iter()
                .map(|s| {
                    json!({
                        "answers": s.answers,
                        "first_seen": time::rfc3339(s.first),
                        "last_seen": time::rfc3339(s.last),
                        "count": s.count,
                    })
                })
                .collect();
            json!({"qname": q, "sets": sets})
        })
        .collect();
    let names: Vec<Value> = r
        .names
        .iter()
        .map(|n| {
            json!({
                "qname": n.qname,
                "first_seen": time::rfc3339(n.first),
                "last_seen": time::rfc3339(n.last),
                "count": n.count,
                "in_report": n.in_report,
            })
        })
        .collect();
    let mut doc = json!({
        "entry": r.entry,
        "matched_by": r.matched_by,
        "entries": r.entries,
        "from": opt_time(r.from),
        "to": opt_time(r.to),
        "first_seen": opt_time(r.first),
        "last_seen": opt_time(r.last),
        "days": span_days,
        "total": r.total,
        "answered": r.answered,
        "unanswered": r.unanswered,
        "nxdomain": r.nxdomain,
        "rcodes": r.rcodes,
        "queriers": queriers,
        "per_day": per_day,
        "per_day_complete": complete,
        "bursts": bursts,
        "quiet_periods": quiet,
        "resumptions": resumptions,
        "rcode_changes": changes,
        "answer_history": answers,
        "names": names,
        "names_source": r.names_source,
    });
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("bin".into(), if r.hourly() { "hour" } else { "day" }.into());
        if r.hourly() {
            let hours: Vec<Value> = r
                .per_hour()
                .iter()
                .map(|(h, c)| json!({"hour": time::rfc3339(h.saturating_mul(HOUR)), "count": c}))
                .collect();
            obj.insert("per_hour".into(), hours.into());
        }
        let markers: Vec<Value> = r
            .markers()
            .iter()
            .map(|m| json!({"ts": time::rfc3339(m.ts), "kind": m.kind.as_str(), "label": m.label}))
            .collect();
        obj.insert("markers".into(), markers.into());
    }
    if let (Some(p), Some(obj)) = (&r.pruned, doc.as_object_mut()) {
        obj.insert(
            "pruned".into(),
            json!({
                "before": time::rfc3339(p.before_us),
                "at": time::rfc3339(p.at_us),
                "lookups": p.lookups,
            }),
        );
    }
    if let (Some(Events { path, rows: evs }), Some(obj)) = (&r.events, doc.as_object_mut()) {
        let events: Vec<Value> = evs
            .iter()
            .map(|e| json!({"date": time::date(e.ts), "ts": time::rfc3339(e.ts), "label": e.label}))
            .collect();
        let near: Vec<Value> = r
            .coincidences
            .iter()
            .map(|c| {
                let list: Vec<Value> = c
                    .events
                    .iter()
                    .filter_map(|(i, off)| {
                        let e = evs.get(*i)?;
                        Some(
                            json!({"date": time::date(e.ts), "label": e.label, "offset_days": off}),
                        )
                    })
                    .collect();
                json!({
                    "kind": c.kind,
                    "from": day_date(c.from_day),
                    "to": day_date(c.to_day),
                    "alerts": c.alerts,
                    "events": list,
                })
            })
            .collect();
        let chance = r.chance.as_ref().map_or(Value::Null, |c| {
            let s = share(c.covered_days as u64, c.span_days as u64);
            json!({
                "span_days": c.span_days,
                "days_within_2_days_of_an_event": c.covered_days,
                "share": s,
                "burst_days": c.burst_days,
                "burst_days_near_an_event": c.burst_days_near,
                "burst_days_near_an_event_by_chance": s * c.burst_days as f64,
            })
        });
        obj.insert("events_file".into(), path.clone().into());
        obj.insert("events".into(), Value::Array(events));
        obj.insert("coincidences".into(), Value::Array(near));
        obj.insert("chance".into(), chance);
        obj.insert("caveat".into(), CAVEAT.into());
    }
    doc
}

/// Writes the report as pretty-printed JSON and a newline.
pub fn write(out: &mut impl std::io::Write, r: &Report) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &to_json(r)).map_err(std::io::Error::from)?;
    writeln!(out)
}
