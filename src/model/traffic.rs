//! Hourly traffic counters.

/// One row of the hourly traffic counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HourRow {
    /// Start of the hour (µs since the epoch).
    pub hour_us: i64,
    /// Metric name (`packets`, `messages`, `queries`, `responses`,
    /// `rcode_NXDOMAIN`, `decode_errors`, ...).
    pub metric: String,
    /// Count.
    pub value: u64,
}
