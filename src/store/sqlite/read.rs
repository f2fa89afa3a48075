//! The read side of the SQLite store: lookups, alerts, detector state,
//! preload, statistics and passive-DNS queries (the write side, schema and
//! retention are in the parent module).

use super::*;

/// Filters for [`SqliteStore::lookups`].
#[derive(Clone, Debug, Default)]
pub struct LookupFilter {
    /// Exact qname, or a zone when it starts with `*.` / is given with `--zone`.
    pub name: Option<String>,
    /// Querier IP.
    pub querier: Option<String>,
    /// Watch entry.
    pub entry: Option<String>,
    /// From (µs, inclusive).
    pub since_us: Option<i64>,
    /// To (µs, exclusive).
    pub until_us: Option<i64>,
    /// Queriers inside this network (checked on the rows read).
    pub querier_net: Option<crate::store::query::Cidr>,
    /// Servers inside this network (checked on the rows read).
    pub server_net: Option<crate::store::query::Cidr>,
    /// Query type mnemonic as stored (`A`, `TYPE65534`).
    pub qtype: Option<String>,
    /// Rcode mnemonic as stored (`NXDOMAIN`).
    pub rcode: Option<String>,
}

impl LookupFilter {
    /// Whether a row's querier and server pass the network filters.
    pub fn addrs_match(&self, querier: std::net::IpAddr, server: std::net::IpAddr) -> bool {
        self.querier_net.is_none_or(|n| n.contains(querier))
            && self.server_net.is_none_or(|n| n.contains(server))
    }
}

impl SqliteStore {
    /// Lookups matching `filter`, oldest first.
    pub fn lookups(
        &self,
        filter: &LookupFilter,
        each: &mut dyn FnMut(Lookup) -> bool,
    ) -> Result<(), StoreError> {
        self.require_compact()?;
        let base = self.ts_base()?;
        let (sql, args) = lookups_sql(filter, base);
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
        while let Some(r) = rows.next()? {
            let l = compact_lookup(r, base)?;
            if !filter.addrs_match(l.querier.ip(), l.server.ip()) {
                continue;
            }
            if !each(l) {
                break;
            }
        }
        Ok(())
    }

    /// The time base of `lookups.ts_us` (0: none, the times are absolute).
    fn ts_base(&self) -> Result<i64, StoreError> {
        Ok(write::ts_base(&self.conn)?.unwrap_or(0))
    }

    /// Fails with [`StoreError::TooOld`] on a database opened read-only
    /// before migration 8 (its lookups are in the old layout).
    fn require_compact(&self) -> Result<(), StoreError> {
        let found = self.version()?;
        if found < COMPACT_VERSION as i64 {
            return Err(StoreError::TooOld {
                path: self.path.clone(),
                found,
                needed: COMPACT_VERSION as i64,
            });
        }
        Ok(())
    }

    /// The query plan SQLite picks for `filter` (`EXPLAIN QUERY PLAN`
    /// details).
    pub fn lookups_plan(&self, filter: &LookupFilter) -> Result<Vec<String>, StoreError> {
        let (sql, args) = lookups_sql(filter, self.ts_base()?);
        let mut stmt = self.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r?);
        }
        Ok(out)
    }

    /// Alerts with id greater than `after_id`, oldest first (for `alerts --follow`).
    pub fn alerts_after(&self, after_id: i64) -> Result<Vec<(i64, Alert)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, ts_us, kind, severity, entry, name, querier, window, evidence, message, suppressed, alert_id, entries,
                    sensor, window_start_us
             FROM alerts WHERE id > ? ORDER BY id",
        )?;
        let rows = stmt.query_map([after_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, String>(7)?,
                r.get::<_, String>(8)?,
                r.get::<_, String>(9)?,
                r.get::<_, i64>(10)?,
                r.get::<_, String>(11)?,
                r.get::<_, String>(12)?,
                r.get::<_, String>(13)?,
                r.get::<_, Option<i64>>(14)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (
                id,
                ts_us,
                kind,
                severity,
                entry,
                name,
                querier,
                window,
                evidence,
                message,
                suppressed,
                alert_id,
                entries,
                sensor,
                window_start_us,
            ) = row?;
            let severity = serde_json::from_value(serde_json::Value::String(severity))?;
            out.push((
                id,
                Alert {
                    id: alert_id,
                    ts_us,
                    kind,
                    severity,
                    entries: serde_json::from_str(&entries)?,
                    entry,
                    name,
                    querier,
                    window,
                    window_start_us,
                    sensor,
                    evidence: serde_json::from_str(&evidence)?,
                    message,
                    suppressed: u64::try_from(suppressed).unwrap_or(0),
                },
            ));
        }
        Ok(out)
    }

    /// Reads a detector state value.
    pub fn state_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM detector_state WHERE key = ?",
                [key],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Writes a detector state value.
    pub fn state_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO detector_state (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// What earlier runs learnt, for the detectors: known queriers and
    /// names, and the hourly lookups of each entry (by the entry that
    /// matched and every further entry in `also`) over the last
    /// `history_days` before the newest lookup.
    pub fn preload(&self, history_days: i64) -> Result<crate::model::Preload, StoreError> {
        let mut p = crate::model::Preload::default();
        self.require_compact()?;
        let base = self.ts_base()?;
        let newest: Option<i64> =
            self.conn
                .query_row("SELECT max(ts_us) FROM lookups", [], |r| r.get(0))?;
        if let Some(newest) = newest {
            // In stored (relative) time.
            let from = newest.saturating_sub(history_days.saturating_mul(86_400_000_000));
            let mut stmt = self.conn.prepare(
                // Entries are interned: count by entry id, then name them.
                "SELECT e, h, sum(c) FROM (
                   SELECT n.name AS e, g.h AS h, g.c AS c FROM (
                     SELECT entry, (ts_us + ?2) / 3600000000 AS h, count(*) AS c FROM lookups
                      WHERE ts_us >= ?1 GROUP BY entry, h
                   ) g JOIN names n ON n.id = g.entry
                   UNION ALL
                   SELECT j.value, (l.ts_us + ?2) / 3600000000, 1 FROM lookups l, json_each(l.also) j
                    WHERE l.ts_us >= ?1 AND l.also IS NOT NULL
                 ) GROUP BY e, h ORDER BY e, h",
            )?;
            let rows = stmt.query_map([from, base], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?;
            for row in rows {
                let (e, h, c) = row?;
                p.hours.push((e, h, u64::try_from(c).unwrap_or(0)));
            }
        }
        let mut stmt = self
            .conn
            .prepare("SELECT entry, querier, first_seen_us, last_seen_us, count FROM querier_summary ORDER BY entry, querier")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?;
        for row in rows {
            let (e, q, f, l, c): (String, String, i64, i64, i64) = row?;
            p.queriers.push((e, q, f, l, u64::try_from(c).unwrap_or(0)));
        }
        let mut stmt = self.conn.prepare(
            "SELECT entry, qname, first_seen_us FROM name_summary ORDER BY entry, qname",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        for row in rows {
            p.names.push(row?);
        }
        Ok(p)
    }

    /// Row counts, span and size, as (label, value) pairs.
    pub fn stats(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut out = Vec::new();
        for table in [
            "lookups",
            "alerts",
            "querier_summary",
            "name_summary",
            "traffic_hourly",
        ] {
            let n: i64 =
                self.conn
                    .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
            out.push((format!("{table} rows"), n.to_string()));
        }
        let (lo, hi): (Option<i64>, Option<i64>) =
            self.conn
                .query_row("SELECT min(ts_us), max(ts_us) FROM lookups", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
        if let (Some(lo), Some(hi)) = (lo, hi) {
            let base = self.ts_base()?;
            out.push((
                "first lookup".into(),
                crate::time::rfc3339(lo.saturating_add(base)),
            ));
            out.push((
                "last lookup".into(),
                crate::time::rfc3339(hi.saturating_add(base)),
            ));
        }
        let entries: i64 = self.conn.query_row(
            "SELECT count(DISTINCT entry) FROM querier_summary",
            [],
            |r| r.get(0),
        )?;
        out.push(("watched entries seen".into(), entries.to_string()));
        for m in [
            "packets",
            "messages",
            "queries",
            "responses",
            "decode_errors",
        ] {
            out.push((format!("total {m}"), self.hourly_total(m)?.to_string()));
        }
        for (table, rows, bytes) in self.table_sizes()? {
            if table == "pdns_rrsets" {
                out.push(("pdns_rrsets rows".into(), rows.to_string()));
            }
            out.push((format!("{table} bytes"), bytes.to_string()));
        }
        let pages: i64 = self.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let size: i64 = self.conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        out.push(("size (bytes)".into(), (pages * size).to_string()));
        out.push(("schema version".into(), SCHEMA_VERSION.to_string()));
        Ok(out)
    }

    /// Sum of an hourly metric over all hours.
    pub fn hourly_total(&self, metric: &str) -> Result<u64, StoreError> {
        let v: i64 = self.conn.query_row(
            "SELECT coalesce(sum(value), 0) FROM traffic_hourly WHERE metric = ?",
            [metric],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(v).unwrap_or(0))
    }

    /// What pruning removed so far, if it removed anything.
    pub fn pruned(&self) -> Result<Option<Pruned>, StoreError> {
        Ok(self
            .state_get(PRUNED_KEY)?
            .and_then(|v| serde_json::from_str(&v).ok()))
    }

    /// Passive-DNS rrsets matching `q` (see [`super::pdns`]).
    pub fn pdns(
        &self,
        q: &crate::store::pdns::PdnsQuery,
        each: &mut dyn FnMut(crate::model::Rrset) -> bool,
    ) -> Result<(), StoreError> {
        crate::store::pdns::query(&self.conn, q, each)
    }

    /// The query plan SQLite picks for `q` (`EXPLAIN QUERY PLAN` details).
    pub fn pdns_plan(&self, q: &crate::store::pdns::PdnsQuery) -> Result<Vec<String>, StoreError> {
        let (sql, args) = crate::store::pdns::query_sql(q)?;
        let mut stmt = self.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r?);
        }
        Ok(out)
    }

    /// Rows and bytes (its own pages plus its indexes') of each table,
    /// from SQLite's `dbstat` virtual table.
    pub fn table_sizes(&self) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT name, tbl_name, type FROM sqlite_master
             WHERE type IN ('table', 'index') ORDER BY name",
        )?;
        let objects = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut stmt = self
            .conn
            .prepare("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")?;
        let pages = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        let bytes_of = |name: &str| pages.iter().find(|(n, _)| n == name).map_or(0, |(_, b)| *b);
        let mut out = Vec::new();
        for (name, _, kind) in &objects {
            if kind != "table" || name.starts_with("sqlite_") {
                continue;
            }
            let bytes: i64 = objects
                .iter()
                .filter(|(n, t, _)| n == name || t == name)
                .map(|(n, _, _)| bytes_of(n))
                .sum();
            // Table names come from sqlite_master, quoted as identifiers.
            let rows: i64 = self.conn.query_row(
                &format!("SELECT count(*) FROM \"{}\"", name.replace('"', "\"\"")),
                [],
                |r| r.get(0),
            )?;
            out.push((name.clone(), rows, bytes));
        }
        Ok(out)
    }
}

/// The statement and arguments of [`SqliteStore::lookups`] (`base`: the
/// time base of `lookups.ts_us`).
fn lookups_sql(filter: &LookupFilter, base: i64) -> (String, Vec<rusqlite::types::Value>) {
    use super::codec::{ip_blob, Coded};
    let mut sql = String::from(
        "SELECT l.ts_us, l.seq, e.name, l.entry, l.querier, l.querier_port, l.server, l.server_port,
                l.transport, q.name, l.qname, l.qtype, l.qclass, l.hdr, l.flags, l.rcode,
                a.body, l.answers, l.rtt_us, l.ecs, f.name, l.src_file,
                l.source, s.name, l.sensor, l.also, au.body, l.authority
         FROM lookups l
         LEFT JOIN names e ON e.id = l.entry
         LEFT JOIN names q ON q.id = l.qname
         LEFT JOIN names f ON f.id = l.src_file
         LEFT JOIN names s ON s.id = l.sensor
         LEFT JOIN answer_sets a ON a.id = l.answers
         LEFT JOIN answer_sets au ON au.id = l.authority
         WHERE 1 = 1",
    );
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(name) = &filter.name {
        let n = name.trim_end_matches('.').to_ascii_lowercase();
        // Names are interned: the matching names first (the names table
        // holds each name once), then their lookups by lookups_qname.
        if let Some(zone) = n.strip_prefix("*.") {
            sql.push_str(
                " AND l.qname IN (SELECT id FROM names WHERE name = ? OR name LIKE ? ESCAPE '\\')",
            );
            args.push(zone.to_string().into());
            args.push(format!("%.{}", zone.replace('%', "\\%").replace('_', "\\_")).into());
        } else {
            sql.push_str(" AND l.qname IN (SELECT id FROM names WHERE name = ?)");
            args.push(n.into());
        }
    }
    // Addresses are compared as stored (blobs); a text that is no address
    // matches nothing, as it matched no stored address text before.
    let mut addr = |sql: &mut String, column: &str, text: Option<String>| {
        if let Some(t) = text {
            match t.parse::<std::net::IpAddr>() {
                Ok(ip) => {
                    sql.push_str(&format!(" AND l.{column} = ?"));
                    args.push(ip_blob(ip).into());
                }
                Err(_) => sql.push_str(" AND 0"),
            }
        }
    };
    addr(&mut sql, "querier", filter.querier.clone());
    addr(
        &mut sql,
        "querier",
        filter
            .querier_net
            .and_then(|n| n.single())
            .map(|ip| ip.to_string()),
    );
    addr(
        &mut sql,
        "server",
        filter
            .server_net
            .and_then(|n| n.single())
            .map(|ip| ip.to_string()),
    );
    if let Some(e) = &filter.entry {
        sql.push_str(
            " AND (l.entry IN (SELECT id FROM names WHERE name = ?)
                   OR EXISTS (SELECT 1 FROM json_each(l.also) WHERE value = ?))",
        );
        args.push(e.clone().into());
        args.push(e.clone().into());
    }
    if let Some(s) = filter.since_us {
        // Saturating: a bound beyond the stored range keeps its meaning
        // (every stored time is at least i64::MIN + base).
        sql.push_str(" AND l.ts_us >= ?");
        args.push(s.saturating_sub(base).into());
    }
    if let Some(u) = filter.until_us {
        sql.push_str(" AND l.ts_us < ?");
        args.push(u.saturating_sub(base).into());
    }
    if let Some(t) = &filter.qtype {
        sql.push_str(" AND l.qtype = ?");
        args.push(Coded::Qtype.encode(t));
    }
    if let Some(r) = &filter.rcode {
        sql.push_str(" AND l.rcode = ?");
        args.push(Coded::Rcode.encode(r));
    }
    sql.push_str(" ORDER BY l.ts_us, l.seq");
    (sql, args)
}

/// One row of [`lookups_sql`]; a row that does not decode is an error
/// naming it.
fn compact_lookup(r: &rusqlite::Row<'_>, base: i64) -> Result<Lookup, StoreError> {
    use super::codec::{blob_ip, port_of, Coded, Hdr};
    let stored: i64 = r.get(0)?;
    let seq: i64 = r.get(1)?;
    let ts_us = stored.checked_add(base);
    let bad = |reason: String| StoreError::Corrupt {
        table: "lookups",
        row: match ts_us {
            Some(t) => format!("ts_us {t} seq {seq}"),
            None => format!("stored ts_us {stored} seq {seq}"),
        },
        reason,
    };
    let ts_us = ts_us.ok_or_else(|| bad(format!("time base {base} overflows it")))?;
    // An interned value: (name or body column, id column).
    let interned = |text: usize, id: usize, what: &str| -> Result<Option<String>, StoreError> {
        let t: Option<String> = r.get(text)?;
        let i: Option<i64> = r.get(id)?;
        match (t, i) {
            (Some(t), Some(_)) => Ok(Some(t)),
            (None, None) => Ok(None),
            (_, i) => Err(bad(format!("{what} id {i:?} is not stored"))),
        }
    };
    let required = |text: usize, id: usize, what: &str| -> Result<String, StoreError> {
        interned(text, id, what)?.ok_or_else(|| bad(format!("no {what}")))
    };
    let records = |text: usize, id: usize, what: &str| -> Result<Vec<Answer>, StoreError> {
        match interned(text, id, what)? {
            Some(body) => serde_json::from_str(&body).map_err(|e| bad(format!("{what}: {e}"))),
            None => Ok(Vec::new()),
        }
    };
    let coded = |i: usize, c: Coded| c.decode(r.get_ref(i)?).map_err(bad);
    let source = match (interned(20, 21, "source file")?, r.get_ref(22)?) {
        (Some(file), rusqlite::types::ValueRef::Integer(n)) => format!("{file}#{n}"),
        (None, rusqlite::types::ValueRef::Text(t)) => {
            String::from_utf8(t.to_vec()).map_err(|_| bad("source is not UTF-8".into()))?
        }
        (_, v) => return Err(bad(format!("source of type {:?}", v.data_type()))),
    };
    let also = match r.get::<_, Option<String>>(25)? {
        Some(j) => serde_json::from_str(&j).map_err(|e| bad(format!("also: {e}")))?,
        None => Vec::new(),
    };
    let hdr = match r.get_ref(13)? {
        rusqlite::types::ValueRef::Blob(b) => Hdr::decode(b).map_err(bad)?,
        v => return Err(bad(format!("hdr of type {:?}", v.data_type()))),
    };
    Ok(Lookup {
        ts_us,
        entry: required(2, 3, "entry")?,
        also,
        querier: std::net::SocketAddr::new(
            blob_ip(r.get_ref(4)?).map_err(bad)?,
            port_of(r.get(5)?).map_err(bad)?,
        ),
        server: std::net::SocketAddr::new(
            blob_ip(r.get_ref(6)?).map_err(bad)?,
            port_of(r.get(7)?).map_err(bad)?,
        ),
        transport: coded(8, Coded::Transport)?,
        qname: required(9, 10, "qname")?,
        qtype: coded(11, Coded::Qtype)?,
        qclass: coded(12, Coded::Qclass)?,
        opcode: hdr.opcode,
        flags: coded(14, Coded::Flags)?,
        rcode: match r.get_ref(15)? {
            rusqlite::types::ValueRef::Null => None,
            v => Some(Coded::Rcode.decode(v).map_err(bad)?),
        },
        answers: records(16, 17, "answers")?,
        rtt_us: r.get(18)?,
        ecs: r.get(19)?,
        query_seen: hdr.query_seen,
        answered: hdr.answered,
        source,
        sensor: required(23, 24, "sensor")?,
        dns_id: hdr.dns_id,
        counts: hdr.counts,
        edns: hdr.edns,
        query_size: hdr.query_size,
        response_size: hdr.response_size,
        authority: records(26, 27, "authority")?,
    })
}
