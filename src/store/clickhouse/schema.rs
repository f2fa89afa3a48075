//! The ClickHouse schema: versioned migrations, the columns each insert
//! names, and RowBinary encoding of rows.
//!
//! One schema for ClickHouse 18.16 (Debian's) and modern servers: no
//! `DateTime64` (times are `Int64` µs, with a `DateTime` alias column for
//! people), no `IPv6` type (addresses are `FixedString(16)`, IPv4 mapped into
//! `::ffff:0:0/96`), no `LowCardinality` (it needs an experimental setting
//! on 18.16; the repetitive columns compress to almost nothing anyway
//! because rows are sorted by entry and name), no `TTL` clause (retention
//! drops whole day partitions instead, which every version supports).
//!
//! Every table is `MergeTree`, partitioned by UTC day (`intDiv(µs, 86400e6)`,
//! independent of the server's time zone) and carries `sensor` and
//! `batch_id`: the id of the spooled batch the row came in, which makes
//! retries idempotent (see [`super`]).

use std::net::{IpAddr, Ipv6Addr};

use crate::model::{Alert, Lookup, Rrset};

/// Microseconds in a day: the partition key of every table.
pub const DAY_US: i64 = 86_400_000_000;

/// A table dnswatch writes: its name (without prefix), the column each
/// insert names with its type, and the µs column that picks the partition.
#[derive(Debug)]
pub struct TableDef {
    /// Name without the configured prefix.
    pub name: &'static str,
    /// (column, type) in insert order.
    pub columns: &'static [(&'static str, &'static str)],
    /// The µs time column the day partition is computed from.
    pub time_column: &'static str,
    /// How many of `columns` the table's `CREATE TABLE` made (schema
    /// version 1, or 2 for `pdns_rrsets`); the rest were added by later
    /// migrations (see [`migrations`]).
    pub v1_columns: usize,
}

/// Lookups: every field of the SQLite record plus `sensor` and `batch_id`.
pub const LOOKUPS: TableDef = TableDef {
    name: "lookups",
    columns: &[
        ("ts_us", "Int64"),
        ("sensor", "String"),
        ("entry", "String"),
        ("also", "Array(String)"),
        ("querier", "FixedString(16)"),
        ("querier_port", "UInt16"),
        ("server", "FixedString(16)"),
        ("server_port", "UInt16"),
        ("transport", "String"),
        ("qname", "String"),
        ("qtype", "String"),
        ("qclass", "String"),
        ("opcode", "UInt8"),
        ("flags", "String"),
        ("rcode", "Nullable(String)"),
        ("answer_name", "Array(String)"),
        ("answer_type", "Array(String)"),
        ("answer_ttl", "Array(UInt32)"),
        ("answer_data", "Array(String)"),
        ("rtt_us", "Nullable(Int64)"),
        ("ecs", "Nullable(String)"),
        ("query_seen", "UInt8"),
        ("answered", "UInt8"),
        ("source", "String"),
        ("batch_id", "UInt64"),
        // Version 2: the DNS header, EDNS, sizes and the authority section.
        ("dns_id", "UInt16"),
        ("qdcount", "UInt16"),
        ("ancount", "UInt16"),
        ("nscount", "UInt16"),
        ("arcount", "UInt16"),
        ("edns_version", "Nullable(UInt8)"),
        ("edns_udp_size", "Nullable(UInt16)"),
        ("edns_do", "Nullable(UInt8)"),
        ("edns_z", "Nullable(UInt16)"),
        ("query_size", "Nullable(UInt32)"),
        ("response_size", "Nullable(UInt32)"),
        ("authority_name", "Array(String)"),
        ("authority_type", "Array(String)"),
        ("authority_ttl", "Array(UInt32)"),
        ("authority_data", "Array(String)"),
    ],
    v1_columns: 25,
    time_column: "ts_us",
};

/// Lookups by querier: a narrow copy ordered by (querier, time), for "what
/// did this address look up" without scanning the name-ordered table.
pub const BY_QUERIER: TableDef = TableDef {
    name: "lookups_by_querier",
    columns: &[
        ("querier", "FixedString(16)"),
        ("ts_us", "Int64"),
        ("sensor", "String"),
        ("entry", "String"),
        ("qname", "String"),
        ("qtype", "String"),
        ("batch_id", "UInt64"),
    ],
    v1_columns: 7,
    time_column: "ts_us",
};

/// Alerts, with `scope` (`sensor` or `fleet`).
pub const ALERTS: TableDef = TableDef {
    name: "alerts",
    columns: &[
        ("ts_us", "Int64"),
        ("sensor", "String"),
        ("scope", "String"),
        ("alert_id", "String"),
        ("kind", "String"),
        ("severity", "String"),
        ("entry", "String"),
        ("entries", "Array(String)"),
        ("name", "String"),
        ("querier", "Nullable(String)"),
        ("window", "String"),
        ("evidence", "String"),
        ("message", "String"),
        ("suppressed", "UInt64"),
        ("batch_id", "UInt64"),
        // Version 2: where the evidence window starts.
        ("window_start_us", "Nullable(Int64)"),
    ],
    v1_columns: 15,
    time_column: "ts_us",
};

/// Per-(entry, querier) summary rows: one partial row per batch; readers
/// aggregate (min first seen, max last seen, sum count).
pub const QUERIER_SUMMARY: TableDef = TableDef {
    name: "querier_summary",
    columns: &[
        ("sensor", "String"),
        ("entry", "String"),
        ("querier", "FixedString(16)"),
        ("first_seen_us", "Int64"),
        ("last_seen_us", "Int64"),
        ("count", "UInt64"),
        ("batch_id", "UInt64"),
    ],
    v1_columns: 7,
    time_column: "last_seen_us",
};

/// Per-(entry, name) summary rows, partial per batch like [`QUERIER_SUMMARY`].
pub const NAME_SUMMARY: TableDef = TableDef {
    name: "name_summary",
    columns: &[
        ("sensor", "String"),
        ("entry", "String"),
        ("qname", "String"),
        ("first_seen_us", "Int64"),
        ("last_seen_us", "Int64"),
        ("count", "UInt64"),
        ("batch_id", "UInt64"),
    ],
    v1_columns: 7,
    time_column: "last_seen_us",
};

/// Hourly traffic counters (added up by readers).
pub const TRAFFIC_HOURLY: TableDef = TableDef {
    name: "traffic_hourly",
    columns: &[
        ("sensor", "String"),
        ("hour_us", "Int64"),
        ("metric", "String"),
        ("value", "UInt64"),
        ("batch_id", "UInt64"),
    ],
    v1_columns: 5,
    time_column: "hour_us",
};

/// Passive-DNS rrsets (schema version 2): one partial row per rrset per
/// batch, like the summaries; readers aggregate (min time_first, max
/// time_last, sum count) grouped by (rrname, rrtype, rdata, bailiwick, sensor).
pub const PDNS_RRSETS: TableDef = TableDef {
    name: "pdns_rrsets",
    columns: &[
        ("sensor", "String"),
        ("rrname", "String"),
        ("rrtype", "String"),
        ("rdata", "String"),
        ("bailiwick", "String"),
        ("time_first", "Int64"),
        ("time_last", "Int64"),
        ("count", "UInt64"),
        ("batch_id", "UInt64"),
    ],
    v1_columns: 9,
    time_column: "time_last",
};

/// Every table dnswatch writes, in the order a batch's parts are sent (the
/// index is a batch part's table number in the spool: append only).
pub const TABLES: [&TableDef; 7] = [
    &LOOKUPS,
    &BY_QUERIER,
    &QUERIER_SUMMARY,
    &NAME_SUMMARY,
    &TRAFFIC_HOURLY,
    &ALERTS,
    &PDNS_RRSETS,
];

/// The index of a table in [`TABLES`] by name.
pub fn table_index(name: &str) -> Option<usize> {
    TABLES.iter().position(|t| t.name == name)
}

/// Sorting key of each table (after `ORDER BY`).
fn order_by(name: &str) -> &'static str {
    match name {
        "lookups" => "(entry, qname, ts_us)",
        "lookups_by_querier" => "(querier, ts_us)",
        "alerts" => "(entry, ts_us)",
        "querier_summary" => "(entry, querier, sensor)",
        "name_summary" => "(entry, qname, sensor)",
        "pdns_rrsets" => "(rrname, rrtype, rdata, sensor)",
        _ => "(metric, hour_us, sensor)",
    }
}

/// `CREATE TABLE` of one table in `db` with `prefix`, as the migration
/// that created it made it (later migrations add the other columns).
pub fn create_table(t: &TableDef, db: &str, prefix: &str) -> String {
    let mut cols: Vec<String> = t.columns[..t.v1_columns]
        .iter()
        .map(|(c, ty)| format!("`{c}` {ty}"))
        .collect();
    if t.name == "lookups" || t.name == "alerts" {
        cols.push("`time` DateTime ALIAS toDateTime(intDiv(ts_us, 1000000))".into());
    }
    format!(
        "CREATE TABLE IF NOT EXISTS {db}.{name} ({cols}) ENGINE = MergeTree PARTITION BY intDiv({tc}, {DAY_US}) ORDER BY {order}",
        db = quote_ident(db),
        name = quote_ident(&format!("{prefix}{}", t.name)),
        cols = cols.join(", "),
        tc = t.time_column,
        order = order_by(t.name),
    )
}

/// The Distributed table `<prefix><name>_all` over the local tables of
/// `cluster` (created when `storage.clickhouse.cluster` is set).
pub fn create_distributed(t: &TableDef, db: &str, prefix: &str, cluster: &str) -> String {
    let local = format!("{prefix}{}", t.name);
    format!(
        "CREATE TABLE IF NOT EXISTS {db}.{all} AS {db}.{local} ENGINE = Distributed({cluster}, {db}, {local}, rand())",
        db = quote_ident(db),
        all = quote_ident(&format!("{local}_all")),
        local = quote_ident(&local),
        cluster = quote_ident(cluster),
    )
}

/// The columns a table has beyond its `CREATE TABLE`, as `ALTER TABLE`
/// statements on `table` (the local table, or its Distributed `_all`).
pub fn added_columns(t: &TableDef, db: &str, table: &str) -> Vec<String> {
    t.columns[t.v1_columns..]
        .iter()
        .map(|(c, ty)| {
            format!(
                "ALTER TABLE {db}.{table} ADD COLUMN `{c}` {ty}",
                db = quote_ident(db),
                table = quote_ident(table),
            )
        })
        .collect()
}

/// Schema migrations; `schema_version` holds the highest applied. Each is a
/// list of statements (the HTTP interface runs one per request). Version 1:
/// the first six tables of [`TABLES`]; version 2: [`PDNS_RRSETS`];
/// version 3: the lookups' DNS header, EDNS, sizes and authority section
/// and the alerts' window start (`ALTER TABLE ... ADD COLUMN`, which 18.16
/// runs as a metadata change).
pub fn migrations(db: &str, prefix: &str) -> Vec<Vec<String>> {
    vec![
        TABLES[..6]
            .iter()
            .map(|t| create_table(t, db, prefix))
            .collect(),
        vec![create_table(&PDNS_RRSETS, db, prefix)],
        [
            added_columns(&LOOKUPS, db, &format!("{prefix}lookups")),
            added_columns(&ALERTS, db, &format!("{prefix}alerts")),
        ]
        .concat(),
    ]
}

/// Newest schema version this binary knows.
pub const SCHEMA_VERSION: u32 = 3;

/// A ClickHouse identifier in back quotes.
pub fn quote_ident(s: &str) -> String {
    format!("`{}`", s.replace('\\', "\\\\").replace('`', "\\`"))
}

/// A ClickHouse string literal.
pub fn quote_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// An address as `FixedString(16)`: IPv6 octets, IPv4 mapped.
pub fn addr16(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The address back from `FixedString(16)` (IPv4-mapped gives IPv4).
pub fn addr_from16(b: [u8; 16]) -> IpAddr {
    let v6 = Ipv6Addr::from(b);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

/// Parses an IP text into `FixedString(16)` (for summaries keyed by text).
pub fn addr16_text(s: &str) -> [u8; 16] {
    s.parse::<IpAddr>().map_or([0; 16], addr16)
}

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

/// One lookup as a `lookups` row.
pub fn lookup_row(out: &mut Vec<u8>, l: &Lookup, sensor: &str, batch_id: u64) {
    out.extend_from_slice(&l.ts_us.to_le_bytes());
    put_str(
        out,
        if l.sensor.is_empty() {
            sensor
        } else {
            &l.sensor
        },
    );
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
    put_str(
        out,
        if l.sensor.is_empty() {
            sensor
        } else {
            &l.sensor
        },
    );
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

/// The day (partition) of a µs time.
pub fn day_of(us: i64) -> i64 {
    us.div_euclid(DAY_US)
}

pub(super) fn migrate(
    c: &super::client::Client,
    s: &super::Settings,
) -> Result<(), super::ChError> {
    use super::ChError;
    use std::collections::HashMap;
    let db = quote_ident(&s.database);
    c.query(&format!("CREATE DATABASE IF NOT EXISTS {db}"))?;
    let version_table = format!(
        "{db}.{}",
        quote_ident(&format!("{}schema_version", s.table_prefix))
    );
    c.query(&format!(
        "CREATE TABLE IF NOT EXISTS {version_table} (version UInt32, applied_us Int64) ENGINE = MergeTree ORDER BY version"
    ))?;
    let text = c.query(&format!("SELECT max(version) FROM {version_table}"))?;
    let found: u32 = text.trim().parse().map_err(|_| ChError::Protocol {
        url: c.url().to_string(),
        message: format!("schema version {:?}", text.trim()),
    })?;
    if found > SCHEMA_VERSION {
        return Err(ChError::TooNew {
            url: c.url().to_string(),
            database: s.database.clone(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (i, stmts) in migrations(&s.database, &s.table_prefix)
        .iter()
        .enumerate()
        .skip(found as usize)
    {
        for sql in stmts {
            c.query(sql)?;
        }
        c.query(&format!(
            "INSERT INTO {version_table} (version, applied_us) VALUES ({}, {})",
            i + 1,
            super::now_us()
        ))?;
    }
    if !s.cluster.is_empty() {
        for t in TABLES {
            c.query(&create_distributed(
                t,
                &s.database,
                &s.table_prefix,
                &s.cluster,
            ))?;
        }
    }
    // Every table must have the columns we insert, with our types.
    let text = c.query(&format!(
        "SELECT table, name, type FROM system.columns WHERE database = {} FORMAT TabSeparated",
        quote_str(&s.database)
    ))?;
    let mut have: HashMap<(String, String), String> = HashMap::new();
    for line in text.lines() {
        let mut f = line.split('\t');
        if let (Some(t), Some(n), Some(ty)) = (f.next(), f.next(), f.next()) {
            have.insert((t.to_string(), n.to_string()), ty.to_string());
        }
    }
    // A Distributed table made by an older version lacks the columns later
    // migrations added to its local table: add them (a new one has them).
    if !s.cluster.is_empty() {
        for t in TABLES {
            let all = format!("{}{}_all", s.table_prefix, t.name);
            for (col, ty) in &t.columns[t.v1_columns..] {
                if !have.contains_key(&(all.clone(), (*col).to_string())) {
                    c.query(&format!(
                        "ALTER TABLE {db}.{} ADD COLUMN `{col}` {ty}",
                        quote_ident(&all)
                    ))?;
                }
            }
        }
    }
    for t in TABLES {
        let name = format!("{}{}", s.table_prefix, t.name);
        for (col, ty) in t.columns {
            match have.get(&(name.clone(), (*col).to_string())) {
                Some(found) if found == ty => {}
                Some(found) => {
                    return Err(ChError::Schema {
                        url: c.url().to_string(),
                        table: format!("{}.{name}", s.database),
                        message: format!("column {col} is {found}, dnswatch writes {ty}"),
                    })
                }
                None => {
                    return Err(ChError::Schema {
                        url: c.url().to_string(),
                        table: format!("{}.{name}", s.database),
                        message: format!("no column {col} ({ty})"),
                    })
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_and_addresses() {
        let mut v = Vec::new();
        put_varint(&mut v, 300);
        assert_eq!(v, [0xac, 0x02]);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(addr_from16(addr16(ip)), ip);
        let ip6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(addr_from16(addr16(ip6)), ip6);
        assert_eq!(day_of(-1), -1);
        assert_eq!(quote_str("a'b\\"), "'a\\'b\\\\'");
    }
}
