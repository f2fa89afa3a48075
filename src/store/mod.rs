//! Where lookups, counters and alerts go.
//!
//! [`Sink`] is the seam: the embedded default is SQLite ([`sqlite`]); a
//! ClickHouse sink for fleets of sensors implements the same trait. The
//! pipeline hands over [`Batch`]es; a sink writes each batch atomically, so a
//! crash loses at most the batch being written.

pub mod sqlite;
pub mod writer;

use std::path::PathBuf;

use thiserror::Error;

use crate::model::HourRow;
use crate::model::{Alert, Lookup};

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
            _ => false,
        }
    }
}

/// What a sink writes at once.
#[derive(Debug, Default)]
pub struct Batch {
    /// Lookups of watched entries.
    pub lookups: Vec<Lookup>,
    /// Hourly traffic counters (added to what is stored).
    pub hourly: Vec<HourRow>,
    /// Alerts raised.
    pub alerts: Vec<Alert>,
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
        std::mem::size_of::<Self>() + lookups + hourly + alerts
    }

    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.lookups.is_empty()
            && self.hourly.is_empty()
            && self.alerts.is_empty()
            && self.prune_before.is_none()
            && self.scrub_before.is_none()
    }
}

/// A destination for batches.
pub trait Sink: Send {
    /// Writes one batch atomically. An error means nothing of the batch was
    /// written (so it may be retried).
    fn write(&mut self, batch: &Batch) -> Result<(), StoreError>;

    /// How long one write waits for a lock held by someone else before it
    /// fails (the daemon's writer waits briefly and retries itself).
    fn set_lock_wait(&mut self, _wait: std::time::Duration) {}

    /// What earlier runs left for the detectors: queriers and names seen,
    /// and the last `history_days` of hourly lookups per entry. A sink that
    /// cannot read back returns nothing (the detectors learn afresh).
    fn preload(&self, _history_days: i64) -> Result<crate::model::Preload, StoreError> {
        Ok(crate::model::Preload::default())
    }
}
