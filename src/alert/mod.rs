//! Where alerts go besides the store: the alert sinks.
//!
//! Every alert is committed to the store with the lookups of its batch (so
//! the database is the complete record); an [`AlertSink`] is a further
//! destination an operator tails or ships: the JSON-lines log
//! ([`jsonl::AlertLog`]) and the process log ([`TracingSink`]).

pub mod jsonl;

pub use jsonl::{AlertLog, AlertLogStats};

use crate::model::Alert;

/// A destination for alerts besides the store. A sink never blocks the
/// store: it keeps what it could not write for a later retry, or drops and
/// counts it.
pub trait AlertSink: Send + std::fmt::Debug {
    /// Writes (or queues) these alerts.
    fn emit(&mut self, alerts: &[Alert]);
    /// Retries what failed earlier (called on every tick).
    fn retry(&mut self) {}
    /// Reopens output files (SIGHUP, for logrotate).
    fn reopen(&mut self) -> Result<(), String> {
        Ok(())
    }
    /// Counters for metrics (`None` when the sink keeps none).
    fn stats(&self) -> Option<AlertLogStats> {
        None
    }
    /// End of run: writes what is queued; an error says what was lost.
    fn finish(&mut self) -> Result<(), String> {
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

    fn reopen(&mut self) -> Result<(), String> {
        AlertLog::reopen(self)
            .map_err(|e| format!("reopening alert log {}: {e}", self.path().display()))
    }

    fn stats(&self) -> Option<AlertLogStats> {
        Some(AlertLog::stats(self))
    }

    fn finish(&mut self) -> Result<(), String> {
        if let Err(e) = self.flush() {
            let st = AlertLog::stats(self);
            return Err(format!(
                "alert log {}: {} alerts could not be written ({e}); {} were dropped from the log earlier; all alerts are in the database",
                self.path().display(),
                st.pending,
                st.dropped
            ));
        }
        let dropped = AlertLog::stats(self).dropped;
        if dropped > 0 {
            return Err(format!(
                "alert log {}: {dropped} alerts were dropped from the log while it failed; all alerts are in the database",
                self.path().display()
            ));
        }
        Ok(())
    }
}
