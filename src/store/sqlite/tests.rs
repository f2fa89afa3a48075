use super::*;

/// A database at `path` made by the first `n` migrations, each in its own
/// transaction as the release that ran it (the starting point of the
/// migration tests).
pub(super) fn at_version(path: &Path, n: usize) -> Connection {
    let mut c = Connection::open(path).unwrap();
    for (i, sql) in MIGRATIONS[..n].iter().enumerate() {
        let tx = c.transaction().unwrap();
        tx.execute_batch(sql).unwrap();
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .unwrap();
        tx.commit().unwrap();
    }
    c
}

pub(super) fn lookup(ts: i64, q: &str) -> Lookup {
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

fn rrset(
    name: &str,
    t: &str,
    data: &str,
    first: i64,
    last: i64,
    count: u64,
) -> crate::model::Rrset {
    crate::model::Rrset {
        rrname: name.into(),
        rrtype: t.into(),
        rdata: data.into(),
        bailiwick: String::new(),
        sensor: "s1".into(),
        time_first_us: first,
        time_last_us: last,
        count,
    }
}

fn pdns_rows(
    s: &SqliteStore,
    q: &super::super::pdns::PdnsQuery,
) -> Vec<(String, String, String, i64, i64, u64)> {
    let mut out = Vec::new();
    s.pdns(q, &mut |r| {
        out.push((
            r.rrname,
            r.rrtype,
            r.rdata,
            r.time_first_us,
            r.time_last_us,
            r.count,
        ));
        true
    })
    .unwrap();
    out.sort();
    out
}

/// A database written before the rrset table existed (schema 4, every
/// migration up to it run as the previous release ran them) opens, is
/// migrated in place and keeps its rows; the new table then works.
#[test]
fn a_schema_4_database_migrates_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let old = MIGRATIONS
        .iter()
        .position(|m| *m == super::super::pdns::MIGRATION)
        .unwrap();
    {
        let c = at_version(&path, old);
        c.execute(
            "INSERT INTO lookups (ts_us, entry, querier, querier_port, server, server_port, transport,
                qname, qtype, qclass, opcode, flags, rcode, answers, query_seen, answered, source, sensor)
             VALUES (7, 'example.com', '192.0.2.1', 5353, '192.0.2.53', 53, 'udp', 'www.example.com',
                'A', 'IN', 0, 'rd', 'NOERROR', '[]', 1, 1, 'old.pcap#1', 's0')",
            [],
        )
        .unwrap();
    }
    let mut s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.version().unwrap(), SCHEMA_VERSION);
    let mut got = Vec::new();
    s.lookups(&LookupFilter::default(), &mut |l| {
        got.push((l.ts_us, l.qname, l.source, l.sensor));
        true
    })
    .unwrap();
    assert_eq!(
        got,
        vec![(
            7,
            "www.example.com".to_string(),
            "old.pcap#1".to_string(),
            "s0".to_string()
        )]
    );
    s.write(&Batch {
        rrsets: vec![rrset("www.example.com", "A", "192.0.2.1", 7, 7, 1)],
        ..Batch::default()
    })
    .unwrap();
    let q = super::super::pdns::PdnsQuery {
        name: Some("www.example.com".into()),
        ..Default::default()
    };
    assert_eq!(pdns_rows(&s, &q).len(), 1);
}

#[test]
fn rrsets_add_up_across_batches_and_prune_by_time_last() {
    use super::super::pdns::PdnsQuery;
    let dir = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(&dir.path().join("p.db")).unwrap();
    s.write(&Batch {
        rrsets: vec![
            rrset("mail1.example", "A", "192.0.2.7", 100, 200, 2),
            rrset("www.example", "CNAME", "mail1.example.", 150, 150, 1),
            rrset("example", "MX", "10 mail1.example.", 150, 150, 1),
            rrset("b.example.org", "AAAA", "2001:db8::7", 10, 10, 1),
        ],
        ..Batch::default()
    })
    .unwrap();
    s.write(&Batch {
        rrsets: vec![rrset("mail1.example", "A", "192.0.2.7", 50, 120, 3)],
        ..Batch::default()
    })
    .unwrap();
    let name = |n: &str| PdnsQuery {
        name: Some(n.into()),
        ..Default::default()
    };
    let rdata = |r: &str| PdnsQuery {
        rdata: Some(r.into()),
        ..Default::default()
    };
    let row =
        |n: &str, t: &str, d: &str, f, l, c| (n.to_string(), t.to_string(), d.to_string(), f, l, c);
    assert_eq!(
        pdns_rows(&s, &name("mail1.example")),
        vec![row("mail1.example", "A", "192.0.2.7", 50, 200, 5)]
    );
    // The zone and everything under it; not example.org.
    assert_eq!(pdns_rows(&s, &name("*.example")).len(), 3);
    assert_eq!(pdns_rows(&s, &name("*.org")).len(), 1);
    assert_eq!(pdns_rows(&s, &name("*")).len(), 4);
    assert_eq!(pdns_rows(&s, &rdata("192.0.2.7")).len(), 1);
    assert_eq!(pdns_rows(&s, &rdata("192.0.2.0/24")).len(), 1);
    assert_eq!(pdns_rows(&s, &rdata("192.0.3.0/24")).len(), 0);
    assert_eq!(
        pdns_rows(&s, &rdata("2001:db8::/32")),
        vec![row("b.example.org", "AAAA", "2001:db8::7", 10, 10, 1)]
    );
    // CNAME and MX targets, by name.
    assert_eq!(
        pdns_rows(&s, &rdata("MAIL1.example."))
            .into_iter()
            .map(|r| r.1)
            .collect::<Vec<_>>(),
        vec!["MX".to_string(), "CNAME".to_string()]
    );
    let window = PdnsQuery {
        since_us: Some(160),
        ..name("*.example")
    };
    assert_eq!(pdns_rows(&s, &window).len(), 1);
    // Retention: rrsets last seen before 160 go, the one seen at 200 stays.
    s.write(&Batch {
        prune_before: Some(160),
        ..Batch::default()
    })
    .unwrap();
    assert_eq!(pdns_rows(&s, &name("*")).len(), 1);
    assert_eq!(s.prune(1_000).unwrap(), 0);
    assert!(pdns_rows(&s, &name("*")).is_empty());
}

/// Every form of `dnswatch pdns` is answered from an index, never a scan.
#[test]
fn pdns_queries_use_the_indexes() {
    use super::super::pdns::PdnsQuery;
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("q.db")).unwrap();
    let cases = [
        (Some("mail1.example"), None, "pdns_rrsets_key"),
        (Some("*.example"), None, "pdns_rrsets_key"),
        (None, Some("192.0.2.7"), "pdns_rrsets_rkey"),
        (None, Some("192.0.2.0/24"), "pdns_rrsets_rkey"),
        (None, Some("2001:db8::/32"), "pdns_rrsets_rkey"),
        (None, Some("mail1.example"), "pdns_rrsets_rkey"),
        (None, Some("*.example"), "pdns_rrsets_rkey"),
    ];
    for (name, rdata, index) in cases {
        let q = PdnsQuery {
            name: name.map(String::from),
            rdata: rdata.map(String::from),
            since_us: Some(1),
            until_us: Some(2),
            sensor: Some("s1".into()),
        };
        let plan = s.pdns_plan(&q).unwrap();
        assert!(
            plan.iter()
                .any(|p| p.contains("SEARCH") && p.contains(index)),
            "{name:?} {rdata:?}: {plan:?}"
        );
        assert!(
            !plan.iter().any(|p| p.starts_with("SCAN")),
            "{name:?} {rdata:?}: {plan:?}"
        );
    }
}

/// `db stats` gets rows and bytes per table from dbstat.
#[test]
fn table_sizes_cover_every_table() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(&dir.path().join("s.db")).unwrap();
    s.write(&Batch {
        lookups: vec![lookup(10, "192.0.2.1")],
        rrsets: vec![rrset("mail1.example", "A", "192.0.2.7", 1, 2, 3)],
        ..Batch::default()
    })
    .unwrap();
    let sizes = s.table_sizes().unwrap();
    let get = |t: &str| sizes.iter().find(|(n, _, _)| n == t).cloned().unwrap();
    assert_eq!(get("lookups").1, 1);
    assert_eq!(get("pdns_rrsets").1, 1);
    // A table page plus three index pages at least.
    let page: i64 = s
        .conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    assert!(get("pdns_rrsets").2 >= 4 * page, "{sizes:?}");
    let total: i64 = sizes.iter().map(|(_, _, b)| b).sum();
    let pages: i64 = s
        .conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    assert!(total <= pages * page, "{total} > {}", pages * page);
    let stats = s.stats().unwrap();
    assert!(stats
        .iter()
        .any(|(k, v)| k == "pdns_rrsets rows" && v == "1"));
    assert!(stats.iter().any(|(k, _)| k == "lookups bytes"));
}

pub(super) fn detailed(ts: i64) -> Lookup {
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

/// The fields of schema version 6 survive a write and a read.
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
    // Schema 8 keys the table by (ts_us, seq): time ranges need no index.
    assert_eq!(indexes, ["lookups_qname", "lookups_querier"]);
}
