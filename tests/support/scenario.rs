//! Deterministic DNS traffic scenarios written as real capture files.
//!
//! Tests describe traffic as a list of [`Event`]s (one lookup each: a query
//! and, optionally, its response), usually built with the scenario builders
//! ([`steady`], [`with_spike`], [`with_silence`], [`periodic`], [`poisson`])
//! from a fixed start [`T0`] and a seed, and then turn them into a classic
//! pcap file with [`write_pcap`] (or [`pcap_bytes`] in memory).
//!
//! The capture format is the classic libpcap one: little-endian header with
//! magic `0xa1b2c3d4`, version 2.4, microsecond timestamps, snaplen 65535 and
//! `LINKTYPE_ETHERNET` (1). Every packet is Ethernet II + IPv4 (correct header
//! checksum) + UDP (correct checksum) + DNS wire format, so the files decode
//! cleanly in tshark/tcpdump and in the production capture path.
//!
//! Everything here is deterministic: the same inputs always produce the same
//! bytes.

use std::io;
use std::net::Ipv4Addr;
use std::path::Path;

/// Scenario start: 2016-05-04T00:00:00Z, in µs since the Unix epoch.
pub const T0: i64 = 1_462_320_000_000_000;
/// One second in µs.
pub const SECOND_US: i64 = 1_000_000;
/// One hour in µs.
pub const HOUR_US: i64 = 3_600 * SECOND_US;
/// One day in µs.
pub const DAY_US: i64 = 24 * HOUR_US;
/// The resolver used by [`Event::a`] (TEST-NET-1).
pub const DEFAULT_SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 53);
/// Query type A.
pub const QTYPE_A: u16 = 1;
/// Query type PTR.
pub const QTYPE_PTR: u16 = 12;
/// Query type AAAA.
pub const QTYPE_AAAA: u16 = 28;
/// Response code NOERROR.
pub const RCODE_NOERROR: u8 = 0;
/// Response code NXDOMAIN.
pub const RCODE_NXDOMAIN: u8 = 3;

/// MAC address used for every querier.
const QUERIER_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
/// MAC address used for every server.
const SERVER_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];

/// One lookup: a query and (optionally) its response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Query time, µs since the Unix epoch.
    pub ts_us: i64,
    /// Address the query comes from.
    pub querier: Ipv4Addr,
    /// UDP source port of the query.
    pub querier_port: u16,
    /// Resolver the query goes to (UDP port 53).
    pub server: Ipv4Addr,
    /// Queried name, encoded as given (e.g. `"mail1.trump-email.com"`).
    pub qname: String,
    /// Query type: 1 = A, 12 = PTR, 28 = AAAA ...
    pub qtype: u16,
    /// `None`: no response captured (unanswered); `Some(0)` NOERROR,
    /// `Some(3)` NXDOMAIN, ...
    pub rcode: Option<u8>,
    /// A records in the response; ignored unless `rcode == Some(0)`.
    pub answers: Vec<Ipv4Addr>,
    /// TTL of the answer records.
    pub ttl: u32,
    /// Response delay in µs (response time is `ts_us + rtt_us`).
    pub rtt_us: i64,
}

impl Event {
    /// A query for `qname` from `querier` to [`DEFAULT_SERVER`] at `ts_us`.
    ///
    /// The source port is derived from the time:
    /// `1024 + (ts_us / 1000) mod 60000`. With `Some(addr)` the response is
    /// NOERROR with that single A record, otherwise NXDOMAIN with no answers.
    /// TTL 300, response 2000 µs after the query.
    pub fn a(ts_us: i64, querier: Ipv4Addr, qname: &str, answer: Option<Ipv4Addr>) -> Event {
        let (rcode, answers) = match answer {
            Some(addr) => (RCODE_NOERROR, vec![addr]),
            None => (RCODE_NXDOMAIN, Vec::new()),
        };
        Event {
            ts_us,
            querier,
            querier_port: port_for(ts_us),
            server: DEFAULT_SERVER,
            qname: qname.to_string(),
            qtype: QTYPE_A,
            rcode: Some(rcode),
            answers,
            ttl: 300,
            rtt_us: 2_000,
        }
    }

    /// The same lookup, left unanswered (no response packet).
    pub fn unanswered(mut self) -> Event {
        self.rcode = None;
        self.answers.clear();
        self
    }

    /// Time of the response packet, if there is one.
    pub fn response_ts_us(&self) -> Option<i64> {
        self.rcode.map(|_| self.ts_us + self.rtt_us)
    }
}

/// The source port [`Event::a`] uses for a query at `ts_us`.
pub fn port_for(ts_us: i64) -> u16 {
    1024 + (ts_us / 1_000).rem_euclid(60_000) as u16
}

/// The DNS message id of the event at `index` in the slice given to
/// [`pcap_bytes`]/[`write_pcap`] (a bijection on the low 16 bits of the
/// index, so ids are unique within any 65536 consecutive events).
pub fn dns_id(index: usize) -> u16 {
    ((index as u16).wrapping_mul(40_503)) ^ 0x2b1d
}

/// Writes `events` as a classic little-endian microsecond pcap
/// (`LINKTYPE_ETHERNET`) to `path`; see [`pcap_bytes`].
pub fn write_pcap(path: &Path, events: &[Event]) -> io::Result<()> {
    std::fs::write(path, pcap_bytes(events))
}

/// The capture for `events`, in memory.
///
/// Each event yields a query packet at `ts_us` (querier:port → server:53)
/// and, when `rcode` is `Some`, a response at `ts_us + rtt_us`
/// (server:53 → querier:port). All packets are ordered by timestamp (stable,
/// so ties keep event order, query before its own response). IPv4 ids count
/// up from 1 in file order.
///
/// # Panics
///
/// If a label of a query name is longer than 63 bytes or the encoded name is
/// longer than 255 bytes.
pub fn pcap_bytes(events: &[Event]) -> Vec<u8> {
    // (timestamp, event index, is response), stable-sorted by timestamp.
    let mut packets: Vec<(i64, usize, bool)> = Vec::with_capacity(events.len() * 2);
    for (i, ev) in events.iter().enumerate() {
        packets.push((ev.ts_us, i, false));
        if let Some(ts) = ev.response_ts_us() {
            packets.push((ts, i, true));
        }
    }
    packets.sort_by_key(|p| p.0);

    let mut out = Vec::with_capacity(24 + packets.len() * 120);
    // Global header.
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    out.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    out.extend_from_slice(&65_535u32.to_le_bytes()); // snaplen
    out.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET

    for (n, &(ts, i, response)) in packets.iter().enumerate() {
        let ip_id = (n as u16).wrapping_add(1);
        let frame = frame(&events[i], dns_id(i), response, ip_id);
        out.extend_from_slice(&(ts.div_euclid(SECOND_US) as u32).to_le_bytes());
        out.extend_from_slice(&(ts.rem_euclid(SECOND_US) as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    out
}

/// One Ethernet frame carrying the query or the response of `ev`.
fn frame(ev: &Event, id: u16, response: bool, ip_id: u16) -> Vec<u8> {
    let dns = dns_message(ev, id, response);
    let (src, dst, sport, dport, smac, dmac) = if response {
        (
            ev.server,
            ev.querier,
            53,
            ev.querier_port,
            SERVER_MAC,
            QUERIER_MAC,
        )
    } else {
        (
            ev.querier,
            ev.server,
            ev.querier_port,
            53,
            QUERIER_MAC,
            SERVER_MAC,
        )
    };

    let udp_len = 8 + dns.len();
    let ip_len = 20 + udp_len;
    assert!(ip_len <= 65_535, "DNS message too large for one datagram");

    let mut f = Vec::with_capacity(14 + ip_len);
    // Ethernet II.
    f.extend_from_slice(&dmac);
    f.extend_from_slice(&smac);
    f.extend_from_slice(&0x0800u16.to_be_bytes());

    // IPv4 header.
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
    ip[4..6].copy_from_slice(&ip_id.to_be_bytes());
    ip[8] = 64; // TTL
    ip[9] = 17; // UDP
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let sum = checksum(&[&ip]);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);

    // UDP header with the checksum over the IPv4 pseudo-header.
    let mut udp = [0u8; 8];
    udp[0..2].copy_from_slice(&sport.to_be_bytes());
    udp[2..4].copy_from_slice(&dport.to_be_bytes());
    udp[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
    let mut pseudo = [0u8; 12];
    pseudo[0..4].copy_from_slice(&src.octets());
    pseudo[4..8].copy_from_slice(&dst.octets());
    pseudo[9] = 17;
    pseudo[10..12].copy_from_slice(&(udp_len as u16).to_be_bytes());
    let sum = match checksum(&[&pseudo, &udp, &dns]) {
        0 => 0xffff,
        s => s,
    };
    udp[6..8].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&udp);
    f.extend_from_slice(&dns);
    f
}

/// Internet checksum (RFC 1071) over the concatenation of `parts`.
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut odd: Option<u8> = None;
    for part in parts {
        for &b in part.iter() {
            match odd.take() {
                Some(hi) => sum += u32::from(u16::from_be_bytes([hi, b])),
                None => odd = Some(b),
            }
        }
    }
    if let Some(hi) = odd {
        sum += u32::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// DNS wire format of the query or response of `ev`.
fn dns_message(ev: &Event, id: u16, response: bool) -> Vec<u8> {
    let rcode = ev.rcode.unwrap_or(0);
    let answers: &[Ipv4Addr] = if response && rcode == RCODE_NOERROR {
        &ev.answers
    } else {
        &[]
    };
    let flags: u16 = if response {
        0x8000 | 0x0100 | 0x0080 | u16::from(rcode & 0x0f) // QR RD RA rcode
    } else {
        0x0100 // RD
    };

    let mut m = Vec::with_capacity(12 + ev.qname.len() + 6 + answers.len() * 16);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes()); // QDCOUNT
    m.extend_from_slice(&(answers.len() as u16).to_be_bytes()); // ANCOUNT
    m.extend_from_slice(&0u16.to_be_bytes()); // NSCOUNT
    m.extend_from_slice(&0u16.to_be_bytes()); // ARCOUNT
    encode_name(&mut m, &ev.qname);
    m.extend_from_slice(&ev.qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes()); // class IN
    for addr in answers {
        m.extend_from_slice(&0xc00cu16.to_be_bytes()); // pointer to the question name
        m.extend_from_slice(&QTYPE_A.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes()); // class IN
        m.extend_from_slice(&ev.ttl.to_be_bytes());
        m.extend_from_slice(&4u16.to_be_bytes());
        m.extend_from_slice(&addr.octets());
    }
    m
}

/// Appends `name` as uncompressed labels; `""` and `"."` are the root.
fn encode_name(out: &mut Vec<u8>, name: &str) {
    let start = out.len();
    for label in name.split('.').filter(|l| !l.is_empty()) {
        assert!(
            label.len() <= 63,
            "DNS label longer than 63 bytes: {label:?}"
        );
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    assert!(
        out.len() - start <= 255,
        "DNS name longer than 255 bytes: {name:?}"
    );
}

/// A tiny deterministic PRNG (splitmix64).
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// A generator seeded with `seed`; equal seeds give equal sequences.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in the open interval (0, 1), never exactly 0 or 1.
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Uniform integer in `0..n` (0 when `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Exponential variate with the given mean.
    pub fn exp(&mut self, mean: f64) -> f64 {
        -mean * self.uniform().ln()
    }

    /// Poisson variate with mean `lambda` (0 for `lambda <= 0` or NaN).
    ///
    /// Knuth's multiplication method, applied in chunks of at most 30 so
    /// large means do not underflow (a sum of Poisson variates is Poisson).
    pub fn poisson(&mut self, lambda: f64) -> u64 {
        let mut left = if lambda > 0.0 { lambda } else { 0.0 };
        let mut k = 0;
        while left > 0.0 {
            let chunk = left.min(30.0);
            left -= chunk;
            let limit = (-chunk).exp();
            let mut p = self.uniform();
            while p > limit {
                k += 1;
                p *= self.uniform();
            }
        }
        k
    }
}

/// A homogeneous Poisson process of about `per_day` lookups a day over
/// `days` days from [`T0`], each from a querier chosen uniformly from
/// `queriers`, all [`Event::a`] NOERROR lookups of `name` answering `addr`.
///
/// Returns the events in time order. Empty if `queriers` is empty or the
/// rate is not positive.
pub fn steady(
    seed: u64,
    days: i64,
    per_day: impl Into<f64>,
    queriers: &[Ipv4Addr],
    name: &str,
    addr: Ipv4Addr,
) -> Vec<Event> {
    let per_day: f64 = per_day.into();
    let mut out = Vec::new();
    if queriers.is_empty() || per_day.is_nan() || per_day <= 0.0 {
        return out;
    }
    let mut rng = Rng::new(seed);
    let mean_gap = DAY_US as f64 / per_day;
    let end = T0 + days * DAY_US;
    let mut t = T0 as f64;
    loop {
        t += rng.exp(mean_gap);
        let ts = t as i64;
        if ts >= end {
            break;
        }
        let querier = queriers[rng.below(queriers.len() as u64) as usize];
        out.push(Event::a(ts, querier, name, Some(addr)));
    }
    out
}

/// `base` plus `extra` lookups of `name` (answering `addr`) by `querier`,
/// at uniformly random (seeded by the arguments) times within hour `hour`
/// of day `day` after [`T0`]. Returns all events in time order (stable).
pub fn with_spike(
    base: Vec<Event>,
    day: i64,
    hour: i64,
    extra: usize,
    querier: Ipv4Addr,
    name: &str,
    addr: Ipv4Addr,
) -> Vec<Event> {
    let start = T0 + day * DAY_US + hour * HOUR_US;
    let seed = (day as u64).wrapping_mul(0x1000_0000_01b3)
        ^ (hour as u64).wrapping_mul(0x9e37_79b9)
        ^ (extra as u64)
        ^ (u64::from(u32::from(querier)) << 20);
    let mut rng = Rng::new(seed);
    let mut times: Vec<i64> = (0..extra)
        .map(|_| start + rng.below(HOUR_US as u64) as i64)
        .collect();
    times.sort_unstable();
    let mut out = base;
    out.extend(
        times
            .into_iter()
            .map(|ts| Event::a(ts, querier, name, Some(addr))),
    );
    out.sort_by_key(|e| e.ts_us);
    out
}

/// `base` without the events whose query time lies in
/// `[T0 + from_day·day, T0 + to_day·day)` (fractional days allowed).
pub fn with_silence(base: Vec<Event>, from_day: f64, to_day: f64) -> Vec<Event> {
    let from = T0 + (from_day * DAY_US as f64).round() as i64;
    let to = T0 + (to_day * DAY_US as f64).round() as i64;
    base.into_iter()
        .filter(|e| e.ts_us < from || e.ts_us >= to)
        .collect()
}

/// `n` lookups of `name` (answering `addr`) by `querier` at exactly
/// `start_us + k·period_us`, `k = 0..n`.
pub fn periodic(
    start_us: i64,
    period_us: i64,
    n: usize,
    querier: Ipv4Addr,
    name: &str,
    addr: Ipv4Addr,
) -> Vec<Event> {
    (0..n as i64)
        .map(|k| Event::a(start_us + k * period_us, querier, name, Some(addr)))
        .collect()
}

/// `n` lookups of `name` (answering `addr`) by `querier` as a Poisson
/// process from `start_us`: independent exponential gaps of mean
/// `mean_gap_us` (the first lookup one gap after `start_us`).
pub fn poisson(
    seed: u64,
    start_us: i64,
    mean_gap_us: i64,
    n: usize,
    querier: Ipv4Addr,
    name: &str,
    addr: Ipv4Addr,
) -> Vec<Event> {
    let mut rng = Rng::new(seed);
    let mut t = start_us as f64;
    (0..n)
        .map(|_| {
            t += rng.exp(mean_gap_us as f64);
            Event::a(t as i64, querier, name, Some(addr))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 7);
    const ADDR: Ipv4Addr = Ipv4Addr::new(66, 216, 133, 29);

    #[test]
    fn capture_layout_is_classic_le_ethernet() {
        let evs = [
            Event::a(T0, Q, "mail1.trump-email.com", Some(ADDR)),
            Event::a(T0 + 1_000, Q, "nx.example", None).unanswered(),
        ];
        let b = pcap_bytes(&evs);
        assert_eq!(b[..4], [0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(u32::from_le_bytes([b[20], b[21], b[22], b[23]]), 1);
        // Three packets: query, second query (t+1ms), first response (t+2ms).
        let mut off = 24;
        let mut count = 0;
        while off < b.len() {
            let len = u32::from_le_bytes([b[off + 8], b[off + 9], b[off + 10], b[off + 11]]);
            let ip = &b[off + 16 + 14..off + 16 + 34];
            assert_eq!(checksum(&[ip]), 0, "IPv4 header checksum");
            off += 16 + len as usize;
            count += 1;
        }
        assert_eq!(off, b.len());
        assert_eq!(count, 3);
    }

    #[test]
    fn builders_are_deterministic() {
        let qs = [Q, Ipv4Addr::new(10, 0, 0, 8)];
        let a = steady(7, 3, 100, &qs, "x.example", ADDR);
        assert_eq!(a, steady(7, 3, 100, &qs, "x.example", ADDR));
        assert!(a.windows(2).all(|w| w[0].ts_us <= w[1].ts_us));
        assert!(a.iter().all(|e| e.ts_us >= T0 && e.ts_us < T0 + 3 * DAY_US));
        let s = with_spike(a.clone(), 1, 5, 40, Q, "x.example", ADDR);
        assert_eq!(s.len(), a.len() + 40);
        let quiet = with_silence(s, 1.0, 2.0);
        assert!(quiet
            .iter()
            .all(|e| e.ts_us < T0 + DAY_US || e.ts_us >= T0 + 2 * DAY_US));
        let p = periodic(T0, 60 * SECOND_US, 5, Q, "x.example", ADDR);
        assert_eq!(p[4].ts_us - p[0].ts_us, 240 * SECOND_US);
        assert_eq!(poisson(3, T0, 1_000_000, 10, Q, "x", ADDR).len(), 10);
    }
}
