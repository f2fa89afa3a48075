//! The Elastic Common Schema (ECS 8) shape of lookups and alerts: the one
//! definition of `--format ecs` and `alerts.format = "ecs"`, so Filebeat,
//! Elastic and other SIEMs ingest them without an ingest pipeline. Fields
//! ECS has no name for go under `dnswatch.*`.

use serde_json::{json, Value};

use super::{opcode_name, Alert, Lookup, Severity};

fn network_type(l: &Lookup) -> &'static str {
    if l.querier.is_ipv4() {
        "ipv4"
    } else {
        "ipv6"
    }
}

impl Lookup {
    /// The lookup as one ECS event (`event.kind: event`, `dns.*`,
    /// `source`/`destination`, `network.community_id`, `observer.hostname`).
    pub fn to_ecs(&self) -> Value {
        let l = self;
        let answers: Vec<Value> = l
            .answers
            .iter()
            .map(|a| {
                json!({
                    "name": a.name,
                    "type": a.rtype,
                    "class": l.qclass,
                    "ttl": a.ttl,
                    "data": a.data,
                })
            })
            .collect();
        let resolved: Vec<&str> = l
            .answers
            .iter()
            .filter(|a| a.rtype == "A" || a.rtype == "AAAA")
            .map(|a| a.data.as_str())
            .collect();
        let flags: Vec<String> = l
            .flags_list()
            .iter()
            .map(|f| f.to_ascii_uppercase())
            .collect();
        let mut dns = json!({
            "id": l.dns_id.to_string(),
            "op_code": opcode_name(l.opcode),
            "type": if l.answered { "answer" } else { "query" },
            "header_flags": flags,
            "question": {
                "name": l.qname,
                "type": l.qtype,
                "class": l.qclass,
            },
        });
        if let Some(rc) = &l.rcode {
            dns["response_code"] = rc.clone().into();
        }
        if l.answered {
            dns["answers"] = answers.into();
            dns["resolved_ip"] = resolved.into();
        }
        let mut event = json!({
            "kind": "event",
            "category": ["network"],
            "type": ["protocol"],
            "dataset": "dnswatch.lookup",
            "module": "dnswatch",
        });
        if let Some(rtt) = l.rtt_us {
            // ECS event.duration is in nanoseconds.
            event["duration"] = rtt.saturating_mul(1000).into();
        }
        json!({
            "@timestamp": crate::time::rfc3339(l.ts_us),
            "ecs": {"version": "8.11.0"},
            "event": event,
            "dns": dns,
            "source": {"ip": l.querier.ip().to_string(), "port": l.querier.port()},
            "destination": {"ip": l.server.ip().to_string(), "port": l.server.port()},
            "client": {"ip": l.querier.ip().to_string(), "port": l.querier.port()},
            "server": {"ip": l.server.ip().to_string(), "port": l.server.port()},
            "network": {
                "transport": l.transport,
                "type": network_type(l),
                "protocol": "dns",
                "community_id": l.community_id(),
            },
            "observer": {"hostname": l.sensor},
            "dnswatch": {
                "entry": l.entry,
                "entries": l.entries().collect::<Vec<_>>(),
                "flags": l.flags,
                "rtt_us": l.rtt_us,
                "ecs": l.ecs,
                "edns": l.edns,
                "qdcount": l.counts.qd,
                "ancount": l.counts.an,
                "nscount": l.counts.ns,
                "arcount": l.counts.ar,
                "query_size": l.query_size,
                "response_size": l.response_size,
                "authority": l.authority,
                "query_seen": l.query_seen,
                "answered": l.answered,
                "source": l.source,
            },
        })
    }
}

/// ECS `event.severity` (a number, higher is worse) of an alert severity.
fn severity_number(s: Severity) -> u8 {
    match s {
        Severity::Info => 1,
        Severity::Warning => 2,
        Severity::Critical => 3,
    }
}

impl Alert {
    /// The alert as one ECS event (`event.kind: alert`, `rule.name`,
    /// `message`), with our evidence under `dnswatch`.
    pub fn to_ecs(&self) -> Value {
        let a = self;
        let mut event = json!({
            "kind": "alert",
            "category": ["network"],
            "type": ["info"],
            "dataset": "dnswatch.alert",
            "module": "dnswatch",
            "id": a.id,
            "severity": severity_number(a.severity),
            "end": crate::time::rfc3339(a.ts_us),
        });
        if let Some(start) = a.window_start_us {
            event["start"] = crate::time::rfc3339(start).into();
        }
        let mut v = json!({
            "@timestamp": crate::time::rfc3339(a.ts_us),
            "ecs": {"version": "8.11.0"},
            "event": event,
            "rule": {"name": a.kind, "ruleset": "dnswatch"},
            "message": a.message,
            "log": {"level": a.severity.as_str()},
            "observer": {"hostname": a.sensor},
            "dnswatch": {
                "id": a.id,
                "kind": a.kind,
                "severity": a.severity,
                "entry": a.entry,
                "entries": a.entries,
                "name": a.name,
                "querier": a.querier,
                "window": a.window,
                "window_range": a.window_range(),
                "evidence": a.evidence,
                "suppressed": a.suppressed,
            },
        });
        if !a.name.is_empty() {
            v["dns"] = json!({"question": {"name": a.name}});
        }
        // The querier may be a group (a network, an AS): an address only
        // when it is one.
        if let Some(ip) = a
            .querier
            .as_deref()
            .and_then(|q| q.parse::<std::net::IpAddr>().ok())
        {
            v["source"] = json!({"ip": ip.to_string()});
        }
        v
    }
}
