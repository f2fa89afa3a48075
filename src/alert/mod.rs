//! Where alerts go besides the store: the alert sinks.
//!
//! Every alert is committed to the store with the lookups of its batch (so
//! the database is the complete record); an [`AlertSink`] is a further
//! destination an operator tails or ships: the JSON-lines log
//! ([`jsonl::AlertLog`]) and the process log ([`TracingSink`]).

pub mod jsonl;

pub use jsonl::{AlertLog, AlertLogStats};

use std::path::PathBuf;

use crate::model::Alert;

/// What an alert sink could not do. Alerts are always in the database as
/// well; these errors say what is missing from the sink's own output.
#[derive(Debug, thiserror::Error)]
pub enum AlertSinkError {
    /// The output file could not be reopened (SIGHUP after a rotation).
    #[error("reopening alert log {}: {source}", path.display())]
    Reopen {
        /// The alert log.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// At the end of the run, queued alerts could not be written.
    #[error("alert log {}: {pending} alerts could not be written ({source}); {dropped} were dropped from the log earlier; all alerts are in the database", path.display())]
    Unwritten {
        /// The alert log.
        path: PathBuf,
        /// Alerts still queued.
        pending: u64,
        /// Alerts dropped earlier while the log failed.
        dropped: u64,
        /// Why the last write failed.
        source: std::io::Error,
    },
    /// Alerts were dropped from the log while it failed.
    #[error("alert log {}: {dropped} alerts were dropped from the log while it failed; all alerts are in the database", path.display())]
    Dropped {
        /// The alert log.
        path: PathBuf,
        /// How many.
        dropped: u64,
    },
}

/// A destination for alerts besides the store. A sink never blocks the
/// store: it keeps what it could not write for a later retry, or drops and
/// counts it.
pub trait AlertSink: Send + std::fmt::Debug {
    /// Writes (or queues) these alerts.
    fn emit(&mut self, alerts: &[Alert]);
    /// Retries what failed earlier (called on every tick).
    fn retry(&mut self) {}
    /// Reopens output files (SIGHUP, for logrotate).
    fn reopen(&mut self) -> Result<(), AlertSinkError> {
        Ok(())
    }
    /// Counters for metrics (`None` when the sink keeps none).
    fn stats(&self) -> Option<AlertLogStats> {
        None
    }
    /// End of run: writes what is queued; an error says what was lost.
    fn finish(&mut self) -> Result<(), AlertSinkError> {
        Ok(())
    }
}

/// Alerts as `warn` lines in the process log (journald, stderr).
#[derive(Debug, Default)]
pub struct TracingSink;

impl AlertSink for TracingSink {
    fn emit(&mut self, alerts: &[Alert]) {
        for a in alerts {
            tracing::warn!(target: "alert", kind = %a.kind, entry = %a.entry, querier = a.querier.as_deref().unwrap_or("-"), "{}", a.message);
        }
    }
}

impl AlertSink for AlertLog {
    fn emit(&mut self, alerts: &[Alert]) {
        // A failure is logged once and counted by the log itself; the lines
        // wait for a retry.
        let _ = self.write(alerts);
    }

    fn retry(&mut self) {
        let _ = AlertLog::retry(self);
    }

    fn reopen(&mut self) -> Result<(), AlertSinkError> {
        AlertLog::reopen(self).map_err(|source| AlertSinkError::Reopen {
            path: self.path().to_path_buf(),
            source,
        })
    }

    fn stats(&self) -> Option<AlertLogStats> {
        Some(AlertLog::stats(self))
    }

    fn finish(&mut self) -> Result<(), AlertSinkError> {
        if let Err(source) = self.flush() {
            let st = AlertLog::stats(self);
            return Err(AlertSinkError::Unwritten {
                path: self.path().to_path_buf(),
                pending: st.pending,
                dropped: st.dropped,
                source,
            });
        }
        let dropped = AlertLog::stats(self).dropped;
        if dropped > 0 {
            return Err(AlertSinkError::Dropped {
                path: self.path().to_path_buf(),
                dropped,
            });
        }
        Ok(())
    }
}
