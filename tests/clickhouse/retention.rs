//! Lookups older than `storage.retention_days` (by the wall clock) sent to
//! ClickHouse: a server with table `TTL` (19.6 on) deletes them as it
//! inserts them, so a replay of old captures with a retention configured
//! must say so instead of losing them without a word.

use std::net::Ipv4Addr;

use dnswatch::store::clickhouse::schema::Ddl;

use super::support::scenario::{write_pcap, Event};
use super::{client, count, replay, sqlite_lookups, unique, url, write_config};

const DAY_US: i64 = 86_400_000_000;

#[test]
fn lookups_older_than_the_retention_are_said_and_the_server_keeps_what_its_ttl_allows() {
    let url = url();
    let db = unique("expired");
    let dir = tempfile::tempdir().unwrap();
    let now_us = dnswatch::time::wall_clock_us();
    // Ten lookups of 2016 and five of an hour ago.
    let q = Ipv4Addr::new(192, 0, 2, 7);
    let old: Vec<Event> = (0..10)
        .map(|i| {
            Event::a(
                1_474_588_800_000_000 + i * 60_000_000,
                q,
                "mail1.example.com",
                Some(Ipv4Addr::new(66, 216, 133, 29)),
            )
        })
        .collect();
    let recent: Vec<Event> = (0..5)
        .map(|i| {
            Event::a(
                now_us - DAY_US / 24 + i * 60_000_000,
                q,
                "mail1.example.com",
                Some(Ipv4Addr::new(66, 216, 133, 29)),
            )
        })
        .collect();
    let (old_pcap, recent_pcap) = (dir.path().join("old.pcap"), dir.path().join("recent.pcap"));
    write_pcap(&old_pcap, &old).unwrap();
    write_pcap(&recent_pcap, &recent).unwrap();
    let cfg = write_config(dir.path(), &db, "");
    let cfg_text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("[storage]\nretention_days = 30\n{cfg_text}")).unwrap();
    let sqlite = dir.path().join("r.db");
    let run = |pcap: &std::path::Path| {
        let out = replay(&[
            "--config",
            cfg.to_str().unwrap(),
            "--clickhouse",
            &url,
            "--watch",
            "example.com",
            "--db",
            sqlite.to_str().unwrap(),
            pcap.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let warning = "older than storage.retention_days";
    let said_recent = run(&recent_pcap);
    assert!(!said_recent.contains(warning), "{said_recent}");
    let said_old = run(&old_pcap);
    assert!(said_old.contains(warning), "{said_old}");
    assert!(said_old.contains("retention_days = 0"), "{said_old}");

    // SQLite keeps all 15 in a replay (only the daemon prunes).
    assert_eq!(sqlite_lookups(&sqlite).len(), 15);
    let version = client(&url).query("SELECT version()").unwrap();
    let ddl = Ddl::for_server(&version, 30);
    let kept = count(&url, &format!("SELECT count() FROM {db}.lookups"));
    if ddl.ttl {
        // The table TTL deleted the ten of 2016 on insert: what the
        // warning said.
        assert_eq!(kept, 5, "server {version}");
    } else {
        // No TTL before 19.6: all arrive, and the daemon's day-partition
        // retention would drop the old ones.
        assert_eq!(kept, 15, "server {version}");
    }
}
