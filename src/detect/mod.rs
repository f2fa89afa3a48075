//! Detectors: turn the stream of lookups into alerts (see issue 3).

use serde::Deserialize;

/// `[detectors]` settings.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorConfig {}

impl DetectorConfig {
    /// Checks ranges; the error names the key below `detectors.`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        Ok(())
    }
}
