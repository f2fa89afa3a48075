//! Fleet reads: lookups and alerts of every sensor (or one), as the same
//! [`Lookup`] and [`Alert`] values the SQLite store gives, decoded from
//! `FORMAT RowBinary` answers.

use std::net::SocketAddr;

use super::client::Client;
use super::schema::{self, quote_str, TableDef};
use super::{ChError, Settings};
use crate::model::{Alert, Answer, Lookup};
use crate::store::sqlite::LookupFilter;

/// A lookup read back, with the sensor that recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetLookup {
    /// Sensor name.
    pub sensor: String,
    /// The lookup.
    pub lookup: Lookup,
}

/// RowBinary decoder over a response.
struct Rb<'a> {
    b: &'a [u8],
    at: usize,
    url: &'a str,
}

impl<'a> Rb<'a> {
    fn err(&self, what: &str) -> ChError {
        ChError::Protocol {
            url: self.url.to_string(),
            message: format!(
                "RowBinary answer ends or is malformed at byte {} ({what})",
                self.at
            ),
        }
    }
    fn done(&self) -> bool {
        self.at >= self.b.len()
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], ChError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| self.err("field"))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], ChError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, ChError> {
        Ok(self.arr::<1>()?[0])
    }
    fn i64(&mut self) -> Result<i64, ChError> {
        Ok(i64::from_le_bytes(self.arr()?))
    }
    fn u64(&mut self) -> Result<u64, ChError> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
    fn u32(&mut self) -> Result<u32, ChError> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    fn u16(&mut self) -> Result<u16, ChError> {
        Ok(u16::from_le_bytes(self.arr()?))
    }
    fn varint(&mut self) -> Result<u64, ChError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err("varint"))
    }
    fn len(&mut self) -> Result<usize, ChError> {
        let n = self.varint()?;
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.b.len())
            .ok_or_else(|| self.err("length"))
    }
    fn string(&mut self) -> Result<String, ChError> {
        let n = self.len()?;
        let s = self.take(n)?;
        String::from_utf8(s.to_vec()).map_err(|_| self.err("UTF-8"))
    }
    fn opt_string(&mut self) -> Result<Option<String>, ChError> {
        if self.u8()? == 1 {
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }
    fn opt<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, ChError>,
    ) -> Result<Option<T>, ChError> {
        if self.u8()? == 1 {
            Ok(None)
        } else {
            f(self).map(Some)
        }
    }
    fn strings(&mut self) -> Result<Vec<String>, ChError> {
        let n = self.len()?;
        (0..n).map(|_| self.string()).collect()
    }
}

/// The table to read: `<table>_all` when `settings.cluster` is set.
fn source(settings: &Settings, t: &TableDef) -> String {
    let base = format!("{}{}", settings.table_prefix, t.name);
    let name = if settings.cluster.is_empty() {
        base
    } else {
        format!("{base}_all")
    };
    format!(
        "{}.{}",
        schema::quote_ident(&settings.database),
        schema::quote_ident(&name)
    )
}

/// Lookups matching `filter` (and `sensor` when given), oldest first (ties
/// by sensor and source, so the order is the same for the same data).
pub fn lookups(
    client: &Client,
    settings: &Settings,
    filter: &LookupFilter,
    sensor: Option<&str>,
    each: &mut dyn FnMut(FleetLookup) -> bool,
) -> Result<(), ChError> {
    let mut conds = vec!["1".to_string()];
    if let Some(name) = &filter.name {
        let n = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(zone) = n.strip_prefix("*.") {
            conds.push(format!(
                "(qname = {z} OR endsWith(qname, {dz}))",
                z = quote_str(zone),
                dz = quote_str(&format!(".{zone}"))
            ));
        } else {
            conds.push(format!("qname = {}", quote_str(&n)));
        }
    }
    if let Some(q) = &filter.querier {
        let ip: std::net::IpAddr = q
            .parse()
            .map_err(|_| ChError::Config(format!("{q:?} is not an IP address")))?;
        let hex: String = schema::addr16(ip)
            .iter()
            .map(|b| format!("\\x{b:02X}"))
            .collect();
        conds.push(format!("querier = '{hex}'"));
    }
    if let Some(e) = &filter.entry {
        conds.push(format!("(entry = {e} OR has(also, {e}))", e = quote_str(e)));
    }
    if let Some(s) = filter.since_us {
        conds.push(format!("ts_us >= {s}"));
    }
    if let Some(u) = filter.until_us {
        conds.push(format!("ts_us < {u}"));
    }
    if let Some(s) = sensor {
        conds.push(format!("sensor = {}", quote_str(s)));
    }
    if let Some(t) = &filter.qtype {
        conds.push(format!("qtype = {}", quote_str(t)));
    }
    if let Some(r) = &filter.rcode {
        conds.push(format!("rcode = {}", quote_str(r)));
    }
    let cols = "ts_us, sensor, entry, also, querier, querier_port, server, server_port, transport, qname, qtype, qclass, opcode, flags, rcode, answer_name, answer_type, answer_ttl, answer_data, rtt_us, ecs, query_seen, answered, source, dns_id, qdcount, ancount, nscount, arcount, edns_version, edns_udp_size, edns_do, edns_z, query_size, response_size, authority_name, authority_type, authority_ttl, authority_data";
    let sql = format!(
        "SELECT {cols} FROM {t} WHERE {w} ORDER BY ts_us, sensor, source, qname FORMAT RowBinary",
        t = source(settings, &schema::LOOKUPS),
        w = conds.join(" AND ")
    );
    let bytes = client.query_bytes(&sql)?;
    let mut r = Rb {
        b: &bytes,
        at: 0,
        url: client.url(),
    };
    while !r.done() {
        let ts_us = r.i64()?;
        let sensor = r.string()?;
        let entry = r.string()?;
        let also = r.strings()?;
        let q = schema::addr_from16(r.arr()?);
        let qp = r.u16()?;
        let s = schema::addr_from16(r.arr()?);
        let sp = r.u16()?;
        let transport = r.string()?;
        let qname = r.string()?;
        let qtype = r.string()?;
        let qclass = r.string()?;
        let opcode = r.u8()?;
        let flags = r.string()?;
        let rcode = r.opt_string()?;
        let names = r.strings()?;
        let types = r.strings()?;
        let n = r.len()?;
        let ttls = (0..n).map(|_| r.u32()).collect::<Result<Vec<_>, _>>()?;
        let datas = r.strings()?;
        let rtt_us = if r.u8()? == 1 { None } else { Some(r.i64()?) };
        let ecs = r.opt_string()?;
        let query_seen = r.u8()? != 0;
        let answered = r.u8()? != 0;
        let source = r.string()?;
        let answers = records(names, types, ttls, datas);
        let dns_id = r.u16()?;
        let counts = crate::model::Counts {
            qd: r.u16()?,
            an: r.u16()?,
            ns: r.u16()?,
            ar: r.u16()?,
        };
        let version = r.opt(|r| r.u8())?;
        let udp_size = r.opt(|r| r.u16())?;
        let dnssec_ok = r.opt(|r| r.u8())?;
        let z = r.opt(|r| r.u16())?;
        let edns = match (version, udp_size) {
            (Some(version), Some(udp_size)) => Some(crate::model::Edns {
                version,
                udp_size,
                dnssec_ok: dnssec_ok.unwrap_or(0) != 0,
                z: z.unwrap_or(0),
            }),
            _ => None,
        };
        let query_size = r.opt(|r| r.u32())?;
        let response_size = r.opt(|r| r.u32())?;
        let names = r.strings()?;
        let types = r.strings()?;
        let n = r.len()?;
        let ttls = (0..n).map(|_| r.u32()).collect::<Result<Vec<_>, _>>()?;
        let datas = r.strings()?;
        let authority = records(names, types, ttls, datas);
        let l = Lookup {
            sensor: sensor.clone(),
            ts_us,
            entry,
            also,
            querier: SocketAddr::new(q, qp),
            server: SocketAddr::new(s, sp),
            transport,
            qname,
            qtype,
            qclass,
            opcode,
            flags,
            rcode,
            answers,
            rtt_us,
            ecs,
            query_seen,
            answered,
            source,
            dns_id,
            counts,
            edns,
            query_size,
            response_size,
            authority,
        };
        // Networks are checked on the rows read (addresses are stored as
        // 16 bytes; the same test as the SQLite store's).
        if !filter.addrs_match(q, s) {
            continue;
        }
        if !each(FleetLookup { sensor, lookup: l }) {
            break;
        }
    }
    Ok(())
}

/// Records from the four parallel arrays of a section.
fn records(
    names: Vec<String>,
    types: Vec<String>,
    ttls: Vec<u32>,
    datas: Vec<String>,
) -> Vec<Answer> {
    names
        .into_iter()
        .zip(types)
        .zip(ttls)
        .zip(datas)
        .map(|(((name, rtype), ttl), data)| Answer {
            name,
            rtype,
            ttl,
            data,
        })
        .collect()
}

/// An alert read back, with its sensor and scope.
#[derive(Clone, Debug)]
pub struct FleetAlert {
    /// Sensor (or `fleet`).
    pub sensor: String,
    /// `sensor` or `fleet`.
    pub scope: String,
    /// The alert.
    pub alert: Alert,
}

/// Alerts, oldest first, optionally of one sensor / kind / entry.
pub fn alerts(
    client: &Client,
    settings: &Settings,
    sensor: Option<&str>,
    kind: Option<&str>,
    entry: Option<&str>,
) -> Result<Vec<FleetAlert>, ChError> {
    let mut conds = vec!["1".to_string()];
    if let Some(s) = sensor {
        conds.push(format!("sensor = {}", quote_str(s)));
    }
    if let Some(k) = kind {
        conds.push(format!("kind = {}", quote_str(k)));
    }
    if let Some(e) = entry {
        conds.push(format!(
            "(entry = {e} OR has(entries, {e}))",
            e = quote_str(e)
        ));
    }
    let sql = format!(
        "SELECT ts_us, sensor, scope, alert_id, kind, severity, entry, entries, name, querier, window, evidence, message, suppressed, window_start_us FROM {t} WHERE {w} ORDER BY ts_us, sensor, alert_id FORMAT RowBinary",
        t = source(settings, &schema::ALERTS),
        w = conds.join(" AND ")
    );
    let bytes = client.query_bytes(&sql)?;
    let mut r = Rb {
        b: &bytes,
        at: 0,
        url: client.url(),
    };
    let mut out = Vec::new();
    while !r.done() {
        let ts_us = r.i64()?;
        let sensor = r.string()?;
        let scope = r.string()?;
        let id = r.string()?;
        let kind = r.string()?;
        let severity = r.string()?;
        let entry = r.string()?;
        let entries = r.strings()?;
        let name = r.string()?;
        let querier = r.opt_string()?;
        let window = r.string()?;
        let evidence = r.string()?;
        let message = r.string()?;
        let suppressed = r.u64()?;
        let window_start_us = r.opt(|r| r.i64())?;
        let severity = serde_json::from_value(serde_json::Value::String(severity))
            .unwrap_or(crate::model::Severity::Info);
        out.push(FleetAlert {
            sensor: sensor.clone(),
            scope,
            alert: Alert {
                id,
                ts_us,
                kind,
                severity,
                entry,
                entries,
                name,
                querier,
                window,
                window_start_us,
                sensor,
                evidence: serde_json::from_str(&evidence).unwrap_or(serde_json::Value::Null),
                message,
                suppressed,
            },
        });
    }
    Ok(out)
}

/// Rows per sensor and day of each table (for `db stats --clickhouse`).
pub fn stats(
    client: &Client,
    settings: &Settings,
) -> Result<Vec<(String, String, String, u64)>, ChError> {
    let mut out = Vec::new();
    for t in schema::TABLES {
        let text = client.query(&format!(
            "SELECT sensor, toString(toDate(toDateTime(intDiv({tc}, 1000000), 'UTC'))) AS day, count() FROM {src} GROUP BY sensor, day ORDER BY sensor, day FORMAT TabSeparated",
            tc = t.time_column,
            src = source(settings, t)
        ))?;
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            if let [s, d, n] = f.as_slice() {
                out.push((
                    t.name.to_string(),
                    (*s).to_string(),
                    (*d).to_string(),
                    n.parse().unwrap_or(0),
                ));
            }
        }
    }
    Ok(out)
}
