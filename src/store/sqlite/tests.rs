use super::*;

fn lookup(ts: i64, q: &str) -> Lookup {
    Lookup {
        ts_us: ts,
        entry: "example.com".into(),
        also: Vec::new(),
        querier: format!("{q}:5353").parse().unwrap(),
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
        source: "t.pcap#1".into(),
        sensor: "s1".into(),
        ..Lookup::default()
    }
}

#[test]
fn roundtrip_summary_and_append() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    {
        let mut s = SqliteStore::open(&path).unwrap();
        s.write(&Batch {
            lookups: vec![
                lookup(10, "192.0.2.1"),
                lookup(20, "192.0.2.1"),
                lookup(5, "192.0.2.2"),
            ],
            ..Batch::default()
        })
        .unwrap();
    }
    let mut s = SqliteStore::open(&path).unwrap();
    s.write(&Batch {
        lookups: vec![lookup(30, "192.0.2.1")],
        ..Batch::default()
    })
    .unwrap();
    let mut got = Vec::new();
    s.lookups(&LookupFilter::default(), &mut |l| {
        got.push(l);
        true
    })
    .unwrap();
    assert_eq!(got.len(), 4);
    assert_eq!(got[0], lookup(5, "192.0.2.2"));
    let (first, last, n): (i64, i64, i64) = s
        .conn
        .query_row(
            "SELECT first_seen_us, last_seen_us, count FROM querier_summary WHERE querier = '192.0.2.1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((first, last, n), (10, 30, 3));
    let filter = LookupFilter {
        querier: Some("192.0.2.2".into()),
        ..LookupFilter::default()
    };
    let mut n = 0;
    s.lookups(&filter, &mut |_| {
        n += 1;
        true
    })
    .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn scrub_clears_old_fields_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(&dir.path().join("s.db")).unwrap();
    let mut old = lookup(10, "192.0.2.1");
    old.ecs = Some("198.51.100.0/24".into());
    let mut new = lookup(1_000, "192.0.2.2");
    new.ecs = Some("198.51.100.0/24".into());
    s.write(&Batch {
        lookups: vec![old, new],
        ..Batch::default()
    })
    .unwrap();
    s.write(&Batch {
        scrub_before: Some((500, vec!["ecs".into(), "querier_port".into()])),
        ..Batch::default()
    })
    .unwrap();
    let mut got = Vec::new();
    s.lookups(&LookupFilter::default(), &mut |l| {
        got.push(l);
        true
    })
    .unwrap();
    assert_eq!(got[0].ecs, None);
    assert_eq!(got[0].querier.port(), 0);
    assert_eq!(got[1].ecs.as_deref(), Some("198.51.100.0/24"));
    assert_eq!(got[1].querier.port(), 5353);
}

#[test]
fn newer_schema_and_foreign_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    SqliteStore::open(&path).unwrap();
    {
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
    assert!(matches!(
        SqliteStore::open(&path),
        Err(StoreError::TooNew { .. })
    ));
    let other = dir.path().join("other.db");
    {
        let c = Connection::open(&other).unwrap();
        c.execute_batch("CREATE TABLE x (a)").unwrap();
    }
    assert!(matches!(
        SqliteStore::open(&other),
        Err(StoreError::Foreign { .. })
    ));
    let text = dir.path().join("text.db");
    std::fs::write(&text, vec![b'x'; 4096]).unwrap();
    assert!(SqliteStore::open(&text).is_err());
}

fn detailed(ts: i64) -> Lookup {
    Lookup {
        dns_id: 0xbeef,
        opcode: 5,
        counts: crate::model::Counts {
            qd: 1,
            an: 0,
            ns: 1,
            ar: 1,
        },
        edns: Some(crate::model::Edns {
            version: 0,
            udp_size: 1232,
            dnssec_ok: true,
            z: 0,
        }),
        query_size: Some(40),
        response_size: Some(99),
        authority: vec![Answer {
            name: "example.com".into(),
            rtype: "SOA".into(),
            ttl: 300,
            data: "ns.example.com. host.example.com. 1 2 3 4 5".into(),
        }],
        rcode: Some("NXDOMAIN".into()),
        answers: Vec::new(),
        ..lookup(ts, "192.0.2.9")
    }
}

/// The fields of schema version 5 survive a write and a read.
#[test]
fn header_edns_sizes_and_authority_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let mut s = SqliteStore::open(&path).unwrap();
    let mut plain = lookup(2, "192.0.2.8");
    plain.edns = None;
    plain.query_size = None;
    s.write(&Batch {
        lookups: vec![detailed(1), plain.clone()],
        ..Batch::default()
    })
    .unwrap();
    let mut got = Vec::new();
    s.lookups(&LookupFilter::default(), &mut |l| {
        got.push(l);
        true
    })
    .unwrap();
    assert_eq!(got, vec![detailed(1), plain]);
}

/// A database written by schema version 4 (before the header columns)
/// opens, keeps its rows and reads them with the new fields empty.
#[test]
fn a_version_4_database_opens_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v4.db");
    {
        let c = Connection::open(&path).unwrap();
        for sql in &MIGRATIONS[..4] {
            c.execute_batch(sql).unwrap();
        }
        c.pragma_update(None, "user_version", 4).unwrap();
        c.execute(
            "INSERT INTO lookups (ts_us, entry, querier, querier_port, server, server_port, transport,
                qname, qtype, qclass, opcode, flags, rcode, answers, rtt_us, ecs, query_seen, answered, source, also, sensor)
             VALUES (7, 'example.com', '192.0.2.1', 5353, '192.0.2.53', 53, 'udp', 'www.example.com', 'A', 'IN', 0,
                'rd ra', 'NOERROR', '[]', 10, NULL, 1, 1, 'old.pcap#1', '[]', 's0')",
            [],
        )
        .unwrap();
    }
    let mut s = SqliteStore::open(&path).unwrap();
    let v: i64 = s
        .conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    s.write(&Batch {
        lookups: vec![detailed(8)],
        ..Batch::default()
    })
    .unwrap();
    let mut got = Vec::new();
    s.lookups(&LookupFilter::default(), &mut |l| {
        got.push(l);
        true
    })
    .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].source, "old.pcap#1");
    assert_eq!(got[0].sensor, "s0");
    assert_eq!(got[0].dns_id, 0);
    assert_eq!(got[0].edns, None);
    assert_eq!(got[0].query_size, None);
    assert!(got[0].authority.is_empty());
    assert_eq!(got[1], detailed(8));
}
