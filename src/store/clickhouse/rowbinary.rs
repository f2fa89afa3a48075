//! RowBinary encoding of the rows dnswatch inserts (the column order of
//! each [`super::schema::TableDef`]).

use crate::model::{Alert, Lookup, Rrset};

use super::schema::addr16;

/// Appends an unsigned LEB128 length.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Appends a `String`.
pub fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Appends a `Nullable(String)`.
pub fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            out.push(0);
            put_str(out, s);
        }
        None => out.push(1),
    }
}

/// Appends an `Array(String)`.
pub fn put_str_array<'s>(out: &mut Vec<u8>, items: impl ExactSizeIterator<Item = &'s str>) {
    put_varint(out, items.len() as u64);
    for s in items {
        put_str(out, s);
    }
}

/// The sensor a lookup row names: its own, else the sink's.
fn row_sensor<'a>(l: &'a Lookup, sensor: &'a str) -> &'a str {
    if l.sensor.is_empty() {
        sensor
    } else {
        &l.sensor
    }
}

/// One lookup as a `lookups` row.
pub fn lookup_row(out: &mut Vec<u8>, l: &Lookup, sensor: &str, batch_id: u64) {
    out.extend_from_slice(&l.ts_us.to_le_bytes());
    put_str(out, row_sensor(l, sensor));
    put_str(out, &l.entry);
    put_str_array(out, l.also.iter().map(String::as_str));
    out.extend_from_slice(&addr16(l.querier.ip()));
    out.extend_from_slice(&l.querier.port().to_le_bytes());
    out.extend_from_slice(&addr16(l.server.ip()));
    out.extend_from_slice(&l.server.port().to_le_bytes());
    put_str(out, &l.transport);
    put_str(out, &l.qname);
    put_str(out, &l.qtype);
    put_str(out, &l.qclass);
    out.push(l.opcode);
    put_str(out, &l.flags);
    put_opt_str(out, l.rcode.as_deref());
    put_str_array(out, l.answers.iter().map(|a| a.name.as_str()));
    put_str_array(out, l.answers.iter().map(|a| a.rtype.as_str()));
    put_varint(out, l.answers.len() as u64);
    for a in &l.answers {
        out.extend_from_slice(&a.ttl.to_le_bytes());
    }
    put_str_array(out, l.answers.iter().map(|a| a.data.as_str()));
    match l.rtt_us {
        Some(v) => {
            out.push(0);
            out.extend_from_slice(&v.to_le_bytes());
        }
        None => out.push(1),
    }
    put_opt_str(out, l.ecs.as_deref());
    out.push(u8::from(l.query_seen));
    out.push(u8::from(l.answered));
    put_str(out, &l.source);
    out.extend_from_slice(&batch_id.to_le_bytes());
    out.extend_from_slice(&l.dns_id.to_le_bytes());
    for c in [l.counts.qd, l.counts.an, l.counts.ns, l.counts.ar] {
        out.extend_from_slice(&c.to_le_bytes());
    }
    match l.edns {
        Some(e) => {
            out.extend_from_slice(&[0, e.version, 0]);
            out.extend_from_slice(&e.udp_size.to_le_bytes());
            out.extend_from_slice(&[0, u8::from(e.dnssec_ok), 0]);
            out.extend_from_slice(&e.z.to_le_bytes());
        }
        None => out.extend_from_slice(&[1, 1, 1, 1]),
    }
    for size in [l.query_size, l.response_size] {
        match size {
            Some(v) => {
                out.push(0);
                out.extend_from_slice(&v.to_le_bytes());
            }
            None => out.push(1),
        }
    }
    put_str_array(out, l.authority.iter().map(|a| a.name.as_str()));
    put_str_array(out, l.authority.iter().map(|a| a.rtype.as_str()));
    put_varint(out, l.authority.len() as u64);
    for a in &l.authority {
        out.extend_from_slice(&a.ttl.to_le_bytes());
    }
    put_str_array(out, l.authority.iter().map(|a| a.data.as_str()));
}

/// One lookup as a `lookups_by_querier` row.
pub fn by_querier_row(out: &mut Vec<u8>, l: &Lookup, sensor: &str, batch_id: u64) {
    out.extend_from_slice(&addr16(l.querier.ip()));
    out.extend_from_slice(&l.ts_us.to_le_bytes());
    put_str(out, row_sensor(l, sensor));
    put_str(out, &l.entry);
    put_str(out, &l.qname);
    put_str(out, &l.qtype);
    out.extend_from_slice(&batch_id.to_le_bytes());
}

/// One alert as an `alerts` row (`sensor` when the alert names none).
pub fn alert_row(out: &mut Vec<u8>, a: &Alert, sensor: &str, scope: &str, batch_id: u64) {
    out.extend_from_slice(&a.ts_us.to_le_bytes());
    put_str(
        out,
        if a.sensor.is_empty() {
            sensor
        } else {
            &a.sensor
        },
    );
    put_str(out, scope);
    put_str(out, &a.id);
    put_str(out, &a.kind);
    put_str(out, a.severity.as_str());
    put_str(out, &a.entry);
    put_str_array(out, a.entries.iter().map(String::as_str));
    put_str(out, &a.name);
    put_opt_str(out, a.querier.as_deref());
    put_str(out, &a.window);
    put_str(out, &a.evidence.to_string());
    put_str(out, &a.message);
    out.extend_from_slice(&a.suppressed.to_le_bytes());
    out.extend_from_slice(&batch_id.to_le_bytes());
    match a.window_start_us {
        Some(v) => {
            out.push(0);
            out.extend_from_slice(&v.to_le_bytes());
        }
        None => out.push(1),
    }
}

#[allow(clippy::too_many_arguments)] // one per column
/// A summary row (`querier_summary` when `key` is an address, else `name_summary`).
pub fn summary_row(
    out: &mut Vec<u8>,
    sensor: &str,
    entry: &str,
    key: SummaryKey<'_>,
    first: i64,
    last: i64,
    count: u64,
    batch_id: u64,
) {
    put_str(out, sensor);
    put_str(out, entry);
    match key {
        SummaryKey::Querier(q) => out.extend_from_slice(&q),
        SummaryKey::Name(n) => put_str(out, n),
    }
    out.extend_from_slice(&first.to_le_bytes());
    out.extend_from_slice(&last.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&batch_id.to_le_bytes());
}

/// The key column of a summary row.
#[derive(Clone, Copy, Debug)]
pub enum SummaryKey<'a> {
    /// `querier_summary`.
    Querier([u8; 16]),
    /// `name_summary`.
    Name(&'a str),
}

/// One hourly counter as a `traffic_hourly` row.
pub fn hourly_row(
    out: &mut Vec<u8>,
    sensor: &str,
    hour_us: i64,
    metric: &str,
    value: u64,
    batch_id: u64,
) {
    put_str(out, sensor);
    out.extend_from_slice(&hour_us.to_le_bytes());
    put_str(out, metric);
    out.extend_from_slice(&value.to_le_bytes());
    out.extend_from_slice(&batch_id.to_le_bytes());
}

/// One rrset (a batch's aggregate) as a `pdns_rrsets` row.
pub fn rrset_row(out: &mut Vec<u8>, r: &Rrset, sensor: &str, batch_id: u64) {
    // The rrset's own sensor (a dnstap peer's identity), else the sink's.
    put_str(
        out,
        if r.sensor.is_empty() {
            sensor
        } else {
            &r.sensor
        },
    );
    put_str(out, &r.rrname);
    put_str(out, &r.rrtype);
    put_str(out, &r.rdata);
    put_str(out, &r.bailiwick);
    out.extend_from_slice(&r.time_first_us.to_le_bytes());
    out.extend_from_slice(&r.time_last_us.to_le_bytes());
    out.extend_from_slice(&r.count.to_le_bytes());
    out.extend_from_slice(&batch_id.to_le_bytes());
}
