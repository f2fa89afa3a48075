//! Rendering the report in every format, down to the edge cases.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::events::{coincidences, EventRow};
use super::json::to_json;
use super::svg::to_svg;
use super::text::write_text;
use super::*;

#[test]
fn empty_report_renders() {
    let r = Report {
        entry: "x".into(),
        matched_by: "none",
        from: None,
        to: None,
        total: 0,
        answered: 0,
        unanswered: 0,
        nxdomain: 0,
        rcodes: BTreeMap::new(),
        first: None,
        last: None,
        entries: BTreeSet::new(),
        queriers: Vec::new(),
        days: BTreeMap::new(),
        bursts: Vec::new(),
        quiet: Vec::new(),
        resumed: Vec::new(),
        rcode_changes: Vec::new(),
        answer_history: Vec::new(),
        names: Vec::new(),
        names_source: "lookups",
        events: Some(Events {
            path: "e.csv".into(),
            rows: Vec::new(),
        }),
        coincidences: Vec::new(),
        chance: None,
        new_names: Vec::new(),
        pruned: None,
    };
    assert_eq!(to_json(&r)["total"], 0);
    assert!(to_svg(&r).starts_with("<svg"));
    let mut buf = Vec::new();
    write_text(&mut buf, &r).unwrap();
    assert!(String::from_utf8_lossy(&buf).contains("No lookups"));
}

#[test]
fn huge_span_svg_is_capped() {
    let q = QuerierRow {
        ip: "192.0.2.1".into(),
        count: 2,
        first: 0,
        last: 4_000_000 * DAY,
        ts: vec![0, 4_000_000 * DAY],
        ttl: None,
        period: None,
    };
    let mut days = BTreeMap::new();
    days.insert(0, 1);
    days.insert(4_000_000, 1);
    let r = Report {
        entry: "x".into(),
        matched_by: "entry",
        from: None,
        to: None,
        total: 2,
        answered: 0,
        unanswered: 2,
        nxdomain: 0,
        rcodes: BTreeMap::new(),
        first: Some(0),
        last: Some(4_000_000 * DAY),
        entries: BTreeSet::new(),
        queriers: vec![q],
        days,
        bursts: Vec::new(),
        quiet: Vec::new(),
        resumed: Vec::new(),
        rcode_changes: Vec::new(),
        answer_history: Vec::new(),
        names: Vec::new(),
        names_source: "lookups",
        events: None,
        coincidences: Vec::new(),
        chance: None,
        new_names: Vec::new(),
        pruned: None,
    };
    let svg = to_svg(&r);
    assert!(svg.matches("<rect").count() < 2_100);
    let (days, complete) = per_day(&r);
    assert!(!complete);
    assert_eq!(days.len(), 2);
    let mut buf = Vec::new();
    write_text(&mut buf, &r).unwrap();
}

fn alert(ts: i64, kind: &str, evidence: Value) -> Alert {
    Alert {
        id: String::new(),
        ts_us: ts,
        kind: kind.into(),
        severity: crate::model::Severity::Warning,
        entry: "x".into(),
        entries: vec!["x".into()],
        name: "x".into(),
        querier: None,
        window: "1h".into(),
        window_start_us: None,
        sensor: String::new(),
        evidence,
        message: String::new(),
        suppressed: 0,
    }
}

#[test]
fn extreme_timestamps_do_not_panic() {
    let ts = [i64::MIN, -1, 0, 1, i64::MAX];
    let mut acc = Acc::default();
    for (k, t) in ts.iter().enumerate() {
        acc.add(Lookup {
            ts_us: *t,
            entry: "x".into(),
            also: Vec::new(),
            querier: "192.0.2.1:53".parse().unwrap(),
            server: "192.0.2.53:53".parse().unwrap(),
            transport: "udp".into(),
            qname: "x".into(),
            qtype: "A".into(),
            qclass: "IN".into(),
            opcode: 0,
            flags: String::new(),
            rcode: Some(if k % 2 == 0 { "NOERROR" } else { "NXDOMAIN" }.into()),
            answers: Vec::new(),
            rtt_us: None,
            ecs: None,
            query_seen: true,
            answered: k != 4,
            source: String::new(),
            sensor: String::new(),
            ..Lookup::default()
        });
    }
    let mut queriers: Vec<QuerierRow> = std::mem::take(&mut acc.queriers).into_values().collect();
    for q in &mut queriers {
        q.period = periodicity(&q.ts, q.ttl);
    }
    let resumed = vec![alert(
        i64::MAX,
        "resumed",
        json!({"quiet_alert_us": i64::MIN}),
    )];
    let quiet = quiet_periods(
        vec![alert(i64::MIN, "quiet", json!({"last_seen": "nonsense"}))],
        &resumed,
        acc.last,
    );
    let mut r = Report {
        entry: "x".into(),
        matched_by: "entry",
        from: None,
        to: None,
        total: acc.total,
        answered: acc.answered,
        unanswered: acc.unanswered,
        nxdomain: acc.nxdomain,
        rcodes: acc.rcodes,
        first: acc.first,
        last: acc.last,
        entries: acc.entries,
        queriers,
        days: acc.days,
        bursts: vec![
            alert(i64::MIN, "burst", json!({"observed": "n/a"})),
            alert(i64::MAX, "burst", Value::Null),
        ],
        quiet,
        resumed,
        rcode_changes: acc.rcode_changes,
        answer_history: Vec::new(),
        names: Vec::new(),
        names_source: "lookups",
        events: None,
        coincidences: Vec::new(),
        chance: None,
        new_names: Vec::new(),
        pruned: None,
    };
    let evs = vec![
        EventRow {
            ts: i64::MIN,
            date_only: true,
            label: "<&>".into(),
        },
        EventRow {
            ts: i64::MAX,
            date_only: true,
            label: "end".into(),
        },
    ];
    let (c, chance) = coincidences(&r, &evs);
    assert_eq!(c.len(), 3);
    r.coincidences = c;
    r.chance = chance;
    r.events = Some(Events {
        path: "e.csv".into(),
        rows: evs,
    });
    assert_eq!(to_json(&r)["total"], 5);
    let svg = to_svg(&r);
    assert!(svg.contains("&lt;&amp;&gt;"));
    let mut buf = Vec::new();
    write_text(&mut buf, &r).unwrap();
    assert!(String::from_utf8_lossy(&buf).contains(CAVEAT));
}
