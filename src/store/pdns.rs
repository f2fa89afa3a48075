//! The passive-DNS rrset table in SQLite: its schema step, the batched
//! upsert the writer thread runs, and the indexed queries of `dnswatch pdns`.
//!
//! Names are stored label-reversed (`mail1.example` → `example.mail1.`), so
//! a name is an equality and `*.zone` a range on one index. Record data that
//! points somewhere has a sortable key `rkey`: an address as 16 bytes
//! (IPv4 mapped into IPv6, so a CIDR is a byte range) or a target name
//! (CNAME, DNAME, NS, PTR, MX, SRV, SVCB/HTTPS) label-reversed like owner
//! names, so `--rdata` is an index lookup or range too.

use std::net::IpAddr;

use rusqlite::{params, Connection, Transaction};
use thiserror::Error;

use super::StoreError;
use crate::model::Rrset;

/// The schema step that adds the rrset table (one self-contained
/// migration; see `sqlite::MIGRATIONS`).
pub const MIGRATION: &str = "CREATE TABLE pdns_rrsets (
        id INTEGER PRIMARY KEY,
        rname TEXT NOT NULL,
        rrtype TEXT NOT NULL,
        rdata TEXT NOT NULL,
        bailiwick TEXT NOT NULL,
        sensor TEXT NOT NULL,
        rkey BLOB,
        time_first INTEGER NOT NULL,
        time_last INTEGER NOT NULL,
        count INTEGER NOT NULL
     );
     CREATE UNIQUE INDEX pdns_rrsets_key ON pdns_rrsets (rname, rrtype, rdata, bailiwick, sensor);
     CREATE INDEX pdns_rrsets_rkey ON pdns_rrsets (rkey) WHERE rkey IS NOT NULL;
     CREATE INDEX pdns_rrsets_last ON pdns_rrsets (time_last);";

/// Bad `dnswatch pdns` arguments.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PdnsQueryError {
    /// `--rdata` with a `/` that is not a CIDR.
    #[error("--rdata {0:?}: not an address/prefix-length (CIDR)")]
    BadCidr(String),
    /// Neither a name nor `--rdata`.
    #[error("give a NAME or --rdata")]
    Nothing,
}

/// The label-reversed form of a presentation name: `mail1.example` →
/// `example.mail1.` (each label followed by a dot; escaped dots stay inside
/// their label; the root is empty). Lower-cased; a trailing dot is ignored.
pub fn reverse_name(name: &str) -> String {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return String::new();
    }
    let mut labels: Vec<&str> = Vec::new();
    let bytes = name.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'.' => {
                labels.push(&name[start..i]);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    labels.push(&name[start.min(name.len())..]);
    let mut out = String::with_capacity(name.len() + 1);
    for l in labels.iter().rev() {
        out.push_str(&l.to_ascii_lowercase());
        out.push('.');
    }
    out
}

/// Inverse of [`reverse_name`] (`.` for the root).
pub fn unreverse_name(rname: &str) -> String {
    let n = reverse_name(rname);
    match n.strip_suffix('.') {
        Some("") | None => ".".into(),
        Some(s) => s.to_string(),
    }
}

/// 16 sortable bytes of an address (IPv4 as `::ffff:a.b.c.d`).
fn addr_key(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The index key of record data: an address, a target name, or nothing.
fn rkey(rrtype: &str, rdata: &str) -> Option<rusqlite::types::Value> {
    use rusqlite::types::Value;
    let target = match rrtype {
        "A" | "AAAA" => {
            return rdata
                .parse::<IpAddr>()
                .ok()
                .map(|ip| Value::Blob(addr_key(ip).to_vec()));
        }
        "CNAME" | "DNAME" | "NS" | "PTR" => rdata,
        // `preference exchange`
        "MX" => rdata.split_whitespace().nth(1)?,
        // `priority weight port target`
        "SRV" => rdata.split_whitespace().nth(3)?,
        // `priority target params...`
        "SVCB" | "HTTPS" => rdata.split_whitespace().nth(1)?,
        _ => return None,
    };
    Some(Value::Text(reverse_name(target)))
}

/// Adds `rrsets` to the table inside the batch's transaction: new rows are
/// inserted, known ones get min first seen, max last seen, summed count.
pub(super) fn write(tx: &Transaction<'_>, rrsets: &[Rrset]) -> Result<(), StoreError> {
    if rrsets.is_empty() {
        return Ok(());
    }
    let mut up = tx.prepare_cached(
        "INSERT INTO pdns_rrsets (rname, rrtype, rdata, bailiwick, sensor, rkey, time_first, time_last, count)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (rname, rrtype, rdata, bailiwick, sensor) DO UPDATE SET
            time_first = min(time_first, excluded.time_first),
            time_last = max(time_last, excluded.time_last),
            count = count + excluded.count",
    )?;
    for r in rrsets {
        up.execute(params![
            reverse_name(&r.rrname),
            r.rrtype,
            r.rdata,
            r.bailiwick,
            r.sensor,
            rkey(&r.rrtype, &r.rdata),
            r.time_first_us,
            r.time_last_us,
            i64::try_from(r.count).unwrap_or(i64::MAX),
        ])?;
    }
    Ok(())
}

/// Deletes up to `limit` rrsets last seen before `before_us` (all with
/// `None`); returns how many.
pub(super) fn prune(
    conn: &Connection,
    before_us: i64,
    limit: Option<usize>,
) -> Result<usize, StoreError> {
    Ok(match limit {
        None => conn.execute("DELETE FROM pdns_rrsets WHERE time_last < ?1", [before_us])?,
        Some(n) => conn.execute(
            "DELETE FROM pdns_rrsets WHERE id IN
             (SELECT id FROM pdns_rrsets WHERE time_last < ?1 ORDER BY time_last LIMIT ?2)",
            params![before_us, i64::try_from(n).unwrap_or(i64::MAX)],
        )?,
    })
}

/// What `dnswatch pdns` asks for.
#[derive(Clone, Debug, Default)]
pub struct PdnsQuery {
    /// Owner name, or `*.zone` for the zone and every name under it.
    pub name: Option<String>,
    /// Record data: an address, a CIDR, a name or `*.zone` (targets of
    /// CNAME/DNAME/NS/PTR/MX/SRV/SVCB/HTTPS).
    pub rdata: Option<String>,
    /// Only rrsets last seen at or after this (µs).
    pub since_us: Option<i64>,
    /// Only rrsets first seen before this (µs).
    pub until_us: Option<i64>,
    /// Only this sensor's.
    pub sensor: Option<String>,
}

/// The SQL and its arguments for `q` (public for the query-plan test).
pub fn query_sql(q: &PdnsQuery) -> Result<(String, Vec<rusqlite::types::Value>), PdnsQueryError> {
    use rusqlite::types::Value;
    let mut sql = String::from(
        "SELECT rname, rrtype, rdata, bailiwick, sensor, time_first, time_last, count FROM pdns_rrsets WHERE ",
    );
    let mut args: Vec<Value> = Vec::new();
    // A name or zone: `?` or a range [zone., zone/) of reversed names ('/'
    // follows '.' in ASCII, so the range is exactly the names ending `.zone`
    // and the zone itself).
    let range = |col: &str, text: &str, sql: &mut String, args: &mut Vec<Value>| {
        let t = text.trim();
        if let Some(zone) = t.strip_prefix("*.").or((t == "*").then_some("")) {
            let lo = reverse_name(zone);
            let mut hi = lo.clone();
            if hi.pop().is_some() {
                hi.push('/');
                sql.push_str(&format!("{col} >= ? AND {col} < ?"));
                args.push(Value::Text(lo));
                args.push(Value::Text(hi));
            } else {
                // `*`: every name (typed values only, as for any text range).
                sql.push_str(&format!("{col} >= '' AND {col} < x''"));
            }
        } else {
            sql.push_str(&format!("{col} = ?"));
            args.push(Value::Text(reverse_name(t)));
        }
    };
    match (&q.name, &q.rdata) {
        (Some(n), _) => {
            range("rname", n, &mut sql, &mut args);
            if let Some(r) = &q.rdata {
                sql.push_str(" AND rdata = ?");
                args.push(Value::Text(r.clone()));
            }
        }
        (None, Some(r)) => {
            let r = r.trim();
            if let Ok(ip) = r.parse::<IpAddr>() {
                sql.push_str("rkey = ?");
                args.push(Value::Blob(addr_key(ip).to_vec()));
            } else if let Some((addr, len)) = r.split_once('/') {
                let bad = || PdnsQueryError::BadCidr(r.to_string());
                let ip: IpAddr = addr.parse().map_err(|_| bad())?;
                let len: u32 = len.parse().map_err(|_| bad())?;
                let (len, max) = match ip {
                    IpAddr::V4(_) => (len + 96, 32 + 96),
                    IpAddr::V6(_) => (len, 128),
                };
                if len > max {
                    return Err(bad());
                }
                let base = u128::from_be_bytes(addr_key(ip));
                let host = if len == 0 {
                    u128::MAX
                } else {
                    u128::MAX >> len
                };
                let lo = base & !host;
                let hi = lo | host;
                sql.push_str("rkey BETWEEN ? AND ?");
                args.push(Value::Blob(lo.to_be_bytes().to_vec()));
                args.push(Value::Blob(hi.to_be_bytes().to_vec()));
            } else {
                range("rkey", r, &mut sql, &mut args);
            }
        }
        (None, None) => return Err(PdnsQueryError::Nothing),
    }
    if let Some(s) = q.since_us {
        sql.push_str(" AND time_last >= ?");
        args.push(Value::Integer(s));
    }
    if let Some(u) = q.until_us {
        sql.push_str(" AND time_first < ?");
        args.push(Value::Integer(u));
    }
    if let Some(s) = &q.sensor {
        sql.push_str(" AND sensor = ?");
        args.push(Value::Text(s.clone()));
    }
    Ok((sql, args))
}

/// Runs `q`, calling `each` per row (index order) until it returns false.
pub(super) fn query(
    conn: &Connection,
    q: &PdnsQuery,
    each: &mut dyn FnMut(Rrset) -> bool,
) -> Result<(), StoreError> {
    let (sql, args) = query_sql(q)?;
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
    while let Some(r) = rows.next()? {
        let rname: String = r.get(0)?;
        let row = Rrset {
            rrname: unreverse_name(&rname),
            rrtype: r.get(1)?,
            rdata: r.get(2)?,
            bailiwick: r.get(3)?,
            sensor: r.get(4)?,
            time_first_us: r.get(5)?,
            time_last_us: r.get(6)?,
            count: u64::try_from(r.get::<_, i64>(7)?).unwrap_or(0),
        };
        if !each(row) {
            break;
        }
    }
    Ok(())
}

/// A name in COF form: fully qualified, with its trailing dot.
fn fqdn(name: &str) -> String {
    if name.is_empty() || name == "." {
        ".".into()
    } else {
        format!("{name}.")
    }
}

/// One rrset as a Passive DNS Common Output Format object
/// (draft-dulaunoy-dnsop-passive-dns-cof): `rrname`, `rrtype`, `rdata`
/// (strings), `time_first`, `time_last` (numbers, Unix seconds, UTC),
/// `count` (number), `bailiwick` (string, only when known), `sensor_id`
/// (string, only when set), and `time_first_ms`/`time_last_ms`.
pub fn cof(r: &Rrset) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    m.insert("rrname".into(), fqdn(&r.rrname).into());
    m.insert("rrtype".into(), r.rrtype.clone().into());
    m.insert("rdata".into(), r.rdata.clone().into());
    m.insert(
        "time_first".into(),
        r.time_first_us.div_euclid(1_000_000).into(),
    );
    m.insert(
        "time_last".into(),
        r.time_last_us.div_euclid(1_000_000).into(),
    );
    m.insert("count".into(), r.count.into());
    if !r.bailiwick.is_empty() {
        m.insert("bailiwick".into(), fqdn(&r.bailiwick).into());
    }
    if !r.sensor.is_empty() {
        m.insert("sensor_id".into(), r.sensor.clone().into());
    }
    m.insert(
        "time_first_ms".into(),
        r.time_first_us.div_euclid(1000).into(),
    );
    m.insert(
        "time_last_ms".into(),
        r.time_last_us.div_euclid(1000).into(),
    );
    serde_json::Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reversed_names_round_trip_and_sort_by_zone() {
        assert_eq!(reverse_name("Mail1.Example."), "example.mail1.");
        assert_eq!(reverse_name("a\\.b.example"), "example.a\\.b.");
        assert_eq!(unreverse_name("example.mail1."), "mail1.example");
        assert_eq!(unreverse_name(""), ".");
        assert_eq!(reverse_name("."), "");
        // Everything under `example` sorts inside [example., example/);
        // `example-x` and `xexample` do not.
        let (lo, hi) = ("example.", "example/");
        for n in ["example", "a.example", "z.y.example"] {
            let r = reverse_name(n);
            assert!(r.as_str() >= lo && r.as_str() < hi, "{n}");
        }
        for n in ["example-x", "xexample", "example.com"] {
            let r = reverse_name(n);
            assert!(!(r.as_str() >= lo && r.as_str() < hi), "{n}");
        }
    }

    #[test]
    fn rdata_keys() {
        use rusqlite::types::Value;
        assert_eq!(
            rkey("A", "192.0.2.7"),
            Some(Value::Blob(
                "::ffff:192.0.2.7"
                    .parse::<std::net::Ipv6Addr>()
                    .unwrap()
                    .octets()
                    .to_vec()
            ))
        );
        assert_eq!(
            rkey("MX", "10 mx.Example."),
            Some(Value::Text("example.mx.".into()))
        );
        assert_eq!(
            rkey("SRV", "0 5 443 sip.example."),
            Some(Value::Text("example.sip.".into()))
        );
        assert_eq!(rkey("TXT", "\"v=spf1\""), None);
        assert_eq!(rkey("A", "not an address"), None);
    }

    #[test]
    fn cidr_bounds() {
        let q = |r: &str| {
            query_sql(&PdnsQuery {
                rdata: Some(r.into()),
                ..PdnsQuery::default()
            })
        };
        let (sql, args) = q("192.0.2.0/24").unwrap();
        assert!(sql.contains("rkey BETWEEN ? AND ?"), "{sql}");
        let blob = |s: &str| {
            rusqlite::types::Value::Blob(s.parse::<std::net::Ipv6Addr>().unwrap().octets().to_vec())
        };
        assert_eq!(
            args,
            vec![blob("::ffff:192.0.2.0"), blob("::ffff:192.0.2.255")]
        );
        assert_eq!(
            q("192.0.2.0/33").unwrap_err(),
            PdnsQueryError::BadCidr("192.0.2.0/33".into())
        );
        assert!(q("x/8").is_err());
        assert_eq!(
            query_sql(&PdnsQuery::default()).unwrap_err(),
            PdnsQueryError::Nothing
        );
    }
}
