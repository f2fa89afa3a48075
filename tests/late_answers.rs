//! Pairing of slow answers: with the default 10 s response timeout and 20 s
//! late window, a response 5.3 s or 12 s after its query is one answered
//! lookup of that query; one 40 s after is given up (an unanswered query
//! and a response without a query). Captures from the scenario writer.

mod support;

use std::net::Ipv4Addr;

use support::scenario::{self, Event, SECOND_US, T0};

const NAME: &str = "slow.example.com";

fn event(ts: i64, rtt_us: i64, host: u8) -> Event {
    let mut e = Event::a(
        ts,
        Ipv4Addr::new(198, 51, 100, host),
        NAME,
        Some(Ipv4Addr::new(192, 0, 2, 80)),
    );
    e.rtt_us = rtt_us;
    e
}

#[test]
fn late_answers_pair_with_their_query() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("slow.pcap");
    let events = vec![
        event(T0, 5_300_000, 1),
        event(T0 + 100 * SECOND_US, 12 * SECOND_US, 2),
        event(T0 + 200 * SECOND_US, 40 * SECOND_US, 3),
        event(T0 + 300 * SECOND_US, 2_000, 4),
    ];
    scenario::write_pcap(&pcap, &events).unwrap();
    let mut lookups = support::replay_lookups(&[pcap.as_path()], &[NAME]);
    lookups.sort_by_key(|l| (l.querier.ip(), l.query_seen));
    let of = |host: u8| -> Vec<&dnswatch::model::Lookup> {
        let ip = std::net::IpAddr::V4(Ipv4Addr::new(198, 51, 100, host));
        lookups.iter().filter(|l| l.querier.ip() == ip).collect()
    };
    // 5.3 s (a slow recursion in a real capture): within the timeout now.
    let a = of(1);
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(a[0].query_seen && a[0].answered);
    assert_eq!(a[0].rtt_us, Some(5_300_000));
    assert_eq!(a[0].ts_us, T0);
    // 12 s: past the timeout, inside the late window: still one lookup.
    let b = of(2);
    assert_eq!(b.len(), 1, "{b:?}");
    assert!(b[0].query_seen && b[0].answered);
    assert_eq!(b[0].rtt_us, Some(12 * SECOND_US));
    assert_eq!(b[0].rcode.as_deref(), Some("NOERROR"));
    assert_eq!(b[0].answers.len(), 1);
    assert_eq!(b[0].dns_id, scenario::dns_id(1));
    // 40 s: past both, so split.
    let c = of(3);
    assert_eq!(c.len(), 2, "{c:?}");
    assert!(!c[0].query_seen && c[0].answered && c[0].rtt_us.is_none());
    assert!(c[1].query_seen && !c[1].answered);
    // And a normal one.
    let d = of(4);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].rtt_us, Some(2_000));
    assert_eq!(lookups.len(), 5);
    // The replay summary counts the late answer (12 s) only.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dnswatch"))
        .args(["replay", "--no-progress", "--watch", NAME, "--db"])
        .arg(dir.path().join("slow.db"))
        .arg(&pcap)
        .output()
        .unwrap();
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        summary.contains(
            "lookups recorded 5 (1 unanswered, 1 without captured query, 1 answered late)"
        ),
        "{summary}"
    );
}
