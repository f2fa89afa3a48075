use super::*;
use crate::model::{Answer, Lookup};

fn lookup(ts: i64, source: &str) -> Lookup {
    Lookup {
        ts_us: ts,
        entry: "example.com".into(),
        also: Vec::new(),
        querier: "192.0.2.7:5353".parse().unwrap(),
        server: "192.0.2.53:53".parse().unwrap(),
        transport: "udp".into(),
        qname: "www.example.com".into(),
        qtype: "A".into(),
        qclass: "IN".into(),
        opcode: 0,
        flags: "rd ra".into(),
        rcode: Some("NOERROR".into()),
        answers: vec![Answer {
            name: "www.example.com".into(),
            rtype: "A".into(),
            ttl: 60,
            data: "192.0.2.1".into(),
        }],
        rtt_us: Some(1200),
        ecs: None,
        query_seen: true,
        answered: true,
        source: source.into(),
        sensor: "s1".into(),
        ..Lookup::default()
    }
}

fn batch(n: usize) -> Batch {
    Batch {
        lookups: (0..n)
            .map(|i| lookup(i as i64, &format!("t#{i}")))
            .collect(),
        ..Batch::default()
    }
}

/// A loopback port nothing listens on.
fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}/", l.local_addr().unwrap())
}

#[test]
fn a_full_spool_drops_counts_and_never_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Settings::new(&dead_url(), "s1", dir.path().join("spool"));
    s.require_server = false;
    s.drain_timeout = Duration::from_millis(10);
    s.spool_max_bytes = 20_000;
    let mut sink = ClickHouseSink::open(s).unwrap();
    let stats = sink.stats_handle();
    let t = Instant::now();
    for _ in 0..5 {
        sink.write(&batch(50)).unwrap();
    }
    assert!(t.elapsed() < Duration::from_secs(2));
    let st = stats.stats();
    let dropped = st.dropped_batches.load(Ordering::Relaxed);
    assert!(dropped >= 1, "nothing dropped");
    assert_eq!(st.dropped_lookups.load(Ordering::Relaxed), dropped * 50);
    assert!(st.spool_bytes.load(Ordering::Relaxed) <= 20_000);
    // Closing with the server away leaves the batches in the spool and says so.
    let err = sink.close().unwrap_err().to_string();
    assert!(err.contains("stay in the spool"), "{err}");
    assert!(stats
        .stats()
        .prometheus()
        .contains("dnswatch_clickhouse_dropped_lookups_total "));
}

#[test]
fn encode_splits_by_table_and_day_with_summaries() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Settings::new(&dead_url(), "s1", dir.path().join("spool"));
    s.require_server = false;
    s.drain_timeout = Duration::ZERO;
    let mut sink = ClickHouseSink::open(s).unwrap();
    let mut b = batch(3);
    b.lookups[2].ts_us = schema::DAY_US + 5;
    let r = sink.encode(&b, 42, &[]);
    let keys: Vec<(u8, i64, u32)> = r.parts.iter().map(|p| (p.table, p.day, p.rows)).collect();
    // lookups and lookups_by_querier on two days; one querier and one
    // name summary row (last seen on day 1).
    assert_eq!(
        keys,
        [
            (0, 0, 2),
            (0, 1, 1),
            (1, 0, 2),
            (1, 1, 1),
            (2, 1, 1),
            (3, 1, 1)
        ]
    );
    assert_eq!(Record::decode(&r.encode()).unwrap(), r);
}

/// A batch of rrsets alone (pdns = "all" with nothing watched in the
/// commit interval) is spooled, not skipped; unwatched lookups get rows in
/// both lookup tables and no summary rows.
#[test]
fn rrsets_alone_are_spooled_and_unwatched_lookups_have_no_summaries() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Settings::new(&dead_url(), "s1", dir.path().join("spool"));
    s.require_server = false;
    s.drain_timeout = Duration::ZERO;
    let mut sink = ClickHouseSink::open(s).unwrap();
    let stats = sink.stats_handle();
    let rrsets = Batch {
        rrsets: vec![crate::model::Rrset {
            rrname: "www.example.com".into(),
            rrtype: "A".into(),
            rdata: "192.0.2.1".into(),
            bailiwick: String::new(),
            sensor: String::new(),
            time_first_us: 5,
            time_last_us: 9,
            count: 2,
        }],
        ..Batch::default()
    };
    sink.write(&rrsets).unwrap();
    assert_eq!(stats.stats().spool_batches.load(Ordering::Relaxed), 1);
    let mut unwatched = lookup(7, "t#7");
    unwatched.entry = String::new();
    let b = Batch {
        unwatched: vec![unwatched],
        lookups: vec![lookup(8, "t#8")],
        ..Batch::default()
    };
    let r = sink.encode(&b, 7, &[]);
    let keys: Vec<(u8, u32)> = r.parts.iter().map(|p| (p.table, p.rows)).collect();
    assert_eq!(keys, [(0, 2), (1, 2), (2, 1), (3, 1)]);
    assert!(sink.close().is_err(), "the server is away: batches stay");
}
