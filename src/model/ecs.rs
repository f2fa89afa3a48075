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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Answer, Counts, Edns};

    fn lookup() -> Lookup {
        Lookup {
            ts_us: 1_700_000_000_000_000,
            entry: "example.com".into(),
            also: vec!["192.0.2.1".into()],
            querier: "192.168.1.52:54585".parse().unwrap(),
            server: "8.8.8.8:53".parse().unwrap(),
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
            rtt_us: Some(1500),
            query_seen: true,
            answered: true,
            source: "t.pcap#1".into(),
            sensor: "s1".into(),
            dns_id: 4660,
            counts: Counts {
                qd: 1,
                an: 1,
                ns: 0,
                ar: 1,
            },
            edns: Some(Edns {
                version: 0,
                udp_size: 1232,
                dnssec_ok: true,
                z: 0,
            }),
            query_size: Some(44),
            response_size: Some(60),
            ..Lookup::default()
        }
    }

    fn str_at<'a>(v: &'a Value, path: &str) -> &'a str {
        v.pointer(path)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{path} is not a string in {v}"))
    }

    fn u64_at(v: &Value, path: &str) -> u64 {
        v.pointer(path)
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("{path} is not a number in {v}"))
    }

    /// The ECS lookup: field names and types as ECS 8 defines them.
    #[test]
    fn lookup_ecs_shape() {
        let v = lookup().to_ecs();
        assert_eq!(str_at(&v, "/@timestamp"), "2023-11-14T22:13:20.000000Z");
        assert_eq!(str_at(&v, "/event/kind"), "event");
        assert_eq!(v["event"]["category"], serde_json::json!(["network"]));
        assert_eq!(v["event"]["type"], serde_json::json!(["protocol"]));
        assert_eq!(str_at(&v, "/event/dataset"), "dnswatch.lookup");
        assert_eq!(u64_at(&v, "/event/duration"), 1_500_000);
        assert_eq!(str_at(&v, "/dns/id"), "4660");
        assert_eq!(str_at(&v, "/dns/op_code"), "QUERY");
        assert_eq!(str_at(&v, "/dns/type"), "answer");
        assert_eq!(v["dns"]["header_flags"], serde_json::json!(["RD", "RA"]));
        assert_eq!(str_at(&v, "/dns/response_code"), "NOERROR");
        assert_eq!(str_at(&v, "/dns/question/name"), "www.example.com");
        assert_eq!(str_at(&v, "/dns/question/type"), "A");
        assert_eq!(str_at(&v, "/dns/question/class"), "IN");
        assert_eq!(str_at(&v, "/dns/answers/0/name"), "www.example.com");
        assert_eq!(str_at(&v, "/dns/answers/0/type"), "A");
        assert_eq!(str_at(&v, "/dns/answers/0/class"), "IN");
        assert_eq!(u64_at(&v, "/dns/answers/0/ttl"), 60);
        assert_eq!(str_at(&v, "/dns/answers/0/data"), "192.0.2.1");
        assert_eq!(v["dns"]["resolved_ip"], serde_json::json!(["192.0.2.1"]));
        assert_eq!(str_at(&v, "/source/ip"), "192.168.1.52");
        assert_eq!(u64_at(&v, "/source/port"), 54585);
        assert_eq!(str_at(&v, "/destination/ip"), "8.8.8.8");
        assert_eq!(u64_at(&v, "/destination/port"), 53);
        assert_eq!(str_at(&v, "/network/transport"), "udp");
        assert_eq!(str_at(&v, "/network/type"), "ipv4");
        // The spec's baseline vector for this flow (see community_id.rs).
        assert_eq!(
            str_at(&v, "/network/community_id"),
            "1:d/FP5EW3wiY1vCndhwleRRKHowQ="
        );
        assert_eq!(str_at(&v, "/observer/hostname"), "s1");
        assert_eq!(
            v["dnswatch"]["entries"],
            serde_json::json!(["example.com", "192.0.2.1"])
        );
        assert_eq!(v["dnswatch"]["edns"]["do"], true);
        assert_eq!(u64_at(&v, "/dnswatch/edns/udp_size"), 1232);
        // Unanswered: a query event without response fields.
        let mut q = lookup();
        q.answered = false;
        q.rcode = None;
        q.rtt_us = None;
        let v = q.to_ecs();
        assert_eq!(str_at(&v, "/dns/type"), "query");
        assert!(v["dns"].get("response_code").is_none());
        assert!(v["dns"].get("answers").is_none());
        assert!(v["event"].get("duration").is_none());
    }

    /// The ECS alert: `event.kind: alert`, `rule.name`, `message`, RFC 3339
    /// window, our evidence under `dnswatch`.
    #[test]
    fn alert_ecs_shape() {
        let mut a = Alert {
            id: String::new(),
            ts_us: 1_700_000_000_000_000,
            kind: "burst".into(),
            severity: Severity::Critical,
            entry: "example.com".into(),
            entries: Vec::new(),
            name: "www.example.com".into(),
            querier: Some("192.0.2.7".into()),
            window: "1h".into(),
            window_start_us: Some(1_699_996_400_000_000),
            sensor: "s1".into(),
            evidence: serde_json::json!({"observed": 40}),
            message: "40 lookups".into(),
            suppressed: 2,
        };
        a.seal();
        let v = a.to_ecs();
        assert_eq!(str_at(&v, "/@timestamp"), "2023-11-14T22:13:20.000000Z");
        assert_eq!(str_at(&v, "/event/kind"), "alert");
        assert_eq!(str_at(&v, "/event/dataset"), "dnswatch.alert");
        assert_eq!(str_at(&v, "/event/id"), a.id);
        assert_eq!(u64_at(&v, "/event/severity"), 3);
        assert_eq!(str_at(&v, "/event/start"), "2023-11-14T21:13:20.000000Z");
        assert_eq!(str_at(&v, "/event/end"), "2023-11-14T22:13:20.000000Z");
        assert_eq!(str_at(&v, "/rule/name"), "burst");
        assert_eq!(str_at(&v, "/message"), "40 lookups");
        assert_eq!(str_at(&v, "/log/level"), "critical");
        assert_eq!(str_at(&v, "/observer/hostname"), "s1");
        assert_eq!(str_at(&v, "/dns/question/name"), "www.example.com");
        assert_eq!(str_at(&v, "/source/ip"), "192.0.2.7");
        assert_eq!(u64_at(&v, "/dnswatch/evidence/observed"), 40);
        assert_eq!(u64_at(&v, "/dnswatch/suppressed"), 2);
        assert_eq!(
            str_at(&v, "/dnswatch/window_range/start"),
            "2023-11-14T21:13:20.000000Z"
        );
        assert_eq!(v["dnswatch"]["entries"], serde_json::json!(["example.com"]));
        // A querier group is not an address.
        a.querier = Some("AS64496".into());
        assert!(a.to_ecs().get("source").is_none());
        // The plain JSON shape keeps its keys and adds sensor and window_range.
        let j = a.to_json();
        assert_eq!(j["window"], "1h");
        assert_eq!(j["sensor"], "s1");
        assert_eq!(j["window_range"]["end"], "2023-11-14T22:13:20.000000Z");
    }
}
