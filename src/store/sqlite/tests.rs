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

#[test]
fn a_schema_4_database_opens_keeps_its_rows_and_loses_only_the_unused_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v4.db");
    {
        // What the release before the index change wrote.
        let c = Connection::open(&path).unwrap();
        for sql in &MIGRATIONS[..4] {
            c.execute_batch(sql).unwrap();
        }
        c.pragma_update(None, "user_version", 4).unwrap();
        c.execute(
            "INSERT INTO lookups (ts_us, entry, querier, querier_port, server, server_port, transport,
                qname, qtype, qclass, opcode, flags, rcode, answers, query_seen, answered, source, sensor)
             VALUES (7, 'example.com', '192.0.2.1', 5353, '192.0.2.53', 53, 'udp', 'www.example.com',
                'A', 'IN', 0, 'rd', 'NOERROR', '[]', 1, 1, 'old.pcap#1', 's0')",
            [],
        )
        .unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.version().unwrap(), SCHEMA_VERSION);
    let mut got = Vec::new();
    s.lookups(
        &LookupFilter {
            entry: Some("example.com".into()),
            ..LookupFilter::default()
        },
        &mut |l| {
            got.push(l);
            true
        },
    )
    .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].ts_us, got[0].source.as_str()), (7, "old.pcap#1"));
    let indexes: Vec<String> = s
        .conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'lookups' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(indexes, ["lookups_qname", "lookups_querier", "lookups_ts"]);
}
