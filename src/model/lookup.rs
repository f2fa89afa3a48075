//! The per-lookup record: one query and (if seen) its response.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// One lookup that touched a watched entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lookup {
    /// Query time (µs since the Unix epoch); the response time when the
    /// query was not captured.
    pub ts_us: i64,
    /// The watch entry that matched (the most specific name entry, else the
    /// first address entry).
    pub entry: String,
    /// Further entries the lookup touches (watched addresses in the answers
    /// of a lookup already matched by name). Not stored as rows of their own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<String>,
    /// Querier address and port.
    pub querier: SocketAddr,
    /// Server address and port.
    pub server: SocketAddr,
    /// `udp` or `tcp`.
    pub transport: String,
    /// Query name, lower-case, no trailing dot (empty without a question).
    pub qname: String,
    /// Query type mnemonic.
    pub qtype: String,
    /// Query class mnemonic.
    pub qclass: String,
    /// Opcode number.
    pub opcode: u8,
    /// Header flags (`aa tc rd ra ad cd`): the response's when answered.
    pub flags: String,
    /// Rcode mnemonic, `None` when unanswered.
    pub rcode: Option<String>,
    /// Answer section of the response.
    pub answers: Vec<Answer>,
    /// Response time (µs), when both sides were seen.
    pub rtt_us: Option<i64>,
    /// EDNS client subnet, if present in query or response.
    pub ecs: Option<String>,
    /// The query itself was captured.
    pub query_seen: bool,
    /// A response was captured.
    pub answered: bool,
    /// Provenance: `file#packet` or `iface:NAME#packet`.
    pub source: String,
    /// The sensor that saw it (`--sensor`, `capture.sensor`, a dnstap
    /// identity; default: the host name).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sensor: String,
    /// DNS transaction id (0 in rows stored before schema version 6).
    #[serde(default)]
    pub dns_id: u16,
    /// Header section counts: the response's when answered, else the query's.
    #[serde(default)]
    pub counts: Counts,
    /// EDNS(0) OPT record: the query's when it was captured, else the
    /// response's; `None` without one.
    #[serde(default)]
    pub edns: Option<Edns>,
    /// Size of the query DNS message in bytes (`None` when not captured).
    #[serde(default)]
    pub query_size: Option<u32>,
    /// Size of the response DNS message in bytes (`None` when unanswered).
    #[serde(default)]
    pub response_size: Option<u32>,
    /// Authority section of the response (NS/SOA of referrals, NXDOMAIN and
    /// NODATA answers, their DNSSEC records), in presentation form.
    #[serde(default)]
    pub authority: Vec<Answer>,
}

impl Default for Lookup {
    /// An empty lookup (unspecified addresses, UDP): a base for tests and
    /// readers that fill in what they have.
    fn default() -> Self {
        let any = SocketAddr::from(([0, 0, 0, 0], 0));
        Self {
            ts_us: 0,
            entry: String::new(),
            also: Vec::new(),
            querier: any,
            server: any,
            transport: "udp".into(),
            qname: String::new(),
            qtype: String::new(),
            qclass: String::new(),
            opcode: 0,
            flags: String::new(),
            rcode: None,
            answers: Vec::new(),
            rtt_us: None,
            ecs: None,
            query_seen: false,
            answered: false,
            source: String::new(),
            sensor: String::new(),
            dns_id: 0,
            counts: Counts::default(),
            edns: None,
            query_size: None,
            response_size: None,
            authority: Vec::new(),
        }
    }
}

/// The four section counts of a DNS header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Questions.
    pub qd: u16,
    /// Answer records.
    pub an: u16,
    /// Authority records.
    pub ns: u16,
    /// Additional records (the OPT pseudo-record included).
    pub ar: u16,
}

/// The EDNS(0) OPT pseudo-record (RFC 6891).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edns {
    /// EDNS version.
    pub version: u8,
    /// Requestor's (or responder's) UDP payload size.
    pub udp_size: u16,
    /// DNSSEC OK bit.
    #[serde(rename = "do")]
    pub dnssec_ok: bool,
    /// The other 15 bits of the flags field (`Z`), normally 0.
    pub z: u16,
}

/// Opcode mnemonic (RFC 6895 registry; `OPCODEn` when unassigned).
pub fn opcode_name(opcode: u8) -> String {
    match opcode {
        0 => "QUERY".into(),
        1 => "IQUERY".into(),
        2 => "STATUS".into(),
        4 => "NOTIFY".into(),
        5 => "UPDATE".into(),
        6 => "DSO".into(),
        n => format!("OPCODE{n}"),
    }
}

impl Lookup {
    /// Every entry the lookup touches, primary first.
    pub fn entries(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.entry.as_str()).chain(self.also.iter().map(String::as_str))
    }

    /// The JSON object of one lookup: the documented `lookups --format json`
    /// keys, the one definition of that shape.
    pub fn to_json(&self) -> serde_json::Value {
        let l = self;
        serde_json::json!({
            "ts": crate::time::rfc3339(l.ts_us),
            "querier": l.querier.ip().to_string(),
            "querier_port": l.querier.port(),
            "server": l.server.ip().to_string(),
            "server_port": l.server.port(),
            "transport": l.transport,
            "qname": if l.qname.is_empty() { serde_json::Value::Null } else { l.qname.clone().into() },
            "qtype": l.qtype,
            "qclass": l.qclass,
            "flags": l.flags,
            "rcode": l.rcode,
            "answers": l.answers,
            "rtt_us": l.rtt_us,
            "ecs": l.ecs,
            "query_seen": l.query_seen,
            "answered": l.answered,
            "source": l.source,
            "sensor": l.sensor,
            "entries": l.entries().collect::<Vec<_>>(),
            "dns_id": l.dns_id,
            "opcode": l.opcode,
            "opcode_name": opcode_name(l.opcode),
            "flags_list": l.flags_list(),
            "qdcount": l.counts.qd,
            "ancount": l.counts.an,
            "nscount": l.counts.ns,
            "arcount": l.counts.ar,
            "edns": l.edns,
            "query_size": l.query_size,
            "response_size": l.response_size,
            "authority": l.authority,
            "community_id": l.community_id(),
        })
    }

    /// The header flags as a list (`["rd", "ra"]`): the same mnemonics as
    /// the space-joined `flags`.
    pub fn flags_list(&self) -> Vec<&str> {
        self.flags.split_ascii_whitespace().collect()
    }

    /// The Community ID v1 (seed 0) of the lookup's flow: querier, server,
    /// transport. The same hash Zeek, Suricata and Elastic print, so a
    /// lookup joins with their flow logs.
    pub fn community_id(&self) -> String {
        let proto = if self.transport == "tcp" { 6 } else { 17 };
        super::community_id::v1(0, proto, self.querier, self.server)
    }

    /// Querier IP as text.
    pub fn querier_ip(&self) -> String {
        self.querier.ip().to_string()
    }
}

/// One resource record of the answer section.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub struct Answer {
    /// Owner name (presentation form, lower-case, no trailing dot).
    pub name: String,
    /// Type mnemonic (`A`, `AAAA`, `CNAME`, ..., `TYPE65280`).
    #[serde(rename = "type")]
    pub rtype: String,
    /// TTL in seconds.
    pub ttl: u32,
    /// Record data in zone-file presentation form.
    pub data: String,
}
