//! Alerts: what detectors raise, in the form operators tail and analysts read.

use serde::{Deserialize, Serialize};

/// How urgent an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Worth looking at.
    Warning,
    /// Look now.
    Critical,
}

impl Severity {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

/// One alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable identifier: a hash of kind, entries, name, querier and event
    /// time, so the same replay gives the same ids and a SIEM can dedupe.
    #[serde(default)]
    pub id: String,
    /// Event time (packet time, µs since the epoch).
    pub ts_us: i64,
    /// Detector name (`new_querier`, `burst`, ...).
    pub kind: String,
    /// Severity.
    pub severity: Severity,
    /// The watch entry (the first of `entries`).
    pub entry: String,
    /// Every watch entry the event touches (a name and its watched address
    /// make one alert, not two).
    #[serde(default)]
    pub entries: Vec<String>,
    /// The query name involved.
    pub name: String,
    /// The querier, when the alert is about one.
    pub querier: Option<String>,
    /// The window the evidence covers (e.g. `1h`, `7d`).
    pub window: String,
    /// The numbers behind the alert.
    pub evidence: serde_json::Value,
    /// One readable sentence.
    pub message: String,
    /// Alerts of the same (kind, entry, querier) suppressed since the last one.
    pub suppressed: u64,
}

/// FNV-1a, 64 bits: small, stable across platforms and releases.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.iter().chain(std::iter::once(&0xffu8)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

impl Alert {
    /// Fills `entries` (when empty) and computes the stable `id`.
    pub fn seal(&mut self) {
        if self.entries.is_empty() {
            self.entries.push(self.entry.clone());
        }
        let ts = self.ts_us.to_le_bytes();
        let entries = self.entries.join("\n");
        let h = fnv1a(&[
            self.kind.as_bytes(),
            entries.as_bytes(),
            self.name.as_bytes(),
            self.querier.as_deref().unwrap_or("").as_bytes(),
            &ts,
        ]);
        self.id = format!("{h:016x}");
    }

    /// The JSON object written to the alert log (one per line).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "ts": crate::time::rfc3339(self.ts_us),
            "kind": self.kind,
            "severity": self.severity,
            "entry": self.entry,
            "entries": self.entries,
            "name": self.name,
            "querier": self.querier,
            "window": self.window,
            "evidence": self.evidence,
            "message": self.message,
            "suppressed": self.suppressed,
        })
    }
}

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
        })
    }

    fn open_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(crate::store::file_mode())
            .open(path)
    }

    /// Queues alerts and writes everything waiting. An error means the lines
    /// wait for a later retry ([`AlertLog::retry`]); nothing is lost unless
    /// the queue's cap is reached (counted in [`AlertLogStats::dropped`]).
    pub fn write(&mut self, alerts: &[Alert]) -> std::io::Result<()> {
        for a in alerts {
            let mut line = a.to_json().to_string();
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
