//! The JSON-lines alert log: whole lines only, never blocks the store.

use crate::model::Alert;

/// Alert-log lines kept for a retry at most (the alerts are in the
/// database in any case); the oldest are dropped and counted beyond it.
const MAX_PENDING_LINES: usize = 100_000;
/// ... and at most this many bytes of them.
const MAX_PENDING_BYTES: usize = 32 << 20;
/// A failing log is retried at most this often (new alerts do not force a retry).
const RETRY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Alert-log counters (for metrics).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertLogStats {
    /// Lines written.
    pub written: u64,
    /// Write attempts that failed (each is retried).
    pub failures: u64,
    /// Lines given up on because too many were waiting (the alerts are in the database).
    pub dropped: u64,
    /// Lines waiting for a retry.
    pub pending: u64,
}

/// The JSON-lines alert log (appended; reopened on SIGHUP for logrotate).
///
/// A failing log never blocks anything: lines wait in a bounded queue and
/// are retried. Only whole lines reach the file: a write that fails part-way
/// is cut back to the last complete line (and should that fail too, the
/// next successful write starts on a fresh line).
#[derive(Debug)]
pub struct AlertLog {
    path: std::path::PathBuf,
    file: std::fs::File,
    pending: std::collections::VecDeque<String>,
    pending_bytes: usize,
    stats: AlertLogStats,
    /// The error of the failing state, logged once.
    failing: Option<String>,
    last_attempt: Option<std::time::Instant>,
    /// A partial line may be at the end of the file.
    torn: bool,
    /// The shape of each line.
    shape: crate::model::Shape,
}

impl AlertLog {
    /// Opens `path` for appending (creating it).
    pub fn open(path: &std::path::Path) -> std::io::Result<Self> {
        let file = Self::open_file(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            pending: std::collections::VecDeque::new(),
            pending_bytes: 0,
            stats: AlertLogStats::default(),
            failing: None,
            last_attempt: None,
            torn: false,
            shape: crate::model::Shape::Json,
        })
    }

    /// Writes lines in `shape` (`alerts.format`) from now on.
    pub fn with_shape(mut self, shape: crate::model::Shape) -> Self {
        self.shape = shape;
        self
    }

    fn open_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(crate::files::file_mode())
            .open(path)
    }

    /// Queues alerts and writes everything waiting. An error means the lines
    /// wait for a later retry ([`AlertLog::retry`]); nothing is lost unless
    /// the queue's cap is reached (counted in [`AlertLogStats::dropped`]).
    pub fn write(&mut self, alerts: &[Alert]) -> std::io::Result<()> {
        for a in alerts {
            let mut line = a.render(self.shape).to_string();
            line.push('\n');
            self.pending_bytes += line.len();
            self.pending.push_back(line);
        }
        while self.pending.len() > MAX_PENDING_LINES || self.pending_bytes > MAX_PENDING_BYTES {
            if let Some(old) = self.pending.pop_front() {
                self.pending_bytes -= old.len();
                self.stats.dropped += 1;
            }
        }
        if self.failing.is_some() && !self.retry_due() {
            return Err(std::io::Error::other(format!(
                "alert log failing, retrying: {}",
                self.failing.as_deref().unwrap_or("")
            )));
        }
        self.flush_pending()
    }

    /// Retries waiting lines when a retry is due (call it regularly).
    pub fn retry(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() || !self.retry_due() {
            return Ok(());
        }
        self.flush_pending()
    }

    /// Writes every waiting line now (at the end of a run).
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.flush_pending()
    }

    fn retry_due(&self) -> bool {
        self.last_attempt
            .is_none_or(|t| t.elapsed() >= RETRY_INTERVAL)
    }

    fn flush_pending(&mut self) -> std::io::Result<()> {
        use std::io::Write;
        if self.pending.is_empty() {
            return Ok(());
        }
        self.last_attempt = Some(std::time::Instant::now());
        let mut buf = String::with_capacity(self.pending_bytes + 1);
        if self.torn {
            buf.push('\n');
        }
        for l in &self.pending {
            buf.push_str(l);
        }
        // The file is opened for appending and we are its only writer: what
        // a failed write leaves behind starts at `start`.
        let start = self.file.metadata().map(|m| m.len()).ok();
        match self.file.write_all(buf.as_bytes()) {
            Ok(()) => {
                self.stats.written += self.pending.len() as u64;
                self.pending.clear();
                self.pending_bytes = 0;
                self.torn = false;
                if let Some(e) = self.failing.take() {
                    tracing::info!(path = %self.path.display(), previous_error = %e, "alert log writes succeed again");
                }
                Ok(())
            }
            Err(e) => {
                self.stats.failures += 1;
                // Cut a partial write back to the last whole line.
                let cut = match start {
                    Some(len) => self
                        .file
                        .metadata()
                        .is_ok_and(|m| m.len() <= len || self.file.set_len(len).is_ok()),
                    None => false,
                };
                self.torn |= !cut;
                if self.failing.is_none() {
                    tracing::error!(
                        path = %self.path.display(),
                        error = %e,
                        "alert log write failed; alerts still go to the database and the log is retried (dnswatch_alert_log_failures_total)"
                    );
                    self.failing = Some(e.to_string());
                }
                Err(e)
            }
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> AlertLogStats {
        AlertLogStats {
            pending: self.pending.len() as u64,
            ..self.stats.clone()
        }
    }

    /// Reopens the file (after logrotate moved it); waiting lines go to the new file.
    pub fn reopen(&mut self) -> std::io::Result<()> {
        self.file = Self::open_file(&self.path)?;
        // A fresh file has no partial line; the same file may still have one.
        if self.file.metadata().is_ok_and(|m| m.len() == 0) {
            self.torn = false;
        }
        let _ = self.flush_pending();
        Ok(())
    }

    /// Path of the log.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}
