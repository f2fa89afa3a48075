//! Where lookups, counters and alerts go.
//!
//! [`Sink`] is the seam: the embedded default is SQLite ([`sqlite`]); a
//! ClickHouse sink for fleets of sensors implements the same trait. The
//! pipeline hands over [`Batch`]es; a sink writes each batch atomically, so a
//! crash loses at most the batch being written.

pub mod clickhouse;
pub mod pdns;
pub mod query;
pub mod sqlite;
pub mod writer;

use std::path::PathBuf;

use thiserror::Error;

use crate::model::HourRow;
use crate::model::{Alert, Lookup, Rrset};

/// Lookup fields that can be scrubbed after a while (`[privacy]
/// scrub_fields`), with the value they are reset to.
pub const SCRUBBABLE: &[(&str, &str)] = &[
    ("ecs", "NULL"),
    ("querier_port", "0"),
    ("server_port", "0"),
    ("source", "''"),
    ("answers", "'[]'"),
];

/// Store failures.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be opened or created.
    #[error("cannot open database {path}: {source}")]
    Open {
        /// Database path.
        path: PathBuf,
        /// Cause.
        source: rusqlite::Error,
    },
    /// The database was written by a newer dnswatch.
    #[error("database {path} has schema version {found}, newer than this dnswatch knows ({known}); upgrade dnswatch")]
    TooNew {
        /// Database path.
        path: PathBuf,
        /// Version in the file.
        found: i64,
        /// Newest version this binary knows.
        known: i64,
    },
    /// The database has an older lookups layout than this dnswatch reads,
    /// and was opened read-only (so it was not migrated).
    #[error("database {path} has schema version {found}; reading its lookups needs version {needed}: open it once with a command that writes (dnswatch replay, run or db prune) to migrate it")]
    TooOld {
        /// Database path.
        path: PathBuf,
        /// Version in the file.
        found: i64,
        /// Version the read needs.
        needed: i64,
    },
    /// The file is not a dnswatch database.
    #[error("{path} is not a dnswatch database: {reason}")]
    Foreign {
        /// Database path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The database file could not be created.
    #[error("cannot create database {path}: {source}")]
    Create {
        /// Database path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A statement failed.
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    /// Encoding a row failed.
    #[error("cannot encode row: {0}")]
    Encode(#[from] serde_json::Error),
    /// A stored row that does not decode (a damaged or hand-edited file).
    #[error("corrupt row {row} of table {table}: {reason}")]
    Corrupt {
        /// Table.
        table: &'static str,
        /// The row's key.
        row: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `dnswatch pdns` query that cannot be asked.
    #[error(transparent)]
    PdnsQuery(#[from] pdns::PdnsQueryError),
    /// The ClickHouse store failed (its spool, or at open the server).
    #[error(transparent)]
    ClickHouse(#[from] clickhouse::ChError),
    /// A group of batches given to a sink that writes one at a time (a
    /// writer bug: it asks [`Sink::max_group`] first).
    #[error("this store writes one batch at a time, not a group of {0}")]
    Group(usize),
}

impl StoreError {
    /// True for failures that go away by themselves: another process holds
    /// the write lock, or the disk is full. A batch that failed so is worth
    /// keeping and retrying; any other failure would fail again.
    pub fn is_transient(&self) -> bool {
        use rusqlite::ErrorCode;
        match self {
            Self::Sql(rusqlite::Error::SqliteFailure(f, _)) => matches!(
                f.code,
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::DiskFull
            ),
            // The spool could not be written (a full disk, say).
            Self::ClickHouse(clickhouse::ChError::Spool(_)) => true,
            _ => false,
        }
    }
}

/// What a sink writes at once.
#[derive(Debug, Default)]
pub struct Batch {
    /// Lookups of watched entries.
    pub lookups: Vec<Lookup>,
    /// Lookups nothing on the watch list touched (empty `entry`), present
    /// only with `storage.clickhouse.record = "all"`: the ClickHouse sink
    /// stores them, SQLite and the detectors never see them.
    pub unwatched: Vec<Lookup>,
    /// Hourly traffic counters (added to what is stored).
    pub hourly: Vec<HourRow>,
    /// Alerts raised.
    pub alerts: Vec<Alert>,
    /// Rrsets aggregated since the last batch (added to what is stored:
    /// min first seen, max last seen, sum of counts).
    pub rrsets: Vec<Rrset>,
    /// Delete (a bounded chunk of) lookups older than this (µs), after the batch.
    pub prune_before: Option<i64>,
    /// Clear these fields of lookups older than this (µs), after the batch.
    pub scrub_before: Option<(i64, Vec<String>)>,
}

impl Batch {
    /// Approximate heap and inline size (for the writer's memory cap).
    pub fn approx_bytes(&self) -> usize {
        let lookups: usize = self
            .lookups
            .iter()
            .chain(&self.unwatched)
            .map(|l| {
                std::mem::size_of::<Lookup>()
                    + l.entry.len()
                    + l.also.iter().map(|a| a.len() + 24).sum::<usize>()
                    + l.transport.len()
                    + l.qname.len()
                    + l.qtype.len()
                    + l.qclass.len()
                    + l.flags.len()
                    + l.rcode.as_ref().map_or(0, String::len)
                    + l.answers
                        .iter()
                        .map(|a| {
                            std::mem::size_of_val(a) + a.name.len() + a.rtype.len() + a.data.len()
                        })
                        .sum::<usize>()
                    + l.ecs.as_ref().map_or(0, String::len)
                    + l.source.len()
            })
            .sum();
        let hourly: usize = self
            .hourly
            .iter()
            .map(|h| std::mem::size_of::<HourRow>() + h.metric.len())
            .sum();
        let alerts: usize = self
            .alerts
            .iter()
            .map(|a| std::mem::size_of::<Alert>() + a.message.len() + a.evidence.to_string().len())
            .sum();
        let rrsets: usize = self
            .rrsets
            .iter()
            .map(|r| {
                std::mem::size_of::<Rrset>()
                    + r.rrname.len()
                    + r.rrtype.len()
                    + r.rdata.len()
                    + r.bailiwick.len()
                    + r.sensor.len()
            })
            .sum();
        std::mem::size_of::<Self>() + lookups + hourly + alerts + rrsets
    }

    /// Lookups in the batch (watched and unwatched).
    pub fn lookup_count(&self) -> usize {
        self.lookups.len() + self.unwatched.len()
    }

    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.lookups.is_empty()
            && self.unwatched.is_empty()
            && self.hourly.is_empty()
            && self.alerts.is_empty()
            && self.rrsets.is_empty()
            && self.prune_before.is_none()
            && self.scrub_before.is_none()
    }
}

/// A destination for batches.
pub trait Sink: Send {
    /// Writes one batch atomically. An error means nothing of the batch was
    /// written (so it may be retried).
    fn write(&mut self, batch: &Batch) -> Result<(), StoreError>;

    /// Most batches [`Sink::write_group`] takes at once (1: no grouping).
    fn max_group(&self) -> usize {
        1
    }

    /// Writes several consecutive batches atomically, as one (group
    /// commit: the writer passes the batches that queued up, at most
    /// [`Sink::max_group`] and only the last may ask for retention or
    /// scrubbing). An error means none was written.
    fn write_group(&mut self, batches: &[&Batch]) -> Result<(), StoreError> {
        match batches {
            [one] => self.write(one),
            _ => Err(StoreError::Group(batches.len())),
        }
    }

    /// How long one write waits for a lock held by someone else before it
    /// fails (the daemon's writer waits briefly and retries itself).
    fn set_lock_wait(&mut self, _wait: std::time::Duration) {}

    /// What earlier runs left for the detectors: queriers and names seen,
    /// and the last `history_days` of hourly lookups per entry. A sink that
    /// cannot read back returns nothing (the detectors learn afresh).
    fn preload(&self, _history_days: i64) -> Result<crate::model::Preload, StoreError> {
        Ok(crate::model::Preload::default())
    }

    /// Called once after the last batch: a sink that sends in the
    /// background finishes (or says what it could not finish).
    fn close(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Several sinks fed the same batches (SQLite and ClickHouse at once).
///
/// A batch that fails in one sink after another took it is retried by the
/// writer; the sinks that already have it are skipped on that retry (the
/// batch is recognised by its size and first and last lookups), so no sink
/// gets it twice.
pub struct Tee {
    sinks: Vec<Box<dyn Sink>>,
    /// The batch being retried and which sinks already wrote it.
    retry: Option<(BatchKey, Vec<bool>)>,
}

impl std::fmt::Debug for Tee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tee")
            .field("sinks", &self.sinks.len())
            .finish()
    }
}

type BatchKey = (
    usize,
    usize,
    usize,
    usize,
    usize,
    Option<(i64, String)>,
    Option<(i64, String)>,
);

fn batch_key(b: &Batch) -> BatchKey {
    let end = |l: Option<&Lookup>| l.map(|l| (l.ts_us, l.source.clone()));
    (
        b.lookups.len(),
        b.unwatched.len(),
        b.hourly.len(),
        b.alerts.len(),
        b.rrsets.len(),
        end(b.lookups.first()),
        end(b.lookups.last()),
    )
}

impl Tee {
    /// Feeds `sinks` in order.
    pub fn new(sinks: Vec<Box<dyn Sink>>) -> Self {
        Self { sinks, retry: None }
    }
}

impl Sink for Tee {
    fn write(&mut self, batch: &Batch) -> Result<(), StoreError> {
        let key = batch_key(batch);
        let mut done = match self.retry.take() {
            Some((k, done)) if k == key => done,
            _ => vec![false; self.sinks.len()],
        };
        for (i, sink) in self.sinks.iter_mut().enumerate() {
            if done[i] {
                continue;
            }
            if let Err(e) = sink.write(batch) {
                self.retry = Some((key, done));
                return Err(e);
            }
            done[i] = true;
        }
        Ok(())
    }

    fn set_lock_wait(&mut self, wait: std::time::Duration) {
        for s in &mut self.sinks {
            s.set_lock_wait(wait);
        }
    }

    fn preload(&self, history_days: i64) -> Result<crate::model::Preload, StoreError> {
        match self.sinks.first() {
            Some(s) => s.preload(history_days),
            None => Ok(crate::model::Preload::default()),
        }
    }

    fn close(&mut self) -> Result<(), StoreError> {
        let mut first = Ok(());
        for s in &mut self.sinks {
            if let Err(e) = s.close() {
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }
}

#[cfg(test)]
mod tee_tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Counts writes; fails the first `fail` of them.
    struct Counting {
        writes: Arc<Mutex<u32>>,
        fail: u32,
    }

    impl Sink for Counting {
        fn write(&mut self, _batch: &Batch) -> Result<(), StoreError> {
            if self.fail > 0 {
                self.fail -= 1;
                return Err(StoreError::Foreign {
                    path: PathBuf::from("x"),
                    reason: "test".into(),
                });
            }
            *self.writes.lock().unwrap() += 1;
            Ok(())
        }
    }

    #[test]
    fn a_retried_batch_reaches_each_sink_once() {
        let (a, b) = (Arc::new(Mutex::new(0)), Arc::new(Mutex::new(0)));
        let mut tee = Tee::new(vec![
            Box::new(Counting {
                writes: a.clone(),
                fail: 0,
            }),
            Box::new(Counting {
                writes: b.clone(),
                fail: 1,
            }),
        ]);
        let batch = Batch {
            hourly: vec![crate::model::HourRow {
                hour_us: 0,
                metric: "packets".into(),
                value: 1,
            }],
            ..Batch::default()
        };
        assert!(tee.write(&batch).is_err());
        tee.write(&batch).unwrap();
        assert_eq!((*a.lock().unwrap(), *b.lock().unwrap()), (1, 1));
        // A different batch goes to both.
        tee.write(&Batch::default()).unwrap();
        assert_eq!((*a.lock().unwrap(), *b.lock().unwrap()), (2, 2));
    }
}
