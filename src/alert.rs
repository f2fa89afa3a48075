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
