//! The ClickHouse schema: versioned migrations, the columns each insert
//! names, and RowBinary encoding of rows.
//!
//! One schema for ClickHouse 18.16 (Debian's) and modern servers: no
//! `DateTime64` (times are `Int64` µs, with a `DateTime` alias column for
//! people), no `IPv6` type (addresses are `FixedString(16)`, IPv4 mapped into
//! `::ffff:0:0/96`). What differs by server version ([`Ddl`], from
//! `SELECT version()` at each migration): from 19.3 on (where it stopped
//! needing `allow_experimental_low_cardinality_type`) the repetitive string
//! columns ([`LOW_CARDINALITY`]) are `LowCardinality(String)`; from 19.6 on
//! (table `TTL`) the tables retention prunes carry a `TTL` of
//! `storage.retention_days`. Older servers get plain `String` and no `TTL`;
//! retention drops whole day partitions there (and everywhere: it is cheap).
//! RowBinary is the same for `String` and `LowCardinality(String)`, so the
//! encoder does not care which a table has.
//!
//! Every table is `MergeTree`, partitioned by UTC day (`intDiv(µs, 86400e6)`,
//! independent of the server's time zone) and carries `sensor` and
//! `batch_id`: the id of the spooled batch the row came in, which makes
//! retries idempotent (see [`super`]).

use std::net::{IpAddr, Ipv6Addr};

pub use super::rowbinary::*;

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

/// Columns that are `LowCardinality` where the server supports it: few
/// distinct values each (a sensor, an entry, a type or class, flags, an
/// rcode, an alert kind, a metric name).
pub const LOW_CARDINALITY: &[&str] = &[
    "sensor",
    "entry",
    "transport",
    "qtype",
    "qclass",
    "flags",
    "rcode",
    "scope",
    "kind",
    "severity",
    "metric",
    "rrtype",
];

/// Tables retention prunes (the others are kept, as in SQLite): they get
/// the `TTL`.
pub const RETAINED: &[&str] = &["lookups", "lookups_by_querier", "pdns_rrsets"];

/// First server version with `LowCardinality` without an experimental
/// setting (ClickHouse 19.3.3 changelog: "Removed
/// `allow_experimental_low_cardinality_type` setting").
pub const LOW_CARDINALITY_SINCE: (u32, u32) = (19, 3);

/// First server version with table `TTL` (ClickHouse 19.6.2.11: "TTL
/// expressions for columns and tables").
pub const TTL_SINCE: (u32, u32) = (19, 6);

/// What the DDL for one server may use (see the module documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ddl {
    /// Repetitive string columns as `LowCardinality`.
    pub low_cardinality: bool,
    /// The server has table `TTL`.
    pub ttl: bool,
    /// `storage.retention_days` (0: keep forever, no `TTL`).
    pub retention_days: u32,
}

/// `(major, minor)` of a `SELECT version()` answer like `18.16.1` or
/// `24.8.4.13`; `None` for anything else.
pub fn server_version(text: &str) -> Option<(u32, u32)> {
    let mut it = text.trim().split('.');
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

impl Ddl {
    /// The DDL of 18.16 (the lowest common denominator; also what an
    /// unrecognised version gets).
    pub const LEGACY: Self = Self {
        low_cardinality: false,
        ttl: false,
        retention_days: 0,
    };

    /// For a server answering `version` to `SELECT version()`.
    pub fn for_server(version: &str, retention_days: u32) -> Self {
        let v = server_version(version).unwrap_or((0, 0));
        Self {
            low_cardinality: v >= LOW_CARDINALITY_SINCE,
            ttl: v >= TTL_SINCE,
            retention_days,
        }
    }

    /// The type of `column` (declared `ty` in its [`TableDef`]) here.
    pub fn column_type(&self, column: &str, ty: &str) -> String {
        if self.low_cardinality && LOW_CARDINALITY.contains(&column) {
            if let Some(lc) = low_cardinality_of(ty) {
                return lc;
            }
        }
        ty.to_string()
    }

    /// The table `TTL` clause of `t` (empty without one).
    pub fn ttl_clause(&self, t: &TableDef) -> String {
        match self.ttl_expr(t) {
            Some(e) => format!(" TTL {e}"),
            None => String::new(),
        }
    }

    /// The `TTL` expression of `t`, when it has one here.
    pub fn ttl_expr(&self, t: &TableDef) -> Option<String> {
        (self.ttl && self.retention_days > 0 && RETAINED.contains(&t.name)).then(|| {
            format!(
                "toDateTime(intDiv({}, 1000000)) + INTERVAL {} DAY",
                t.time_column, self.retention_days
            )
        })
    }
}

/// The `LowCardinality` form of a string type (`None` for other types).
pub fn low_cardinality_of(ty: &str) -> Option<String> {
    match ty {
        "String" | "Nullable(String)" => Some(format!("LowCardinality({ty})")),
        _ => None,
    }
}

/// True when `column` is in the sorting key of `table` (its type cannot
/// be changed in place by `ALTER ... MODIFY COLUMN`).
fn in_sorting_key(table: &str, column: &str) -> bool {
    order_by(table)
        .trim_matches(|c| c == '(' || c == ')')
        .split(", ")
        .any(|c| c == column)
}

/// `CREATE TABLE` of one table in `db` with `prefix`, as the migration
/// that created it made it on 18.16 (later migrations add the other columns).
pub fn create_table(t: &TableDef, db: &str, prefix: &str) -> String {
    create_table_for(t, db, prefix, &Ddl::LEGACY)
}

/// `CREATE TABLE` of one table for a server with `ddl`.
pub fn create_table_for(t: &TableDef, db: &str, prefix: &str, ddl: &Ddl) -> String {
    let mut cols: Vec<String> = t.columns[..t.v1_columns]
        .iter()
        .map(|(c, ty)| format!("`{c}` {}", ddl.column_type(c, ty)))
        .collect();
    if t.name == "lookups" || t.name == "alerts" {
        cols.push("`time` DateTime ALIAS toDateTime(intDiv(ts_us, 1000000))".into());
    }
    format!(
        "CREATE TABLE IF NOT EXISTS {db}.{name} ({cols}) ENGINE = MergeTree PARTITION BY intDiv({tc}, {DAY_US}) ORDER BY {order}{ttl}",
        db = quote_ident(db),
        name = quote_ident(&format!("{prefix}{}", t.name)),
        cols = cols.join(", "),
        tc = t.time_column,
        order = order_by(t.name),
        ttl = ddl.ttl_clause(t),
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
pub fn added_columns(t: &TableDef, db: &str, table: &str, ddl: &Ddl) -> Vec<String> {
    t.columns[t.v1_columns..]
        .iter()
        .map(|(c, ty)| {
            format!(
                "ALTER TABLE {db}.{table} ADD COLUMN `{c}` {ty}",
                db = quote_ident(db),
                table = quote_ident(table),
                ty = ddl.column_type(c, ty),
            )
        })
        .collect()
}

/// Schema version 4 on a server with `LowCardinality`: the repetitive
/// string columns of tables made before become `LowCardinality` (except
/// sorting-key columns, which stay `String`: same RowBinary, same queries).
/// Nothing on older servers. (The `TTL` is kept in step with the retention
/// setting at every start, not by a migration.)
pub fn low_cardinality_columns(db: &str, prefix: &str, ddl: &Ddl) -> Vec<String> {
    if !ddl.low_cardinality {
        return Vec::new();
    }
    let mut out = Vec::new();
    for t in TABLES {
        for (c, ty) in t.columns {
            if !LOW_CARDINALITY.contains(c) || in_sorting_key(t.name, c) {
                continue;
            }
            if let Some(lc) = low_cardinality_of(ty) {
                out.push(format!(
                    "ALTER TABLE {}.{} MODIFY COLUMN `{c}` {lc}",
                    quote_ident(db),
                    quote_ident(&format!("{prefix}{}", t.name)),
                ));
            }
        }
    }
    out
}

/// Schema migrations; `schema_version` holds the highest applied. Each is a
/// list of statements (the HTTP interface runs one per request). Version 1:
/// the first six tables of [`TABLES`]; version 2: [`PDNS_RRSETS`];
/// version 3: the lookups' DNS header, EDNS, sizes and authority section
/// and the alerts' window start (`ALTER TABLE ... ADD COLUMN`, which 18.16
/// runs as a metadata change); version 4: `LowCardinality` columns where
/// the server has them ([`low_cardinality_columns`]). As 18.16 runs them.
pub fn migrations(db: &str, prefix: &str) -> Vec<Vec<String>> {
    migrations_for(db, prefix, &Ddl::LEGACY)
}

/// The migrations for a server with `ddl` (see [`migrations`]).
pub fn migrations_for(db: &str, prefix: &str, ddl: &Ddl) -> Vec<Vec<String>> {
    vec![
        TABLES[..6]
            .iter()
            .map(|t| create_table_for(t, db, prefix, ddl))
            .collect(),
        vec![create_table_for(&PDNS_RRSETS, db, prefix, ddl)],
        [
            added_columns(&LOOKUPS, db, &format!("{prefix}lookups"), ddl),
            added_columns(&ALERTS, db, &format!("{prefix}alerts"), ddl),
        ]
        .concat(),
        low_cardinality_columns(db, prefix, ddl),
    ]
}

/// Newest schema version this binary knows.
pub const SCHEMA_VERSION: u32 = 4;

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
    let version = c.query("SELECT version()")?;
    let ddl = Ddl::for_server(&version, s.retention_days);
    tracing::debug!(url = %c.url(), version = %version.trim(), ?ddl, "ClickHouse server");
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
    for (i, stmts) in migrations_for(&s.database, &s.table_prefix, &ddl)
        .iter()
        .enumerate()
        .skip(found as usize)
    {
        // Tables this run created already have the `LowCardinality` types.
        let made_here = i + 1 == 4 && found == 0;
        for sql in stmts.iter().filter(|_| !made_here) {
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
                        "ALTER TABLE {db}.{} ADD COLUMN `{col}` {}",
                        quote_ident(&all),
                        ddl.column_type(col, ty)
                    ))?;
                }
            }
        }
    }
    for t in TABLES {
        let name = format!("{}{}", s.table_prefix, t.name);
        for (col, ty) in t.columns {
            match have.get(&(name.clone(), (*col).to_string())) {
                // Either form: RowBinary is the same.
                Some(found)
                    if found == ty || low_cardinality_of(ty).is_some_and(|lc| *found == lc) => {}
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
    keep_ttl(c, s, &ddl)
}

/// Keeps the `TTL` of the retained tables equal to `storage.retention_days`
/// on servers that have `TTL` (a changed setting reaches existing tables).
/// A failure is logged, not fatal: retention also drops old partitions.
fn keep_ttl(
    c: &super::client::Client,
    s: &super::Settings,
    ddl: &Ddl,
) -> Result<(), super::ChError> {
    if !ddl.ttl {
        return Ok(());
    }
    for t in TABLES.iter().filter(|t| RETAINED.contains(&t.name)) {
        let name = format!("{}{}", s.table_prefix, t.name);
        let engine = c.query(&format!(
            "SELECT engine_full FROM system.tables WHERE database = {} AND name = {} FORMAT TabSeparatedRaw",
            quote_str(&s.database),
            quote_str(&name)
        ))?;
        let has = engine.contains(" TTL ");
        let sql = match ddl.ttl_expr(t) {
            Some(_) if engine.contains(&format!("toIntervalDay({})", ddl.retention_days)) => {
                continue
            }
            Some(e) => format!("ALTER TABLE {} MODIFY TTL {e}", s.table(t)),
            None if has => format!("ALTER TABLE {} REMOVE TTL", s.table(t)),
            None => continue,
        };
        if let Err(e) = c.query(&sql) {
            tracing::warn!(
                "{e} (table {}.{name}: retention still drops old day partitions)",
                s.database
            );
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

    #[test]
    fn server_versions_pick_the_ddl() {
        assert_eq!(server_version("18.16.1\n"), Some((18, 16)));
        assert_eq!(server_version("24.8.4.13"), Some((24, 8)));
        assert_eq!(server_version("nonsense"), None);
        let old = Ddl::for_server("18.16.1", 30);
        assert_eq!((old.low_cardinality, old.ttl), (false, false));
        let lc = Ddl::for_server("19.3.3.1", 30);
        assert_eq!((lc.low_cardinality, lc.ttl), (true, false));
        let new = Ddl::for_server("19.6.2.11", 30);
        assert_eq!((new.low_cardinality, new.ttl), (true, true));
        assert!(!Ddl::for_server("19.2.9", 30).low_cardinality);
        assert!(!Ddl::for_server("19.5.4", 30).ttl);
        // Unrecognised: the DDL every version runs.
        assert_eq!(
            Ddl::for_server("x.y", 30),
            Ddl {
                retention_days: 30,
                ..Ddl::LEGACY
            }
        );
    }

    #[test]
    fn the_ddl_of_18_16_has_no_low_cardinality_and_no_ttl() {
        let ddl = Ddl::for_server("18.16.1", 30);
        let all: Vec<String> = migrations_for("db", "p_", &ddl).concat();
        assert!(all
            .iter()
            .all(|s| !s.contains("LowCardinality") && !s.contains("TTL")));
        assert_eq!(migrations_for("db", "p_", &ddl), migrations("db", "p_"));
        assert!(migrations("db", "p_")[3].is_empty());
        let lookups = create_table_for(&LOOKUPS, "db", "p_", &ddl);
        assert!(lookups.contains("`entry` String, "), "{lookups}");
        assert!(
            lookups.ends_with("ORDER BY (entry, qname, ts_us)"),
            "{lookups}"
        );
    }

    #[test]
    fn the_ddl_of_new_servers_has_low_cardinality_and_the_retention_ttl() {
        let ddl = Ddl::for_server("23.8.2.7", 30);
        let lookups = create_table_for(&LOOKUPS, "db", "", &ddl);
        for col in ["entry", "sensor", "qtype", "qclass", "transport", "flags"] {
            assert!(
                lookups.contains(&format!("`{col}` LowCardinality(String)")),
                "{col}: {lookups}"
            );
        }
        assert!(
            lookups.contains("`rcode` LowCardinality(Nullable(String))"),
            "{lookups}"
        );
        assert!(lookups.contains("`qname` String"), "{lookups}");
        assert!(lookups.contains("`querier` FixedString(16)"), "{lookups}");
        assert!(
            lookups.ends_with(
                "ORDER BY (entry, qname, ts_us) TTL toDateTime(intDiv(ts_us, 1000000)) + INTERVAL 30 DAY"
            ),
            "{lookups}"
        );
        let rrsets = create_table_for(&PDNS_RRSETS, "db", "", &ddl);
        assert!(rrsets.ends_with("TTL toDateTime(intDiv(time_last, 1000000)) + INTERVAL 30 DAY"));
        // Kept tables (as in SQLite) and retention 0: no TTL.
        assert!(!create_table_for(&QUERIER_SUMMARY, "db", "", &ddl).contains("TTL"));
        assert!(!create_table_for(&ALERTS, "db", "", &ddl).contains("TTL"));
        let forever = Ddl::for_server("23.8.2.7", 0);
        assert!(!create_table_for(&LOOKUPS, "db", "", &forever).contains("TTL"));
        // 19.3 to 19.5: LowCardinality, no TTL.
        let mid = create_table_for(&LOOKUPS, "db", "", &Ddl::for_server("19.4.1", 30));
        assert!(
            mid.contains("LowCardinality(String)") && !mid.contains("TTL"),
            "{mid}"
        );
    }

    #[test]
    fn version_4_converts_only_columns_outside_the_sorting_key() {
        let ddl = Ddl::for_server("24.3.1", 0);
        let v4 = &migrations_for("db", "", &ddl)[3];
        assert!(
            v4.contains(
                &"ALTER TABLE `db`.`lookups` MODIFY COLUMN `qtype` LowCardinality(String)"
                    .to_string()
            ),
            "{v4:?}"
        );
        assert!(v4.contains(
            &"ALTER TABLE `db`.`alerts` MODIFY COLUMN `kind` LowCardinality(String)".to_string()
        ));
        // entry (lookups, alerts, summaries), sensor (summaries, rrsets,
        // hourly), metric and rrtype are sorting-key columns: kept.
        assert!(!v4
            .iter()
            .any(|s| s.contains("`lookups` MODIFY COLUMN `entry`")));
        assert!(!v4
            .iter()
            .any(|s| s.contains("`querier_summary` MODIFY COLUMN `sensor`")));
        assert!(!v4
            .iter()
            .any(|s| s.contains("`traffic_hourly` MODIFY COLUMN `metric`")));
        assert!(v4
            .iter()
            .any(|s| s.contains("`lookups` MODIFY COLUMN `sensor`")));
        // Every converted column is a LowCardinality candidate.
        assert!(v4.iter().all(|s| LOW_CARDINALITY
            .iter()
            .any(|c| s.contains(&format!("`{c}` LowCardinality")))));
    }
}
