//! The project's own loopback fixtures (pcaps/, made by pcaps/make-fixtures.sh
//! with NSD, dig and kdig) decode to exactly what was sent.

mod support;

use std::path::Path;

use support::replay_lookups;

fn fixture(name: &str) -> Vec<dnswatch::model::Lookup> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("pcaps")
        .join(name);
    replay_lookups(&[path.as_path()], &["."])
}

fn count(ls: &[dnswatch::model::Lookup], f: impl Fn(&dnswatch::model::Lookup) -> bool) -> usize {
    ls.iter().filter(|l| f(l)).count()
}

#[test]
fn udp4() {
    let l = fixture("udp4.pcap");
    assert_eq!(l.len(), 23);
    assert!(l
        .iter()
        .all(|l| l.transport == "udp" && l.answered && l.query_seen));
    assert_eq!(count(&l, |l| l.rcode.as_deref() == Some("NXDOMAIN")), 3);
    assert_eq!(count(&l, |l| l.rcode.as_deref() == Some("REFUSED")), 1);
    let ptr = l
        .iter()
        .find(|l| l.qname == "29.2.0.192.in-addr.arpa")
        .expect("PTR lookup");
    assert_eq!(ptr.answers[0].data, "mail1.lab.example.");
    // the three queries without RD
    assert_eq!(count(&l, |l| !l.flags.split(' ').any(|f| f == "rd")), 3);
}

#[test]
fn tcp4_with_pipelined_connections() {
    let l = fixture("tcp4.pcap");
    assert_eq!(l.len(), 29);
    assert!(l
        .iter()
        .all(|l| l.transport == "tcp" && l.answered && l.query_seen));
    // 5 queries on one kdig connection and 4 on one dig connection share a querier port
    let mut ports: Vec<u16> = l.iter().map(|l| l.querier.port()).collect();
    ports.sort_unstable();
    let mut runs = Vec::new();
    for p in &ports {
        match runs.last_mut() {
            Some((q, n)) if q == p => *n += 1,
            _ => runs.push((*p, 1)),
        }
    }
    let mut sizes: Vec<usize> = runs.iter().map(|r| r.1).filter(|n| *n > 1).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![4, 5]);
}

#[test]
fn ipv6_udp_and_tcp() {
    let l = fixture("udp6-tcp6.pcap");
    assert_eq!(l.len(), 18);
    assert_eq!(count(&l, |l| l.transport == "udp"), 8);
    assert_eq!(count(&l, |l| l.transport == "tcp"), 10);
    assert!(l
        .iter()
        .all(|l| l.querier.ip().to_string() == "::1" && l.answered));
}

#[test]
fn edns_client_subnet() {
    let l = fixture("ecs.pcap");
    assert_eq!(l.len(), 4);
    assert_eq!(
        count(&l, |l| l.ecs.as_deref() == Some("198.51.100.0/24")),
        3
    );
    assert_eq!(
        count(&l, |l| l.ecs.as_deref() == Some("2001:db8:51::/48")),
        1
    );
}
