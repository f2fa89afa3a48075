//! The ClickHouse store for fleets of sensors.
//!
//! ```text
//! writer thread ── write(batch) ──► spool (fsync'd file per batch) ──► shipper thread ──► ClickHouse (HTTP, RowBinary)
//! ```
//!
//! * [`ClickHouseSink::write`] encodes a batch into RowBinary parts (one per
//!   table and day), appends them to the on-disk [`spool`] and returns: the
//!   capture never waits on the network. A full spool (`spool_max_mb`) drops
//!   the batch, counts it, logs an error and adds a `clickhouse_spool_full`
//!   alert to the next batch that fits.
//! * The shipper thread sends spooled batches oldest first, coalescing
//!   consecutive ones up to `batch_rows` rows (or what arrived within
//!   `flush_interval_ms`), one `INSERT ... FORMAT RowBinary` per table and
//!   day, and deletes a batch from the spool only after the server
//!   confirmed every part of it. A `kill -9` loses nothing spooled.
//! * **No duplicates on retry.** Every row carries the random 64-bit id of
//!   its batch (`batch_id`). An insert into one partition with fewer rows
//!   than `max_insert_block_size` is one part on the server, so it is
//!   applied whole or not at all. A batch that was sent before without a
//!   confirmation (a failure, a timeout, or any batch found in the spool at
//!   start, which may have been in flight at a crash) is first checked: while
//!   an insert of this sensor still runs on the server (`system.processes`,
//!   by query id) the shipper waits; then it counts the rows of that batch id
//!   in each (table, day) and sends only the parts that are absent.
//!   ClickHouse 18.16 has no insert deduplication for plain MergeTree, so
//!   this check is ours; it costs one small query per part, and only on retries.

pub mod client;
mod encode;
pub mod read;
pub mod rowbinary;
pub mod schema;
mod shipper;
pub mod spool;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use thiserror::Error;

use self::client::{Client, Endpoint};
use self::schema::{migrate, quote_ident, quote_str, TableDef, TABLES};
use self::shipper::Shipper;
use self::spool::{Entry, Record, Spool, SpoolError};
use super::{Batch, Sink, StoreError};
use crate::model::{Alert, Severity};

/// ClickHouse failures; each names the server URL (or the spool file).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ChError {
    /// No connection, or it broke (wrong host or port, server down, timeout).
    #[error("ClickHouse at {url}: {message}")]
    Connect {
        /// Server.
        url: String,
        /// Cause.
        message: String,
    },
    /// The server refused a statement.
    #[error("ClickHouse at {url} answered HTTP {status}: {message}")]
    Server {
        /// Server.
        url: String,
        /// HTTP status.
        status: u16,
        /// ClickHouse exception code.
        code: Option<u32>,
        /// The server's text.
        message: String,
    },
    /// An answer that makes no sense.
    #[error("ClickHouse at {url}: unexpected answer: {message}")]
    Protocol {
        /// Server.
        url: String,
        /// What.
        message: String,
    },
    /// Bad settings (TLS files, URL).
    #[error("ClickHouse settings: {0}")]
    Config(String),
    /// The database holds a newer dnswatch schema.
    #[error("ClickHouse at {url}: database {database} has dnswatch schema version {found}, newer than this dnswatch knows ({known}); upgrade dnswatch")]
    TooNew {
        /// Server.
        url: String,
        /// Database.
        database: String,
        /// Version found.
        found: u32,
        /// Version known.
        known: u32,
    },
    /// A table does not have the columns dnswatch writes.
    #[error("ClickHouse at {url}: table {table} does not match the dnswatch schema: {message}")]
    Schema {
        /// Server.
        url: String,
        /// Table.
        table: String,
        /// What differs.
        message: String,
    },
    /// The spool failed.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// Batches are still in the spool at the end of a run.
    #[error("{batches} batches ({lookups} lookups) could not be sent to ClickHouse at {url} in time and stay in the spool {dir}; the next dnswatch using that spool sends them (last error: {last_error})")]
    NotDrained {
        /// Server.
        url: String,
        /// Batches left.
        batches: usize,
        /// Lookups in them (as far as known).
        lookups: u64,
        /// Spool directory.
        dir: PathBuf,
        /// The last failure.
        last_error: String,
    },
}

/// Everything the sink needs (built from `[storage.clickhouse]` and the
/// command line).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Server and credentials.
    pub endpoint: Endpoint,
    /// Database (created if missing).
    pub database: String,
    /// Prefix of every table name.
    pub table_prefix: String,
    /// Sensor name written on every row.
    pub sensor: String,
    /// Rows per insert at most (consecutive spooled batches are coalesced).
    pub batch_rows: usize,
    /// How long the shipper waits for more rows before sending fewer.
    pub flush_interval: Duration,
    /// Spool directory.
    pub spool_dir: PathBuf,
    /// Spool size cap.
    pub spool_max_bytes: u64,
    /// Cluster for `Distributed` tables `<table>_all` (none when empty).
    pub cluster: String,
    /// How long [`Sink::close`] waits for the spool to drain.
    pub drain_timeout: Duration,
    /// `storage.retention_days` (the `TTL` of the retained tables on
    /// servers that have one; 0: none).
    pub retention_days: u32,
    /// Fail at open when the server refuses us (authentication, a table
    /// of another schema, a newer schema; replay) instead of spooling until
    /// it is fixed (daemon). A server that cannot be reached is spooled
    /// for either way.
    pub require_server: bool,
}

impl Settings {
    /// Defaults for `url` (database `dnswatch`, user `default`, 50,000
    /// rows per insert, 1 s flush interval, 1 GiB spool in `spool_dir`).
    pub fn new(url: &str, sensor: &str, spool_dir: PathBuf) -> Self {
        Self {
            endpoint: Endpoint {
                url: url.to_string(),
                user: "default".into(),
                password: String::new(),
                tls: client::Tls::default(),
                timeout: Duration::from_secs(30),
            },
            database: "dnswatch".into(),
            table_prefix: String::new(),
            sensor: sensor.to_string(),
            batch_rows: 50_000,
            flush_interval: Duration::from_millis(1000),
            spool_dir,
            spool_max_bytes: 1 << 30,
            cluster: String::new(),
            drain_timeout: Duration::from_secs(60),
            retention_days: 0,
            require_server: true,
        }
    }

    fn table(&self, t: &TableDef) -> String {
        format!(
            "{}.{}",
            quote_ident(&self.database),
            quote_ident(&format!("{}{}", self.table_prefix, t.name))
        )
    }
}

/// The host name (the default sensor name).
pub fn host_name() -> String {
    let u = rustix::system::uname();
    let n = u.nodename().to_string_lossy().into_owned();
    if n.is_empty() {
        "localhost".into()
    } else {
        n
    }
}

/// The spool of a run without a database (`replay --no-db`):
/// `$XDG_STATE_HOME/dnswatch/clickhouse-spool`, else
/// `$HOME/.local/state/dnswatch/clickhouse-spool`; `None` without either.
pub fn state_spool_dir() -> Option<PathBuf> {
    let abs = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    let state = std::env::var_os("XDG_STATE_HOME")
        .and_then(abs)
        .or_else(|| {
            std::env::var_os("HOME")
                .and_then(abs)
                .map(|h| h.join(".local/state"))
        })?;
    Some(state.join("dnswatch").join("clickhouse-spool"))
}

/// Counters of the sink (for metrics and `db stats`).
#[derive(Debug, Default)]
pub struct Stats {
    /// Rows the server confirmed (all tables).
    pub rows_sent: AtomicU64,
    /// Lookups the server confirmed.
    pub lookups_sent: AtomicU64,
    /// Spooled batches confirmed and removed.
    pub batches_sent: AtomicU64,
    /// INSERT statements that succeeded.
    pub inserts: AtomicU64,
    /// Sum of their latencies (µs).
    pub insert_us_total: AtomicU64,
    /// Failed attempts (connection, server errors).
    pub failures: AtomicU64,
    /// Bytes in the spool now.
    pub spool_bytes: AtomicU64,
    /// Batches in the spool now.
    pub spool_batches: AtomicU64,
    /// Batches dropped because the spool was full.
    pub dropped_batches: AtomicU64,
    /// Lookups in them.
    pub dropped_lookups: AtomicU64,
    /// Damaged spool records set aside.
    pub corrupt_records: AtomicU64,
    /// Parts found already on the server at a retry (not sent again).
    pub parts_already_present: AtomicU64,
    /// Lookups spooled although older than `storage.retention_days` (by
    /// the wall clock): the server's retention deletes them, a `TTL` on
    /// insert (see [`ClickHouseSink::write`]).
    pub expired_lookups: AtomicU64,
}

impl Stats {
    /// The counters as Prometheus text (gauges: spool bytes and batches).
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        for (name, help, v) in self.metrics() {
            let kind = if name.ends_with("_total") {
                "counter"
            } else {
                "gauge"
            };
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
            ));
        }
        out
    }

    /// (metric name, help, value) for the Prometheus page.
    pub fn metrics(&self) -> Vec<(&'static str, &'static str, f64)> {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
        vec![
            (
                "dnswatch_clickhouse_rows_sent_total",
                "Rows ClickHouse confirmed.",
                g(&self.rows_sent),
            ),
            (
                "dnswatch_clickhouse_lookups_sent_total",
                "Lookups ClickHouse confirmed.",
                g(&self.lookups_sent),
            ),
            (
                "dnswatch_clickhouse_batches_sent_total",
                "Spooled batches confirmed and removed.",
                g(&self.batches_sent),
            ),
            (
                "dnswatch_clickhouse_inserts_total",
                "INSERT statements that succeeded.",
                g(&self.inserts),
            ),
            (
                "dnswatch_clickhouse_insert_seconds_total",
                "Time spent in inserts ClickHouse confirmed, in seconds.",
                g(&self.insert_us_total) / 1e6,
            ),
            (
                "dnswatch_clickhouse_failures_total",
                "Failed send attempts.",
                g(&self.failures),
            ),
            (
                "dnswatch_clickhouse_spool_bytes",
                "Bytes in the spool.",
                g(&self.spool_bytes),
            ),
            (
                "dnswatch_clickhouse_spool_batches",
                "Batches in the spool.",
                g(&self.spool_batches),
            ),
            (
                "dnswatch_clickhouse_dropped_batches_total",
                "Batches dropped because the spool was full.",
                g(&self.dropped_batches),
            ),
            (
                "dnswatch_clickhouse_dropped_lookups_total",
                "Lookups dropped because the spool was full.",
                g(&self.dropped_lookups),
            ),
            (
                "dnswatch_clickhouse_expired_lookups_total",
                "Lookups sent although older than storage.retention_days: the server's retention deletes them.",
                g(&self.expired_lookups),
            ),
            (
                "dnswatch_clickhouse_corrupt_records_total",
                "Damaged spool records set aside.",
                g(&self.corrupt_records),
            ),
            (
                "dnswatch_clickhouse_parts_already_present_total",
                "Parts found on the server at a retry and not sent again.",
                g(&self.parts_already_present),
            ),
        ]
    }
}

/// Longest the daemon waits at shutdown for the spool to drain.
pub const DAEMON_DRAIN: Duration = Duration::from_secs(5);

/// The sink to hand the writer: `primary` (SQLite) alone, or with
/// `settings`, SQLite and ClickHouse at once (a [`super::Tee`]); the
/// ClickHouse counters come back for the metrics.
pub fn with_primary(
    settings: Option<Settings>,
    primary: Box<dyn Sink>,
    require_server: bool,
) -> Result<(Box<dyn Sink>, Option<StatsHandle>), ChError> {
    let Some(settings) = settings else {
        return Ok((primary, None));
    };
    // The daemon does not hold up its shutdown for a server that is away
    // (what is spooled stays for the next start); replay waits the whole
    // drain_timeout.
    let drain_timeout = if require_server {
        settings.drain_timeout
    } else {
        settings.drain_timeout.min(DAEMON_DRAIN)
    };
    let ch = ClickHouseSink::open(Settings {
        require_server,
        drain_timeout,
        ..settings
    })?;
    let stats = ch.stats_handle();
    Ok((
        Box::new(super::Tee::new(vec![primary, Box::new(ch)])),
        Some(stats),
    ))
}

/// Connects, creates the database and migrates the schema; checks that
/// every table has the columns dnswatch writes.
pub fn prepare(settings: &Settings) -> Result<Client, ChError> {
    let c = Client::new(&settings.endpoint)?;
    migrate(&c, settings)?;
    Ok(c)
}

/// A spooled batch in the shipper's queue.
#[derive(Debug)]
struct Queued {
    entry: Entry,
    /// Never sent: no need to check the server for its rows.
    fresh: bool,
    since: Instant,
}

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<Queued>,
    bytes: u64,
    /// Stop after the queue is empty or at `deadline`.
    stop: bool,
    deadline: Option<Instant>,
    /// Drop whole days before this (µs), when the server is reachable.
    prune_before: Option<i64>,
    last_error: Option<String>,
}

#[derive(Debug, Default)]
struct Shared {
    q: Mutex<Queue>,
    cv: Condvar,
    stats: Stats,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.q.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Stats {
    /// Sets the spool gauges from the queue (called with its lock held).
    fn publish_spool(&self, q: &Queue) {
        self.spool_bytes.store(q.bytes, Ordering::Relaxed);
        self.spool_batches
            .store(q.items.len() as u64, Ordering::Relaxed);
    }
}

/// Handle to the sink's counters, usable after the sink moved into the writer.
#[derive(Clone, Debug)]
pub struct StatsHandle(Arc<Shared>);

impl StatsHandle {
    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.0.stats
    }
}

/// The ClickHouse sink (see the module documentation).
#[derive(Debug)]
pub struct ClickHouseSink {
    settings: Settings,
    spool: Spool,
    shared: Arc<Shared>,
    shipper: Option<JoinHandle<()>>,
    ids: std::collections::hash_map::RandomState,
    counter: u64,
    /// Batches dropped since the last `clickhouse_spool_full` alert was spooled.
    dropped_unreported: u64,
    dropped_since_us: i64,
    /// Whether the lookups-older-than-retention warning was logged.
    warned_expired: bool,
    /// RowBinary and record buffers, reused from batch to batch.
    encoder: encode::Encoder,
}

impl ClickHouseSink {
    /// Opens the spool (sending what an earlier run left in it), checks the
    /// server when `settings.require_server`, and starts the shipper.
    pub fn open(settings: Settings) -> Result<Self, ChError> {
        let client = Client::new(&settings.endpoint)?;
        // A server that answers but refuses us (authentication, schema)
        // would refuse every batch: say so now. One that cannot be reached
        // may come back: spool meanwhile.
        let ready = if settings.require_server {
            match migrate(&client, &settings) {
                Ok(()) => true,
                Err(e @ ChError::Connect { .. }) => {
                    tracing::warn!("{e}; spooling until it answers");
                    false
                }
                Err(e) => return Err(e),
            }
        } else {
            false
        };
        let (spool, found) = Spool::open(&settings.spool_dir)?;
        tracing::info!(
            url = %settings.endpoint.url,
            spool = %settings.spool_dir.display(),
            "ClickHouse batches are spooled in {} until the server has them",
            settings.spool_dir.display()
        );
        let shared = Arc::new(Shared::default());
        {
            let mut q = shared.lock();
            for e in &found.entries {
                q.bytes += e.bytes;
                q.items.push_back(Queued {
                    entry: *e,
                    fresh: false,
                    since: Instant::now(),
                });
            }
            shared.stats.publish_spool(&q);
        }
        if !found.entries.is_empty() {
            tracing::info!(
                batches = found.entries.len(),
                spool = %settings.spool_dir.display(),
                "sending batches an earlier run left in the ClickHouse spool"
            );
        }
        let shipper = Shipper {
            settings: settings.clone(),
            client,
            shared: shared.clone(),
            ready,
            failing: false,
        };
        let handle = std::thread::Builder::new()
            .name("dnswatch-clickhouse".into())
            .spawn(move || shipper.run())
            .map_err(|e| ChError::Config(format!("cannot start the shipper thread: {e}")))?;
        Ok(Self {
            settings,
            spool,
            shared,
            shipper: Some(handle),
            ids: std::collections::hash_map::RandomState::new(),
            counter: 0,
            dropped_unreported: 0,
            dropped_since_us: 0,
            warned_expired: false,
            encoder: encode::Encoder::default(),
        })
    }

    /// Counters, shared with the shipper.
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle(self.shared.clone())
    }

    fn batch_id(&mut self) -> u64 {
        self.counter += 1;
        let mut h = self.ids.build_hasher();
        h.write_u64(self.counter);
        h.write_u32(std::process::id());
        h.write_i64(now_us());
        h.finish()
    }

    /// Encodes a batch into parts by (table, day) (tests: the record the
    /// sink would spool).
    #[cfg(test)]
    fn encode(&mut self, batch: &Batch, batch_id: u64, extra_alerts: &[Alert]) -> Record {
        let sensor = self.settings.sensor.clone();
        let payload = self.encoder.encode(batch, batch_id, &sensor, extra_alerts);
        Record::decode(payload).unwrap_or_else(|(at, why)| panic!("{why} at {at}"))
    }

    /// Counts (and says once) the lookups of `batch` that are older than
    /// `storage.retention_days` by the wall clock. The server does not keep
    /// them: a server with table `TTL` (19.6 on) deletes expired rows as
    /// it inserts them, and the daemon's retention drops their day
    /// partitions on any server. This happens when old captures are
    /// replayed with a config that has a retention; SQLite keeps them in
    /// `replay` (only the daemon prunes), so the two stores would differ
    /// without a word.
    fn count_expired(&mut self, batch: &Batch) {
        if self.settings.retention_days == 0 {
            return;
        }
        let Some(horizon) =
            crate::time::days_before(crate::time::wall_clock_us(), self.settings.retention_days)
        else {
            return;
        };
        let expired = batch
            .lookups
            .iter()
            .chain(&batch.unwatched)
            .filter(|l| l.ts_us < horizon)
            .count() as u64;
        if expired == 0 {
            return;
        }
        self.shared
            .stats
            .expired_lookups
            .fetch_add(expired, Ordering::Relaxed);
        if !self.warned_expired {
            self.warned_expired = true;
            tracing::warn!(
                url = %self.settings.endpoint.url,
                retention_days = self.settings.retention_days,
                horizon = %crate::time::rfc3339(horizon),
                "lookups older than storage.retention_days go to ClickHouse, which deletes them (table TTL, day-partition retention); set storage.retention_days = 0 in the config to keep old captures (dnswatch_clickhouse_expired_lookups_total)"
            );
        }
    }

    fn spool_full_alert(&self, ts_us: i64) -> Alert {
        let mut a = Alert {
            id: String::new(),
            ts_us,
            kind: "clickhouse_spool_full".into(),
            severity: Severity::Critical,
            entry: String::new(),
            entries: Vec::new(),
            name: String::new(),
            querier: None,
            window: String::new(),
            window_start_us: Some(self.dropped_since_us),
            sensor: self.settings.sensor.clone(),
            evidence: serde_json::json!({
                "dropped_batches": self.dropped_unreported,
                "since_us": self.dropped_since_us,
                "since_time": crate::time::rfc3339(self.dropped_since_us),
                "spool_max_bytes": self.settings.spool_max_bytes,
                "spool_dir": self.settings.spool_dir.display().to_string(),
            }),
            message: format!(
                "the ClickHouse spool {} was full: {} batches were dropped",
                self.settings.spool_dir.display(),
                self.dropped_unreported
            ),
            suppressed: 0,
        };
        a.id = format!("{:016x}", {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            h.write(a.kind.as_bytes());
            h.write_i64(ts_us);
            h.finish()
        });
        a
    }
}

impl Sink for ClickHouseSink {
    fn write(&mut self, batch: &Batch) -> Result<(), StoreError> {
        if let Some(before) = batch.prune_before {
            self.shared.lock().prune_before = Some(before);
        }
        if batch.lookups.is_empty()
            && batch.unwatched.is_empty()
            && batch.hourly.is_empty()
            && batch.alerts.is_empty()
            && batch.rrsets.is_empty()
        {
            return Ok(());
        }
        let ts = batch
            .lookups
            .first()
            .or(batch.unwatched.first())
            .map(|l| l.ts_us)
            .or_else(|| batch.hourly.first().map(|h| h.hour_us))
            .or_else(|| batch.alerts.first().map(|a| a.ts_us))
            .unwrap_or(0);
        self.count_expired(batch);
        let extra = if self.dropped_unreported > 0 {
            vec![self.spool_full_alert(ts)]
        } else {
            Vec::new()
        };
        let id = self.batch_id();
        let payload = self
            .encoder
            .encode(batch, id, &self.settings.sensor, &extra);
        let size = payload.len() as u64 + 16;
        let used = self.shared.lock().bytes;
        if used + size > self.settings.spool_max_bytes {
            let s = &self.shared.stats;
            s.dropped_batches.fetch_add(1, Ordering::Relaxed);
            s.dropped_lookups
                .fetch_add(batch.lookup_count() as u64, Ordering::Relaxed);
            if self.dropped_unreported == 0 {
                self.dropped_since_us = ts;
                tracing::error!(
                    spool = %self.settings.spool_dir.display(),
                    bytes = used,
                    "the ClickHouse spool is full (storage.clickhouse.spool_max_mb): dropping batches (dnswatch_clickhouse_dropped_lookups_total)"
                );
            }
            self.dropped_unreported += 1;
            return Ok(());
        }
        let entry = self
            .spool
            .append(payload)
            .map_err(|e| StoreError::ClickHouse(e.into()))?;
        if !extra.is_empty() {
            tracing::warn!(
                dropped = self.dropped_unreported,
                "the ClickHouse spool has room again"
            );
            self.dropped_unreported = 0;
        }
        let mut q = self.shared.lock();
        q.bytes += entry.bytes;
        q.items.push_back(Queued {
            entry,
            fresh: true,
            since: Instant::now(),
        });
        self.shared.stats.publish_spool(&q);
        drop(q);
        self.shared.cv.notify_all();
        Ok(())
    }

    fn close(&mut self) -> Result<(), StoreError> {
        {
            let mut q = self.shared.lock();
            q.stop = true;
            q.deadline = Some(Instant::now() + self.settings.drain_timeout);
        }
        self.shared.cv.notify_all();
        if let Some(h) = self.shipper.take() {
            if h.join().is_err() {
                return Err(StoreError::ClickHouse(ChError::Config(
                    "the ClickHouse shipper thread panicked".into(),
                )));
            }
        }
        let st = &self.shared.stats;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        tracing::info!(
            url = %self.settings.endpoint.url,
            rows = g(&st.rows_sent),
            lookups = g(&st.lookups_sent),
            batches = g(&st.batches_sent),
            inserts = g(&st.inserts),
            insert_s = g(&st.insert_us_total) as f64 / 1e6,
            failures = g(&st.failures),
            expired = g(&st.expired_lookups),
            "ClickHouse delivery"
        );
        let q = self.shared.lock();
        if q.items.is_empty() {
            return Ok(());
        }
        let lookups = q
            .items
            .iter()
            .filter_map(|i| spool::read(self.spool.dir(), i.entry.seq).ok())
            .map(|r| r.lookups())
            .sum();
        Err(StoreError::ClickHouse(ChError::NotDrained {
            url: self.settings.endpoint.url.clone(),
            batches: q.items.len(),
            lookups,
            dir: self.settings.spool_dir.clone(),
            last_error: q.last_error.clone().unwrap_or_else(|| "none".into()),
        }))
    }
}

impl Drop for ClickHouseSink {
    fn drop(&mut self) {
        if self.shipper.is_some() {
            if let Err(e) = self.close() {
                tracing::warn!("{e}");
            }
        }
    }
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests;
