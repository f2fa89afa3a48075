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
    /// Event time (packet time, µs since the epoch).
    pub ts_us: i64,
    /// Detector name (`new_querier`, `burst`, ...).
    pub kind: String,
    /// Severity.
    pub severity: Severity,
    /// The watch entry.
    pub entry: String,
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

impl Alert {
    /// The JSON object written to the alert log (one per line).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ts": crate::time::rfc3339(self.ts_us),
            "kind": self.kind,
            "severity": self.severity,
            "entry": self.entry,
            "name": self.name,
            "querier": self.querier,
            "window": self.window,
            "evidence": self.evidence,
            "message": self.message,
            "suppressed": self.suppressed,
        })
    }
}

/// The JSON-lines alert log (appended; reopened on SIGHUP for logrotate).
#[derive(Debug)]
pub struct AlertLog {
    path: std::path::PathBuf,
    file: std::io::BufWriter<std::fs::File>,
}

impl AlertLog {
    /// Opens `path` for appending (creating it).
    pub fn open(path: &std::path::Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            file: std::io::BufWriter::new(file),
        })
    }

    /// Appends alerts and flushes.
    pub fn write(&mut self, alerts: &[Alert]) -> std::io::Result<()> {
        use std::io::Write;
        for a in alerts {
            writeln!(self.file, "{}", a.to_json())?;
        }
        self.file.flush()
    }

    /// Reopens the file (after logrotate moved it).
    pub fn reopen(&mut self) -> std::io::Result<()> {
        use std::io::Write;
        self.file.flush()?;
        *self = Self::open(&self.path)?;
        Ok(())
    }

    /// Path of the log.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}
