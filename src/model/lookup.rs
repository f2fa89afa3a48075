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
        })
    }

    /// Querier IP as text.
    pub fn querier_ip(&self) -> String {
        self.querier.ip().to_string()
    }
}

/// One resource record of the answer section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
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
