//! The embedded SQLite store: versioned schema, WAL, one transaction per batch.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::{Batch, Sink, StoreError};
use crate::model::Alert;
use crate::model::Answer;
use crate::model::Lookup;

/// Schema migrations, applied in order; `PRAGMA user_version` is the count applied.
const MIGRATIONS: &[&str] = &[
    // 1: lookups, per-(entry, querier) summary, hourly traffic counters.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     INSERT INTO meta (key, value) VALUES ('application', 'dnswatch');
     CREATE TABLE lookups (
        id INTEGER PRIMARY KEY,
        ts_us INTEGER NOT NULL,
        entry TEXT NOT NULL,
        also TEXT NOT NULL DEFAULT '[]',
        querier TEXT NOT NULL,
        querier_port INTEGER NOT NULL,
        server TEXT NOT NULL,
        server_port INTEGER NOT NULL,
        transport TEXT NOT NULL,
        qname TEXT NOT NULL,
        qtype TEXT NOT NULL,
        qclass TEXT NOT NULL,
        opcode INTEGER NOT NULL,
        flags TEXT NOT NULL,
        rcode TEXT,
        answers TEXT NOT NULL,
        rtt_us INTEGER,
        ecs TEXT,
        query_seen INTEGER NOT NULL,
        answered INTEGER NOT NULL,
        source TEXT NOT NULL
     );
     CREATE INDEX lookups_ts ON lookups (ts_us);
     CREATE INDEX lookups_qname ON lookups (qname, ts_us);
     CREATE INDEX lookups_querier ON lookups (querier, ts_us);
     CREATE INDEX lookups_entry ON lookups (entry, ts_us);
     CREATE TABLE querier_summary (
        entry TEXT NOT NULL,
        querier TEXT NOT NULL,
        first_seen_us INTEGER NOT NULL,
        last_seen_us INTEGER NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (entry, querier)
     ) WITHOUT ROWID;
     CREATE TABLE traffic_hourly (
        hour_us INTEGER NOT NULL,
        metric TEXT NOT NULL,
        value INTEGER NOT NULL,
        PRIMARY KEY (hour_us, metric)
     ) WITHOUT ROWID;",
    // 2: alerts and detector state.
    "CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        ts_us INTEGER NOT NULL,
        kind TEXT NOT NULL,
        severity TEXT NOT NULL,
        entry TEXT NOT NULL,
        name TEXT NOT NULL,
        querier TEXT,
        window TEXT NOT NULL,
        evidence TEXT NOT NULL,
        message TEXT NOT NULL,
        suppressed INTEGER NOT NULL
     );
     CREATE INDEX alerts_ts ON alerts (ts_us);
     CREATE TABLE name_summary (
        entry TEXT NOT NULL,
        qname TEXT NOT NULL,
        first_seen_us INTEGER NOT NULL,
        last_seen_us INTEGER NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (entry, qname)
     ) WITHOUT ROWID;
     CREATE TABLE detector_state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
     ) WITHOUT ROWID;",
    // 3: stable alert ids and every entry an alert touches.
    "ALTER TABLE alerts ADD COLUMN alert_id TEXT NOT NULL DEFAULT '';
     ALTER TABLE alerts ADD COLUMN entries TEXT NOT NULL DEFAULT '[]';",
    // 4: the sensor that saw each lookup.
    "ALTER TABLE lookups ADD COLUMN sensor TEXT NOT NULL DEFAULT '';",
    // 5: the passive-DNS rrset table (store::pdns).
    super::pdns::MIGRATION,
    // 6: the DNS header and EDNS of each lookup, message sizes and the
    // authority section (rows written before keep 0 / NULL / []); the
    // sensor and window start of each alert.
    "ALTER TABLE lookups ADD COLUMN dns_id INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE lookups ADD COLUMN qdcount INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE lookups ADD COLUMN ancount INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE lookups ADD COLUMN nscount INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE lookups ADD COLUMN arcount INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE lookups ADD COLUMN edns_version INTEGER;
     ALTER TABLE lookups ADD COLUMN edns_udp_size INTEGER;
     ALTER TABLE lookups ADD COLUMN edns_do INTEGER;
     ALTER TABLE lookups ADD COLUMN edns_z INTEGER;
     ALTER TABLE lookups ADD COLUMN query_size INTEGER;
     ALTER TABLE lookups ADD COLUMN response_size INTEGER;
     ALTER TABLE lookups ADD COLUMN authority TEXT NOT NULL DEFAULT '[]';
     ALTER TABLE alerts ADD COLUMN sensor TEXT NOT NULL DEFAULT '';
     ALTER TABLE alerts ADD COLUMN window_start_us INTEGER;",
    // 7: indexes only: no query uses
    // lookups_entry — the entry filter of `lookups`/`report` is an OR with
    // the `also` list, which SQLite answers from lookups_ts — yet every
    // insert paid for it (21 bytes a row).
    "DROP INDEX IF EXISTS lookups_entry;",
    // 8: the compact lookups table (issue 13): names and answer sets
    // interned, addresses as blobs, mnemonics as small integers, the row
    // keyed by (ts_us, seq) without a rowid and so without lookups_ts.
    // The rows of the old table move over in the same transaction
    // (write::MIGRATION, migrate::migrate_rows).
    write::MIGRATION,
    // 9: lookups.ts_us relative to a time base in meta (write::ts_base):
    // 2 bytes less in the table and in each of its two indexes; ports as
    // signed 16-bit numbers and the usual opcode/qdcount left out of hdr
    // (codec::port_code, codec::Hdr): 3 bytes less in the table.
    write::MIGRATION_TS_BASE,
];

/// The version whose migration moves the lookups into the compact table.
const COMPACT_VERSION: usize = 8;

/// Newest schema version this binary knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// An open dnswatch database.
pub struct SqliteStore {
    /// Visible to the store's other modules ([`super::query`]) only.
    pub(super) conn: Connection,
    path: PathBuf,
    /// Ids of names and answer sets the writer has seen.
    intern: write::Interner,
    /// The next seq of the timestamps the writer has seen.
    seqs: write::Seqs,
    /// The time base the writer has read or set (`write::ts_base`).
    ts_base: Option<i64>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

/// Creates the database file with [`super::file_mode`] when it does not
/// exist, before SQLite would create it 0644. SQLite gives the WAL and
/// shared-memory files the database file's permissions.
fn create_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(crate::files::file_mode())
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            if let Ok(m) = std::fs::metadata(path) {
                if m.permissions().mode() & 0o004 != 0 {
                    tracing::warn!(path = %path.display(), mode = format!("{:04o}", m.permissions().mode() & 0o7777), "the database is readable by every local user; chmod o-r it (new files are created with storage.file_mode)");
                }
            }
            Ok(())
        }
        // A missing directory and the like: let SQLite say what is wrong.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StoreError::Create {
            path: path.to_path_buf(),
            source,
        }),
    }
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        create_private(path)?;
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(open_err)?;
        let mut store = Self {
            conn,
            path: path.to_path_buf(),
            intern: write::Interner::default(),
            seqs: write::Seqs::default(),
            ts_base: None,
        };
        store.setup()?;
        Ok(store)
    }

    /// Opens an existing database read-only (for `lookups`, `report`, ...).
    pub fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        if !path.exists() {
            return Err(StoreError::Foreign {
                path: path.to_path_buf(),
                reason: "no such file".into(),
            });
        }
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(open_err)?;
        let store = Self {
            conn,
            path: path.to_path_buf(),
            intern: write::Interner::default(),
            seqs: write::Seqs::default(),
            ts_base: None,
        };
        let version = store.version()?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: path.to_path_buf(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        if version == 0 {
            return Err(StoreError::Foreign {
                path: path.to_path_buf(),
                reason: "no dnswatch schema (was anything replayed into it?)".into(),
            });
        }
        Ok(store)
    }

    fn version(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::NotADatabase =>
                {
                    StoreError::Foreign {
                        path: self.path.clone(),
                        reason: "not an SQLite database".into(),
                    }
                }
                other => StoreError::Sql(other),
            })
    }

    fn setup(&mut self) -> Result<(), StoreError> {
        let version = self.version()?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        if version == 0 {
            let tables: i64 = self.conn.query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                [],
                |r| r.get(0),
            )?;
            if tables > 0 {
                return Err(StoreError::Foreign {
                    path: self.path.clone(),
                    reason: "it holds other tables".into(),
                });
            }
        }
        self.conn.pragma_update(None, "journal_mode", "WAL")?;
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        // 16 MiB of page cache: random-name floods insert into the qname and
        // summary indexes all over the B-tree; the 2 MiB default re-reads pages.
        self.conn.pragma_update(None, "cache_size", -16384)?;
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            if i + 1 == COMPACT_VERSION {
                migrate::migrate_rows(&tx)?;
            }
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Deletes lookups older than `before_us`, and the per-querier and
    /// per-name summaries last seen before it; alerts, hourly counters and
    /// detector state are kept. Returns the number of lookups deleted.
    pub fn prune(&mut self, before_us: i64) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let base = write::ts_base(&tx)?.unwrap_or(0);
        let n = tx.execute(
            "DELETE FROM lookups WHERE ts_us < ?",
            [before_us.saturating_sub(base)],
        )?;
        record_prune(&tx, before_us, n)?;
        tx.execute(
            "DELETE FROM querier_summary WHERE last_seen_us < ?",
            [before_us],
        )?;
        tx.execute(
            "DELETE FROM name_summary WHERE last_seen_us < ?",
            [before_us],
        )?;
        super::pdns::prune(&tx, before_us, None)?;
        tx.commit()?;
        Ok(n)
    }
}

impl Sink for SqliteStore {
    fn preload(&self, history_days: i64) -> Result<crate::model::Preload, StoreError> {
        SqliteStore::preload(self, history_days)
    }

    fn write(&mut self, batch: &Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.write_group(&[batch])
    }

    fn max_group(&self) -> usize {
        // The writer's lookup cap bounds a group; this only bounds the
        // number of batches (each may be small: alerts, counters).
        64
    }

    fn write_group(&mut self, batches: &[&Batch]) -> Result<(), StoreError> {
        let res = self.write_batches(batches);
        if res.is_err() {
            // The ids and seqs the failed transaction added are gone with it.
            self.intern.clear();
            self.seqs.clear();
            self.ts_base = None;
        }
        res?;
        // Retention and scrubbing run after the commit: their failure (say,
        // a lock held elsewhere) must not fail the batch, which is already
        // written; they are asked for again at the next period.
        for batch in batches {
            if let Err(e) = self.maintain(batch) {
                tracing::warn!(error = %e, "retention or scrubbing postponed");
            }
        }
        Ok(())
    }

    fn set_lock_wait(&mut self, wait: Duration) {
        if let Err(e) = self.conn.busy_timeout(wait) {
            tracing::debug!(error = %e, "cannot set the busy timeout");
        }
    }
}

impl SqliteStore {
    /// Consecutive batches in one transaction (group commit: most of a
    /// commit's cost is the index pages it dirties, which several batches
    /// share).
    fn write_batches(&mut self, batches: &[&Batch]) -> Result<(), StoreError> {
        // IMMEDIATE: the batch starts by reading (interned ids), and a read
        // transaction that later needs the write lock held by another
        // connection fails at once instead of waiting out the busy timeout.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Once per transaction, before its first insert (it seals the
        // cache after the commit, lookups or not).
        self.seqs.check(&tx)?;
        for batch in batches {
            if !batch.lookups.is_empty() {
                let base = match self.ts_base {
                    Some(b) => b,
                    None => write::ts_base_for(&tx, &batch.lookups)?,
                };
                self.ts_base = Some(base);
                write::insert_lookups(&tx, &mut self.intern, &mut self.seqs, base, &batch.lookups)?;
            }
            let mut sum = tx.prepare_cached(
                "INSERT INTO querier_summary (entry, querier, first_seen_us, last_seen_us, count)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (entry, querier) DO UPDATE SET
                    first_seen_us = min(first_seen_us, excluded.first_seen_us),
                    last_seen_us = max(last_seen_us, excluded.last_seen_us),
                    count = count + excluded.count",
            )?;
            let mut names = tx.prepare_cached(
                "INSERT INTO name_summary (entry, qname, first_seen_us, last_seen_us, count)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (entry, qname) DO UPDATE SET
                    first_seen_us = min(first_seen_us, excluded.first_seen_us),
                    last_seen_us = max(last_seen_us, excluded.last_seen_us),
                    count = count + excluded.count",
            )?;
            // One upsert per key and batch, not per lookup.
            let agg = Summaries::of(&batch.lookups);
            for ((e, q), s) in &agg.queriers {
                sum.execute(params![e, q.to_string(), s.first, s.last, s.count])?;
            }
            for ((e, n), s) in &agg.names {
                names.execute(params![e, n, s.first, s.last, s.count])?;
            }
            let mut hour = tx.prepare_cached(
                "INSERT INTO traffic_hourly (hour_us, metric, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (hour_us, metric) DO UPDATE SET value = value + excluded.value",
            )?;
            super::pdns::write(&tx, &batch.rrsets)?;
            for h in &batch.hourly {
                hour.execute(params![
                    h.hour_us,
                    h.metric,
                    i64::try_from(h.value).unwrap_or(i64::MAX)
                ])?;
            }
            let mut al = tx.prepare_cached(
                "INSERT INTO alerts (ts_us, kind, severity, entry, name, querier, window, evidence, message, suppressed, alert_id, entries,
                    sensor, window_start_us)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?;
            for a in &batch.alerts {
                al.execute(params![
                    a.ts_us,
                    a.kind,
                    a.severity.as_str(),
                    a.entry,
                    a.name,
                    a.querier,
                    a.window,
                    a.evidence.to_string(),
                    a.message,
                    i64::try_from(a.suppressed).unwrap_or(i64::MAX),
                    a.id,
                    serde_json::Value::from(a.entries.clone()).to_string(),
                    a.sensor,
                    a.window_start_us,
                ])?;
            }
        }
        tx.commit()?;
        self.seqs.seal(&self.conn);
        Ok(())
    }
}

/// State key of the prune record ([`Pruned`]).
const PRUNED_KEY: &str = "store.pruned";

/// What pruning removed so far (kept in the state table, so a report over
/// a pruned range can say why it is empty).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pruned {
    /// Wall-clock time of the last prune that deleted lookups (µs).
    pub at_us: i64,
    /// Lookups before this packet time (µs) were deleted.
    pub before_us: i64,
    /// Lookups deleted by all prunes.
    pub lookups: u64,
}

/// Adds a prune that deleted `n` lookups before `before_us` to the record.
fn record_prune(conn: &rusqlite::Connection, before_us: i64, n: usize) -> Result<(), StoreError> {
    if n == 0 {
        return Ok(());
    }
    let old: Option<Pruned> = conn
        .query_row(
            "SELECT value FROM detector_state WHERE key = ?",
            [PRUNED_KEY],
            |r| r.get::<_, String>(0),
        )
        .optional()?
        .and_then(|v| serde_json::from_str(&v).ok());
    let new = Pruned {
        at_us: crate::time::wall_clock_us(),
        before_us: old.map_or(before_us, |o| o.before_us.max(before_us)),
        lookups: old.map_or(0, |o| o.lookups) + n as u64,
    };
    conn.execute(
        "INSERT INTO detector_state (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![PRUNED_KEY, serde_json::to_string(&new)?],
    )?;
    Ok(())
}

/// First and last sighting and count of one summary key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    /// Earliest lookup (µs).
    pub first: i64,
    /// Latest lookup (µs).
    pub last: i64,
    /// Lookups.
    pub count: i64,
}

impl Seen {
    fn add(&mut self, ts: i64) {
        self.first = self.first.min(ts);
        self.last = self.last.max(ts);
        self.count += 1;
    }
}

/// The `querier_summary` and `name_summary` rows one batch adds, aggregated
/// in memory so each key costs one upsert per batch.
#[derive(Debug, Default)]
pub struct Summaries<'a> {
    /// (entry, querier address) → sightings.
    pub queriers: rustc_hash::FxHashMap<(&'a str, std::net::IpAddr), Seen>,
    /// (entry, qname) → sightings.
    pub names: rustc_hash::FxHashMap<(&'a str, &'a str), Seen>,
}

impl<'a> Summaries<'a> {
    /// Aggregates `lookups` (every entry each touches).
    pub fn of(lookups: &'a [Lookup]) -> Self {
        let mut s = Self::default();
        for l in lookups {
            let new = Seen {
                first: l.ts_us,
                last: l.ts_us,
                count: 0,
            };
            for e in l.entries() {
                s.queriers
                    .entry((e, l.querier.ip()))
                    .or_insert(new)
                    .add(l.ts_us);
                s.names
                    .entry((e, l.qname.as_str()))
                    .or_insert(new)
                    .add(l.ts_us);
            }
        }
        s
    }
}

impl SqliteStore {
    fn maintain(&mut self, batch: &Batch) -> Result<(), StoreError> {
        let base = || -> Result<i64, StoreError> { Ok(write::ts_base(&self.conn)?.unwrap_or(0)) };
        if let Some((before, fields)) = &batch.scrub_before {
            let before = before.saturating_sub(base()?);
            for (field, set, unset) in SCRUB_SQL {
                if fields.iter().any(|f| f == field) {
                    // Statements come from the fixed list, never from input.
                    self.conn.execute(
                        &format!("UPDATE lookups SET {set} WHERE ts_us < ?1 AND NOT ({unset})"),
                        [before],
                    )?;
                }
            }
        }
        if let Some(before) = batch.prune_before {
            let before_lookups = before.saturating_sub(base()?);
            // A bounded chunk per batch, so retention never holds the writer
            // (and through it the pipeline) for long.
            let n = self.conn.execute(
                "DELETE FROM lookups WHERE (ts_us, seq) IN
                 (SELECT ts_us, seq FROM lookups WHERE ts_us < ? ORDER BY ts_us LIMIT 20000)",
                [before_lookups],
            )?;
            record_prune(&self.conn, before, n)?;
            // Summaries too: a querier or name not seen within the horizon
            // is forgotten (and looks new when it comes back).
            for table in ["querier_summary", "name_summary"] {
                let key = if table == "querier_summary" {
                    "querier"
                } else {
                    "qname"
                };
                // Table and column names are the fixed ones above.
                self.conn.execute(
                    &format!(
                        "DELETE FROM {table} WHERE (entry, {key}) IN
                         (SELECT entry, {key} FROM {table} WHERE last_seen_us < ?1 LIMIT 20000)"
                    ),
                    [before],
                )?;
            }
            super::pdns::prune(&self.conn, before, Some(20_000))?;
        }
        Ok(())
    }
}

/// How each of [`super::SCRUBBABLE`] is cleared in the compact table:
/// (field, assignment, condition that it is already clear). The reset
/// values read back as the ones `SCRUBBABLE` names.
const SCRUB_SQL: &[(&str, &str, &str)] = &[
    ("ecs", "ecs = NULL", "ecs IS NULL"),
    ("querier_port", "querier_port = 0", "querier_port = 0"),
    ("server_port", "server_port = 0", "server_port = 0"),
    (
        "source",
        "src_file = NULL, source = ''",
        "src_file IS NULL AND source = ''",
    ),
    ("answers", "answers = NULL", "answers IS NULL"),
];

mod codec;
mod migrate;
mod read;
mod write;

pub use read::LookupFilter;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_compact;
