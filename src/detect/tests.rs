use super::*;

/// A lookup of `qname` (type `qtype`) by `querier`, answered `rcode`
/// with A/AAAA `answers` (TTL `ttl`).
fn lk(ts: i64, querier: &str, entry: &str, qname: &str, rcode: &str, answers: &[&str]) -> Lookup {
    lkt(ts, querier, entry, qname, "A", rcode, answers, 300)
}

#[allow(clippy::too_many_arguments)]
fn lkt(
    ts: i64,
    querier: &str,
    entry: &str,
    qname: &str,
    qtype: &str,
    rcode: &str,
    answers: &[&str],
    ttl: u32,
) -> Lookup {
    Lookup {
        ts_us: ts,
        entry: entry.into(),
        also: Vec::new(),
        querier: format!("{querier}:1234").parse().unwrap(),
        server: "192.0.2.53:53".parse().unwrap(),
        transport: "udp".into(),
        qname: qname.into(),
        qtype: qtype.into(),
        qclass: "IN".into(),
        opcode: 0,
        flags: "rd ra".into(),
        rcode: Some(rcode.into()),
        answers: answers
            .iter()
            .map(|a| crate::dns::Answer {
                name: qname.into(),
                rtype: if a.contains(':') { "AAAA" } else { "A" }.into(),
                ttl,
                data: (*a).into(),
            })
            .collect(),
        rtt_us: Some(1000),
        ecs: None,
        query_seen: true,
        answered: true,
        source: "t#1".into(),
        sensor: String::new(),
        ..Lookup::default()
    }
}

fn engine() -> Engine {
    Engine::new(DetectorConfig::default(), &Preload::default())
}

fn kinds(alerts: &[Alert]) -> Vec<&str> {
    alerts.iter().map(|a| a.kind.as_str()).collect()
}

/// Background: `q` asks `name` every 40 minutes for `days` days.
fn steady(e: &mut Engine, name: &str, q: &str, days: i64, answer: &str) {
    let mut t = 0;
    while t < days * DAY {
        e.lookup(&lk(t, q, name, name, "NOERROR", &[answer]));
        t += 40 * 60 * 1_000_000;
    }
}

#[test]
fn a_single_servfail_is_not_a_change_a_persistent_nxdomain_is() {
    let mut e = engine();
    steady(&mut e, "x.com", "10.0.0.1", 3, "192.0.2.1");
    let t = 3 * DAY;
    e.lookup(&lk(t, "10.0.0.1", "x.com", "x.com", "SERVFAIL", &[]));
    e.lookup(&lk(
        t + 60_000_000,
        "10.0.0.1",
        "x.com",
        "x.com",
        "NOERROR",
        &["192.0.2.1"],
    ));
    assert!(!kinds(&e.take_alerts()).contains(&"rcode_change"));
    e.lookup(&lk(t + HOUR, "10.0.0.1", "x.com", "x.com", "NXDOMAIN", &[]));
    assert!(
        !kinds(&e.take_alerts()).contains(&"rcode_change"),
        "one NXDOMAIN"
    );
    e.lookup(&lk(
        t + 2 * HOUR,
        "10.0.0.1",
        "x.com",
        "x.com",
        "NXDOMAIN",
        &[],
    ));
    e.lookup(&lk(
        t + 3 * HOUR,
        "10.0.0.1",
        "x.com",
        "x.com",
        "NXDOMAIN",
        &[],
    ));
    let a = e.take_alerts();
    let rc: Vec<&Alert> = a.iter().filter(|a| a.kind == "rcode_change").collect();
    assert_eq!(rc.len(), 1, "{:?}", kinds(&a));
    assert_eq!(rc[0].evidence["from"], "NOERROR");
    assert_eq!(rc[0].evidence["to"], "NXDOMAIN");
}

#[test]
fn other_types_and_round_robin_subsets_are_not_answer_changes() {
    let mut e = engine();
    let pool = ["192.0.2.1", "192.0.2.2", "192.0.2.3"];
    let mut t = 0;
    let mut i = 0usize;
    while t < 5 * DAY {
        // Rotating subsets of a fixed pool, A and AAAA, MX in between.
        let a = [pool[i % 3], pool[(i + 1) % 3]];
        e.lookup(&lk(t, "10.0.0.1", "x.com", "x.com", "NOERROR", &a));
        e.lookup(&lkt(
            t + 1,
            "10.0.0.1",
            "x.com",
            "x.com",
            "AAAA",
            "NOERROR",
            &["2001:db8::1"],
            300,
        ));
        e.lookup(&lkt(
            t + 2,
            "10.0.0.1",
            "x.com",
            "x.com",
            "MX",
            "NOERROR",
            &["10 mx.x.com"],
            300,
        ));
        t += HOUR;
        i += 1;
    }
    assert!(!kinds(&e.take_alerts()).contains(&"answer_change"));
    // New data never seen for (x.com, A): a change, naming what was added.
    e.lookup(&lk(
        t,
        "10.0.0.1",
        "x.com",
        "x.com",
        "NOERROR",
        &["203.0.113.9"],
    ));
    let a = e.take_alerts();
    let ac: Vec<&Alert> = a.iter().filter(|a| a.kind == "answer_change").collect();
    assert_eq!(ac.len(), 1, "{:?}", kinds(&a));
    assert!(
        ac[0].evidence.to_string().contains("203.0.113.9"),
        "{}",
        ac[0].evidence
    );
}

#[test]
fn one_event_touching_a_name_and_its_address_is_one_alert() {
    let mut e = engine();
    // The sensor runs for two days on other traffic ...
    steady(&mut e, "other.com", "10.0.0.1", 2, "192.0.2.1");
    // ... then the watched name and its watched address are first seen
    // in one lookup: one first_seen alert carrying both entries.
    let mut l = lk(
        2 * DAY,
        "10.0.0.9",
        "evil.example",
        "evil.example",
        "NOERROR",
        &["198.51.100.66"],
    );
    l.also = vec!["198.51.100.66".into()];
    e.lookup(&l);
    let a = e.take_alerts();
    let fs: Vec<&Alert> = a.iter().filter(|a| a.kind == "first_seen").collect();
    assert_eq!(fs.len(), 1, "{:?}", kinds(&a));
    assert_eq!(fs[0].entries, ["evil.example", "198.51.100.66"]);
    assert!(!fs[0].id.is_empty());
}

#[test]
fn entries_seen_in_the_sensors_first_hours_are_not_first_seen() {
    let mut e = engine();
    steady(&mut e, "x.com", "10.0.0.1", 2, "192.0.2.1");
    e.finish();
    assert!(!kinds(&e.take_alerts()).contains(&"first_seen"));
}

#[test]
fn every_new_name_on_an_address_alerts_on_its_own() {
    let mut e = engine();
    let addr = "66.216.133.29";
    let mut t = 0;
    while t < 14 * DAY {
        e.lookup(&lk(
            t,
            "217.12.96.15",
            addr,
            "mail1.example",
            "NOERROR",
            &[addr],
        ));
        t += 2 * HOUR;
    }
    e.lookup(&lk(
        t,
        "217.12.96.15",
        addr,
        "new1.example",
        "NOERROR",
        &[addr],
    ));
    e.lookup(&lk(
        t + HOUR,
        "217.12.96.15",
        addr,
        "new2.example",
        "NOERROR",
        &[addr],
    ));
    let a = e.take_alerts();
    let names: Vec<&str> = a
        .iter()
        .filter(|a| a.kind == "new_name")
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(names, ["new1.example", "new2.example"], "{:?}", kinds(&a));
}

/// A querier's lookups of `name`: `ts` list, TTL `ttl`.
fn feed(e: &mut Engine, name: &str, q: &str, ts: &[i64], ttl: u32) {
    for &t in ts {
        e.lookup(&lkt(t, q, name, name, "A", "NOERROR", &["192.0.2.7"], ttl));
    }
}

fn periodic_alerts(e: &mut Engine) -> Vec<Alert> {
    e.finish();
    e.take_alerts()
        .into_iter()
        .filter(|a| a.kind == "periodic")
        .collect()
}

#[test]
fn a_query_loop_is_not_periodic() {
    let mut e = engine();
    let ts: Vec<i64> = (0..2000).map(|i| DAY + i * 250).collect(); // every 0.25 ms
    feed(&mut e, "x.com", "10.0.0.1", &ts, 300);
    assert!(periodic_alerts(&mut e).is_empty());
}

#[test]
fn refetching_at_the_ttl_is_explained_away() {
    let mut e = engine();
    // A busy resolver re-asks whenever its cached answer (TTL 3600 s)
    // expires: every 3600-3700 s, for two weeks.
    let mut rng = 7u64;
    let mut t = 0i64;
    let mut ts = Vec::new();
    while t < 14 * DAY {
        ts.push(t);
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        t += 3600 * 1_000_000 + ((rng >> 33) % 100_000_000) as i64;
    }
    feed(&mut e, "x.com", "10.0.0.1", &ts, 3600);
    let p = periodic_alerts(&mut e);
    assert!(
        p.is_empty(),
        "{:?}",
        p.iter().map(|a| &a.message).collect::<Vec<_>>()
    );
}

#[test]
fn a_six_hour_beacon_among_other_lookups_is_found() {
    let mut e = engine();
    let mut rng = 11u64;
    let mut ts = Vec::new();
    // Human-driven lookups at random times (about 6 a day, TTL 60 s) ...
    let mut t = 0i64;
    while t < 12 * DAY {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        t += ((rng >> 33) % (8 * 3600)) as i64 * 1_000_000;
        ts.push(t);
    }
    // ... and a beacon every 6 h with a few seconds of jitter.
    for k in 0..48i64 {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ts.push(k * 6 * HOUR + 1_800_000_000 + ((rng >> 33) % 5_000_000) as i64);
    }
    ts.sort_unstable();
    feed(&mut e, "x.com", "10.0.0.1", &ts, 60);
    let p = periodic_alerts(&mut e);
    assert_eq!(p.len(), 1, "{p:?}");
    let period = p[0].evidence["period_s"].as_f64().unwrap_or(0.0);
    assert!((period - 21_600.0).abs() < 60.0, "{period}");
}

#[test]
fn a_five_minute_beacon_with_a_and_aaaa_pairs_is_found() {
    let mut e = engine();
    for k in 0..200i64 {
        let t = DAY + k * 300 * 1_000_000 + (k % 7) * 300_000;
        e.lookup(&lkt(
            t,
            "10.0.0.5",
            "x.com",
            "x.com",
            "A",
            "NOERROR",
            &["192.0.2.7"],
            60,
        ));
        e.lookup(&lkt(
            t + 20_000,
            "10.0.0.5",
            "x.com",
            "x.com",
            "AAAA",
            "NOERROR",
            &["2001:db8::7"],
            60,
        ));
    }
    let p = periodic_alerts(&mut e);
    assert_eq!(p.len(), 1, "{p:?}");
    let period = p[0].evidence["period_s"].as_f64().unwrap_or(0.0);
    assert!((period - 300.0).abs() < 2.0, "{period}");
}

#[test]
fn suppression_holds_back_and_counts() {
    let mut cfg = DetectorConfig::default();
    cfg.first_seen.after_h = 0.0;
    let mut e = Engine::new(cfg, &Preload::default());
    e.lookup(&lk(
        0,
        "10.0.0.1",
        "seed.com",
        "seed.com",
        "NOERROR",
        &["192.0.2.1"],
    ));
    // first_seen of two different entries: two alerts, not suppressed.
    e.lookup(&lk(
        HOUR,
        "10.0.0.1",
        "a.com",
        "a.com",
        "NOERROR",
        &["192.0.2.1"],
    ));
    e.lookup(&lk(
        HOUR + 1,
        "10.0.0.1",
        "b.com",
        "b.com",
        "NOERROR",
        &["192.0.2.1"],
    ));
    let a = e.take_alerts();
    let fs: Vec<&str> = a
        .iter()
        .filter(|a| a.kind == "first_seen")
        .map(|a| a.entry.as_str())
        .collect();
    assert!(fs.contains(&"a.com") && fs.contains(&"b.com"), "{fs:?}");
    assert!(a.iter().all(|a| a.suppressed == 0));
}

#[test]
fn a_newcomer_taking_a_large_share_at_once_alerts_where_newcomers_are_common() {
    let mut e = engine();
    // A name asked by a new network every day (newcomers are ordinary).
    let mut t = 0;
    let mut k = 0u32;
    while t < 20 * DAY {
        let q = format!("10.{}.{}.1", k / 200, k % 200);
        for j in 0..3 {
            e.lookup(&lk(
                t + j * 60_000_000,
                &q,
                "x.com",
                "x.com",
                "NOERROR",
                &["192.0.2.1"],
            ));
        }
        t += 8 * HOUR;
        k += 1;
    }
    assert!(!kinds(&e.take_alerts()).contains(&"new_querier"));
    // One more newcomer, making most of the lookups of the next hours.
    for j in 0..40 {
        e.lookup(&lk(
            t + j * 120_000_000,
            "198.51.100.7",
            "x.com",
            "x.com",
            "NOERROR",
            &["192.0.2.1"],
        ));
    }
    let a = e.take_alerts();
    let nq: Vec<&Alert> = a.iter().filter(|a| a.kind == "new_querier").collect();
    assert_eq!(nq.len(), 1, "{:?}", kinds(&a));
    assert_eq!(nq[0].querier.as_deref(), Some("198.51.100.0/24"));
    assert!(nq[0].evidence["share"].as_f64().unwrap_or(0.0) >= 0.3);
}

#[test]
fn a_beacon_starting_weeks_into_a_querier_history_is_found() {
    // A resolver asks now and then for a month; for five days a machine
    // behind it asks every 6 h. One of its ordinary lookups, weeks
    // before, happens to fall in the beacon's phase.
    let mut e = engine();
    let mut rng = 5u64;
    let mut ts = Vec::new();
    let mut t = 0i64;
    while t < 33 * DAY {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        t += ((rng >> 33) % (2 * 86_400)) as i64 * 1_000_000;
        ts.push(t);
    }
    let start = 26 * DAY + HOUR + 17 * 60 * 1_000_000;
    ts.push(start - 20 * DAY); // in phase by chance
    for k in 0..20 {
        ts.push(start + k * 6 * HOUR + (k % 5) * 3_000_000);
    }
    ts.sort_unstable();
    feed(&mut e, "x.com", "10.0.0.1", &ts, 300);
    let p = periodic_alerts(&mut e);
    assert_eq!(p.len(), 1, "{p:?}");
    let period = p[0].evidence["period_s"].as_f64().unwrap_or(0.0);
    assert!((period - 21_600.0).abs() < 60.0, "{period}");
}

#[test]
fn a_rhythm_seen_through_a_name_and_its_address_is_one_alert() {
    let mut e = engine();
    let addr = "203.0.113.29";
    let mut rng = 9u64;
    for k in 0..40i64 {
        // The beacon asks the watched name, answered with the watched
        // address: both entries see it.
        let t = DAY + k * 6 * HOUR;
        let mut l = lkt(
            t,
            "10.0.0.9",
            "mail1.example",
            "mail1.example",
            "A",
            "NOERROR",
            &[addr],
            3600,
        );
        l.also = vec![addr.into()];
        e.lookup(&l);
        // The same resolver also asks other names on the address.
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let u = t + ((rng >> 33) % (5 * 3600)) as i64 * 1_000_000 + 600_000_000;
        e.lookup(&lkt(
            u,
            "10.0.0.9",
            addr,
            "other.example",
            "A",
            "NOERROR",
            &[addr],
            3600,
        ));
    }
    let p = periodic_alerts(&mut e);
    assert_eq!(
        p.len(),
        1,
        "{:?}",
        p.iter().map(|a| (&a.entry, &a.message)).collect::<Vec<_>>()
    );
}
