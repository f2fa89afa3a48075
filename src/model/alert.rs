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

/// The JSON shape an alert (or lookup) is written in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    /// dnswatch's own keys ([`Alert::to_json`]).
    #[default]
    Json,
    /// Elastic Common Schema ([`Alert::to_ecs`]).
    Ecs,
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
    /// Where that window starts (packet time, µs); it ends at `ts_us`.
    /// `None` for alerts stored before it was recorded.
    #[serde(default)]
    pub window_start_us: Option<i64>,
    /// The sensor that raised it (the host name by default; empty for
    /// fleet alerts and alerts stored before it was recorded).
    #[serde(default)]
    pub sensor: String,
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
            "sensor": self.sensor,
            "window_range": self.window_range(),
        })
    }

    /// The alert in `shape`.
    pub fn render(&self, shape: Shape) -> serde_json::Value {
        match shape {
            Shape::Json => self.to_json(),
            Shape::Ecs => self.to_ecs(),
        }
    }

    /// `{start, end}` of the evidence window as RFC 3339 times (`null`
    /// when the start is not known).
    pub fn window_range(&self) -> serde_json::Value {
        match self.window_start_us {
            Some(start) => serde_json::json!({
                "start": crate::time::rfc3339(start),
                "end": crate::time::rfc3339(self.ts_us),
            }),
            None => serde_json::Value::Null,
        }
    }
}
