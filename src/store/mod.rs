//! Where lookups, counters and alerts go.
//!
//! [`Sink`] is the seam: the embedded default is SQLite ([`sqlite`]); a
//! ClickHouse sink for fleets of sensors implements the same trait. The
//! pipeline hands over [`Batch`]es; a sink writes each batch atomically, so a
//! crash loses at most the batch being written.

pub mod sqlite;

use std::path::PathBuf;

use thiserror::Error;

use crate::alert::Alert;
use crate::lookup::Lookup;
use crate::pipeline::HourRow;

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
    /// A statement failed.
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    /// Encoding a row failed.
    #[error("cannot encode row: {0}")]
    Encode(#[from] serde_json::Error),
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
    /// Writes one batch atomically.
    fn write(&mut self, batch: &Batch) -> Result<(), StoreError>;
}
