//! Tests of the compact lookups table (schema 8): round trips, the
//! schema-7 migration, corrupt rows, query plans.

use super::tests::{at_version, detailed, lookup};
use super::*;

/// Every value the compact encodings must keep apart, in one batch.
fn varied() -> Vec<Lookup> {
    let mut v = vec![
        detailed(5),
        lookup(5, "[2001:db8::77]"),
        lookup(3, "192.0.2.3"),
    ];
    let mut odd = lookup(5, "192.0.2.4");
    odd.qtype = "TYPE65534".into();
    odd.qclass = "CH".into();
    odd.flags = "ra rd".into();
    odd.rcode = Some("BADVERS".into());
    odd.transport = "tcp".into();
    odd.source = "iface:eth0#007".into();
    odd.sensor = String::new();
    odd.qname = String::new();
    odd.also = vec!["192.0.2.1".into(), "x.example".into()];
    odd.ecs = Some("198.51.100.0/24".into());
    odd.rtt_us = None;
    odd.query_seen = false;
    odd.server = "[::ffff:192.0.2.53]:853".parse().unwrap();
    v.push(odd);
    let mut unanswered = lookup(4, "192.0.2.5");
    unanswered.rcode = None;
    unanswered.answers.clear();
    unanswered.answered = false;
    unanswered.flags = String::new();
    unanswered.source = "plain".into();
    // Ports from 32768 up are stored as negative numbers.
    unanswered.querier = "192.0.2.5:40000".parse().unwrap();
    unanswered.server = "192.0.2.53:65535".parse().unwrap();
    v.push(unanswered);
    // The same answers again: one answer set.
    v.push(lookup(6, "192.0.2.6"));
    v
}

fn all(s: &SqliteStore) -> Vec<Lookup> {
    let mut got = Vec::new();
    s.lookups(&LookupFilter::default(), &mut |l| {
        got.push(l);
        true
    })
    .unwrap();
    got
}

/// Rows read back equal the lookups written, in (time, write order).
#[test]
fn the_compact_table_reads_back_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(&dir.path().join("c.db")).unwrap();
    let v = varied();
    s.write(&Batch {
        lookups: v.clone(),
        ..Batch::default()
    })
    .unwrap();
    let mut want = v;
    want.sort_by_key(|l| l.ts_us);
    assert_eq!(all(&s), want);
    let sets: i64 = s
        .conn
        .query_row("SELECT count(*) FROM answer_sets", [], |r| r.get(0))
        .unwrap();
    // The A answer shared by four lookups, and detailed()'s authority.
    assert_eq!(sets, 2);
    // Filters by interned name, blob address and coded type.
    let count = |f: LookupFilter| {
        let mut n = 0;
        s.lookups(&f, &mut |_| {
            n += 1;
            true
        })
        .unwrap();
        n
    };
    let f = LookupFilter::default;
    assert_eq!(
        count(LookupFilter {
            name: Some("WWW.example.com.".into()),
            ..f()
        }),
        5
    );
    assert_eq!(
        count(LookupFilter {
            name: Some("*.com".into()),
            ..f()
        }),
        5
    );
    assert_eq!(
        count(LookupFilter {
            querier: Some("2001:db8::77".into()),
            ..f()
        }),
        1
    );
    assert_eq!(
        count(LookupFilter {
            querier: Some("not an address".into()),
            ..f()
        }),
        0
    );
    assert_eq!(
        count(LookupFilter {
            qtype: Some("TYPE65534".into()),
            ..f()
        }),
        1
    );
    assert_eq!(
        count(LookupFilter {
            rcode: Some("NXDOMAIN".into()),
            ..f()
        }),
        1
    );
    assert_eq!(
        count(LookupFilter {
            entry: Some("x.example".into()),
            ..f()
        }),
        1
    );
    assert_eq!(
        count(LookupFilter {
            entry: Some("example.com".into()),
            ..f()
        }),
        6
    );
    let net = |n: &str| Some(crate::store::query::Cidr::parse(n).unwrap());
    assert_eq!(
        count(LookupFilter {
            server_net: net("192.0.2.53"),
            ..f()
        }),
        5
    );
    // Scrubbing resets to what SCRUBBABLE names.
    s.write(&Batch {
        scrub_before: Some((
            100,
            super::super::SCRUBBABLE
                .iter()
                .map(|(k, _)| k.to_string())
                .collect(),
        )),
        ..Batch::default()
    })
    .unwrap();
    for l in all(&s) {
        assert_eq!(
            (
                l.ecs,
                l.querier.port(),
                l.server.port(),
                l.source.as_str(),
                l.answers.len()
            ),
            (None, 0, 0, "", 0)
        );
    }
}

#[test]
fn every_scrubbable_field_has_its_statement() {
    for (field, _) in super::super::SCRUBBABLE {
        assert!(SCRUB_SQL.iter().any(|(f, _, _)| f == field), "{field}");
    }
}

/// A schema-7 database (every migration up to 7 as that release ran
/// them, rows written by its INSERT) opens, moves its rows into the
/// compact table and reads them back as schema 7 read them.
#[test]
fn a_schema_7_database_migrates_and_reads_back_identically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v7.db");
    let rows = varied();
    {
        let c = at_version(&path, 7);
        for l in &rows {
            c.execute(
                "INSERT INTO lookups (ts_us, entry, querier, querier_port, server, server_port, transport,
                    qname, qtype, qclass, opcode, flags, rcode, answers, rtt_us, ecs, query_seen, answered, source, also, sensor,
                    dns_id, qdcount, ancount, nscount, arcount, edns_version, edns_udp_size, edns_do, edns_z,
                    query_size, response_size, authority)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21,
                    ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33)",
                rusqlite::params![
                    l.ts_us, l.entry, l.querier.ip().to_string(), l.querier.port(),
                    l.server.ip().to_string(), l.server.port(), l.transport, l.qname, l.qtype,
                    l.qclass, l.opcode, l.flags, l.rcode,
                    serde_json::to_string(&l.answers).unwrap(), l.rtt_us, l.ecs, l.query_seen,
                    l.answered, l.source, serde_json::to_string(&l.also).unwrap(), l.sensor,
                    l.dns_id, l.counts.qd, l.counts.an, l.counts.ns, l.counts.ar,
                    l.edns.map(|e| e.version), l.edns.map(|e| e.udp_size),
                    l.edns.map(|e| e.dnssec_ok), l.edns.map(|e| e.z), l.query_size,
                    l.response_size, serde_json::to_string(&l.authority).unwrap(),
                ],
            )
            .unwrap();
        }
    }
    let mut s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.version().unwrap(), SCHEMA_VERSION);
    let mut want = rows;
    // Schema 7 read in (ts_us, id) order: the stable sort keeps that.
    want.sort_by_key(|l| l.ts_us);
    assert_eq!(all(&s), want);
    let old: i64 = s
        .conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'lookups_v7'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(old, 0);
    // Writing after the migration goes on in the same order.
    s.write(&Batch {
        lookups: vec![lookup(5, "192.0.2.99")],
        ..Batch::default()
    })
    .unwrap();
    let got = all(&s);
    assert_eq!(
        got.iter().rfind(|l| l.ts_us == 5),
        Some(&lookup(5, "192.0.2.99"))
    );
}

/// A damaged row is an error naming the row, not a panic.
#[test]
fn a_corrupt_row_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(&dir.path().join("x.db")).unwrap();
    let damage = [
        "UPDATE lookups SET querier = x'0102'",
        "UPDATE lookups SET qtype = 3",
        "UPDATE lookups SET qname = 999",
        "UPDATE lookups SET answers = 999",
        "UPDATE answer_sets SET body = 'not json'",
        "UPDATE lookups SET hdr = x'40'",
        "UPDATE lookups SET hdr = 7",
        "UPDATE lookups SET source = 2.5",
        "UPDATE lookups SET querier_port = 65536",
        "UPDATE lookups SET server_port = -32769",
    ];
    for sql in damage {
        s.conn.execute("DELETE FROM lookups", []).unwrap();
        s.write(&Batch {
            lookups: vec![lookup(42, "192.0.2.1")],
            ..Batch::default()
        })
        .unwrap();
        s.conn.execute(sql, []).unwrap();
        let err = s
            .lookups(&LookupFilter::default(), &mut |_| true)
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt { row, .. } if row == "ts_us 42 seq 0"),
            "{sql}: {err}"
        );
        // Repair the shared answer set for the next case.
        s.conn.execute("DELETE FROM answer_sets", []).unwrap();
        s.intern.clear();
    }
}

/// Every lookup filter is served by an index of the lookups table (or its
/// primary key): no query scans the whole table except the unfiltered
/// listing and the entry/type/rcode filters, which scan it in key order.
#[test]
fn lookup_queries_use_the_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("q.db")).unwrap();
    let f = LookupFilter::default;
    let cases = [
        (
            LookupFilter {
                name: Some("www.example.com".into()),
                ..f()
            },
            "lookups_qname",
        ),
        (
            LookupFilter {
                name: Some("*.example.com".into()),
                ..f()
            },
            "lookups_qname",
        ),
        (
            LookupFilter {
                querier: Some("192.0.2.1".into()),
                ..f()
            },
            "lookups_querier",
        ),
        (
            LookupFilter {
                since_us: Some(1),
                until_us: Some(2),
                ..f()
            },
            "PRIMARY KEY",
        ),
        (
            LookupFilter {
                since_us: Some(1),
                entry: Some("example.com".into()),
                ..f()
            },
            "PRIMARY KEY",
        ),
    ];
    for (filter, index) in cases {
        let plan = s.lookups_plan(&filter).unwrap();
        assert!(
            plan.iter()
                .any(|p| p.starts_with("SEARCH l ") && p.contains(index)),
            "{filter:?}: {plan:?}"
        );
        assert!(
            !plan.iter().any(|p| p.starts_with("SCAN l")),
            "{filter:?}: {plan:?}"
        );
    }
}

/// A schema-7 file opened read-only is not migrated: reading its lookups
/// says how to migrate it instead of failing on a missing table.
#[test]
fn an_unmigrated_database_read_only_says_to_migrate_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v7.db");
    {
        at_version(&path, 7);
    }
    let s = SqliteStore::open_read_only(&path).unwrap();
    let err = s
        .lookups(&LookupFilter::default(), &mut |_| true)
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::TooOld {
                found: 7,
                needed: 8,
                ..
            }
        ),
        "{err}"
    );
    drop(s);
    SqliteStore::open(&path).unwrap();
    let s = SqliteStore::open_read_only(&path).unwrap();
    s.lookups(&LookupFilter::default(), &mut |_| true).unwrap();
}

/// Preload counts each lookup's hour for its entry and every `also`
/// entry, by entry name.
#[test]
fn preload_counts_hours_by_entry_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(&dir.path().join("p.db")).unwrap();
    let hour = 3_600_000_000;
    let mut both = lookup(hour + 1, "192.0.2.1");
    both.also = vec!["192.0.2.1".into()];
    s.write(&Batch {
        lookups: vec![
            lookup(hour, "192.0.2.1"),
            both,
            lookup(2 * hour, "192.0.2.2"),
        ],
        ..Batch::default()
    })
    .unwrap();
    let p = s.preload(7).unwrap();
    assert_eq!(
        p.hours,
        vec![
            ("192.0.2.1".to_string(), 1, 1),
            ("example.com".to_string(), 1, 2),
            ("example.com".to_string(), 2, 1),
        ]
    );
}

/// (stored ts_us, seq) of every row, in key order.
fn keys(s: &SqliteStore) -> Vec<(i64, i64)> {
    let mut stmt = s
        .conn
        .prepare("SELECT ts_us, seq FROM lookups ORDER BY ts_us, seq")
        .unwrap();
    let rows: Vec<(i64, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows
}

/// The writer keeps the next seq of each time in memory; it must give
/// what `max(seq) + 1` gives across batches, restarts, another writer,
/// a rolled-back batch and pruning.
#[test]
fn same_time_seqs_continue_across_batches_restarts_failures_and_prunes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let t = 1_796_294_822_000_000;
    let batch = |ls: Vec<Lookup>| Batch {
        lookups: ls,
        ..Batch::default()
    };
    let mut s = SqliteStore::open(&path).unwrap();
    s.write(&batch(vec![lookup(t, "192.0.2.1"), lookup(t, "192.0.2.2")]))
        .unwrap();
    // Keys with the time as an offset from t.
    let t0 = keys(&s)[0].0;
    let keys = |s: &SqliteStore| -> Vec<(i64, i64)> {
        keys(s)
            .into_iter()
            .map(|(ts, seq)| (ts - t0, seq))
            .collect()
    };
    s.write(&batch(vec![
        lookup(t, "192.0.2.3"),
        lookup(t + 5, "192.0.2.4"),
    ]))
    .unwrap();
    drop(s);
    // A restart: the seqs of stored times come from the table.
    let mut s = SqliteStore::open(&path).unwrap();
    s.write(&batch(vec![
        lookup(t + 5, "192.0.2.5"),
        lookup(t, "192.0.2.6"),
        lookup(t + 9, "192.0.2.7"),
    ]))
    .unwrap();
    // Another connection writes the same times in between.
    let mut other = SqliteStore::open(&path).unwrap();
    other
        .write(&batch(vec![
            lookup(t + 9, "192.0.2.8"),
            lookup(t, "192.0.2.9"),
        ]))
        .unwrap();
    // A batch that fails after some inserts leaves no seq behind.
    s.conn
        .execute_batch(
            "CREATE TRIGGER fail BEFORE INSERT ON lookups
             WHEN NEW.querier = x'c00002ff' BEGIN SELECT RAISE(ABORT, 'refused'); END",
        )
        .unwrap();
    // (With a new sensor: its interned id goes with the batch.)
    let sensor2 = |mut l: Lookup| {
        l.sensor = "s2".into();
        l
    };
    assert!(s
        .write(&batch(vec![
            sensor2(lookup(t, "192.0.2.11")),
            sensor2(lookup(t + 9, "192.0.2.12")),
            sensor2(lookup(t + 20, "192.0.2.13")),
            sensor2(lookup(t, "192.0.2.255")),
        ]))
        .is_err());
    s.write(&batch(vec![sensor2(lookup(t + 9, "192.0.2.10"))]))
        .unwrap();
    // Another writer again, then a batch of this one without lookups.
    other
        .write(&batch(vec![lookup(t + 9, "192.0.2.18")]))
        .unwrap();
    s.write(&Batch {
        hourly: vec![crate::model::HourRow {
            hour_us: 0,
            metric: "packets".into(),
            value: 1,
        }],
        ..Batch::default()
    })
    .unwrap();
    s.write(&batch(vec![lookup(t + 9, "192.0.2.19")])).unwrap();
    // Nor does one that fails at its first insert, after a committed
    // batch (no change in between to notice).
    assert!(s
        .write(&batch(vec![lookup(t + 20, "192.0.2.255")]))
        .is_err());
    s.conn.execute_batch("DROP TRIGGER fail").unwrap();
    s.write(&batch(vec![
        lookup(t, "192.0.2.14"),
        lookup(t + 20, "192.0.2.15"),
    ]))
    .unwrap();
    assert_eq!(
        keys(&s),
        vec![
            (0, 0),
            (0, 1),
            (0, 2),
            (0, 3),
            (0, 4),
            (0, 5),
            (5, 0),
            (5, 1),
            (9, 0),
            (9, 1),
            (9, 2),
            (9, 3),
            (9, 4),
            (20, 0),
        ]
    );
    let got = all(&s);
    assert_eq!(got[10].sensor, "s2");
    let order: Vec<String> = got.iter().map(|l| l.querier.ip().to_string()).collect();
    assert_eq!(
        order,
        [1, 2, 3, 6, 9, 14, 4, 5, 7, 8, 10, 18, 19, 15].map(|i| format!("192.0.2.{i}"))
    );
    // Pruned times start again at seq 0, as the query would say.
    s.prune(t + 10).unwrap();
    s.write(&batch(vec![
        lookup(t + 5, "192.0.2.16"),
        lookup(t + 20, "192.0.2.17"),
    ]))
    .unwrap();
    assert_eq!(keys(&s), vec![(5, 0), (20, 0), (20, 1)]);
}

/// Schema 9 stores times relative to the first lookup's (6 bytes instead
/// of 8); every reader sees the absolute times.
#[test]
fn times_are_stored_relative_to_the_base_and_read_back_absolute() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(&dir.path().join("b.db")).unwrap();
    let t = 1_796_294_822_783_468;
    let hour = 3_600_000_000;
    s.write(&Batch {
        lookups: vec![
            lookup(t, "192.0.2.1"),
            lookup(t - 7, "192.0.2.2"),
            lookup(t + hour, "192.0.2.3"),
        ],
        ..Batch::default()
    })
    .unwrap();
    assert_eq!(write::ts_base(&s.conn).unwrap(), Some(t));
    assert_eq!(keys(&s), vec![(-7, 0), (0, 0), (hour, 0)]);
    let times: Vec<i64> = all(&s).iter().map(|l| l.ts_us).collect();
    assert_eq!(times, vec![t - 7, t, t + hour]);
    let since = |since_us, until_us| {
        let mut got = Vec::new();
        s.lookups(
            &LookupFilter {
                since_us,
                until_us,
                ..LookupFilter::default()
            },
            &mut |l| {
                got.push(l.ts_us);
                true
            },
        )
        .unwrap();
        got
    };
    assert_eq!(since(Some(t), None), vec![t, t + hour]);
    assert_eq!(since(None, Some(t)), vec![t - 7]);
    assert_eq!(
        since(Some(i64::MIN), Some(i64::MAX)),
        vec![t - 7, t, t + hour]
    );
    assert_eq!(since(Some(i64::MAX), None), Vec::<i64>::new());
    let stats = s.stats().unwrap();
    let stat = |k: &str| stats.iter().find(|(l, _)| l == k).map(|(_, v)| v.clone());
    assert_eq!(stat("first lookup"), Some(crate::time::rfc3339(t - 7)));
    assert_eq!(stat("last lookup"), Some(crate::time::rfc3339(t + hour)));
    let p = s.preload(7).unwrap();
    assert_eq!(
        p.hours,
        vec![
            ("example.com".to_string(), t / hour, 2),
            ("example.com".to_string(), t / hour + 1, 1),
        ]
    );
    // The base of a later batch is the stored one.
    s.write(&Batch {
        lookups: vec![lookup(t + 1, "192.0.2.4")],
        ..Batch::default()
    })
    .unwrap();
    drop(s);
    let mut s = SqliteStore::open(&dir.path().join("b.db")).unwrap();
    s.write(&Batch {
        lookups: vec![lookup(t + 2, "192.0.2.5")],
        ..Batch::default()
    })
    .unwrap();
    assert_eq!(write::ts_base(&s.conn).unwrap(), Some(t));
    assert_eq!(keys(&s), vec![(-7, 0), (0, 0), (1, 0), (2, 0), (hour, 0)]);
    // Pruning and scrubbing compare absolute times.
    s.write(&Batch {
        scrub_before: Some((t + 1, vec!["ecs".into(), "querier_port".into()])),
        ..Batch::default()
    })
    .unwrap();
    let ports: Vec<u16> = all(&s).iter().map(|l| l.querier.port()).collect();
    assert_eq!(ports, vec![0, 0, 5353, 5353, 5353]);
    assert_eq!(s.prune(t + 2).unwrap(), 3);
    let times: Vec<i64> = all(&s).iter().map(|l| l.ts_us).collect();
    assert_eq!(times, vec![t + 2, t + hour]);
}

/// A schema-8 database (absolute times) keeps its rows: its base is 0.
#[test]
fn a_schema_8_database_gets_the_base_0_and_reads_back_identically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v8.db");
    let rows = varied();
    {
        let c = at_version(&path, 8);
        // Schema 8's writer: absolute times, ports as themselves.
        write::insert_lookups(
            &c,
            &mut write::Interner::default(),
            &mut write::Seqs::default(),
            0,
            &rows,
        )
        .unwrap();
        let n = c
            .execute(
                "UPDATE lookups SET querier_port = querier_port + 65536,
                    server_port = server_port + 65536 WHERE querier_port < 0",
                [],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    let mut s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.version().unwrap(), SCHEMA_VERSION);
    assert_eq!(write::ts_base(&s.conn).unwrap(), Some(0));
    let mut want = rows;
    want.sort_by_key(|l| l.ts_us);
    assert_eq!(all(&s), want);
    s.write(&Batch {
        lookups: vec![lookup(5, "192.0.2.99")],
        ..Batch::default()
    })
    .unwrap();
    assert_eq!(keys(&s).iter().filter(|(t, _)| *t == 5).count(), 4);
    assert_eq!(
        all(&s).iter().rfind(|l| l.ts_us == 5),
        Some(&lookup(5, "192.0.2.99"))
    );
    // An empty schema-8 database gets its base from its first lookup.
    let path = dir.path().join("empty8.db");
    {
        at_version(&path, 8);
    }
    let mut s = SqliteStore::open(&path).unwrap();
    assert_eq!(write::ts_base(&s.conn).unwrap(), None);
    s.write(&Batch {
        lookups: vec![lookup(77, "192.0.2.1")],
        ..Batch::default()
    })
    .unwrap();
    assert_eq!(write::ts_base(&s.conn).unwrap(), Some(77));
    assert_eq!(keys(&s), vec![(0, 0)]);
}
