//! One snapshot of every counter of a run, with one name per counter: what
//! the metrics endpoint, the run summary, the periodic log line and the
//! eviction alert all read.

use crate::store::writer::WriterStats;

/// State dropped to stay within the memory caps, by kind (metric label
/// `state`, summary key). The first three can hide lookups.
pub const EVICTIONS: [&str; 5] = [
    "pending_query",
    "tcp_stream",
    "fragment",
    "detector_querier",
    "detector_name",
];

/// Counters of a run at one moment.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    pub(super) frames: u64,
    pub(super) messages: u64,
    pub(super) queries: u64,
    pub(super) responses: u64,
    pub(super) lookups: u64,
    pub(super) unanswered: u64,
    pub(super) unsolicited: u64,
    pub(super) late: u64,
    pub(super) unwatched: u64,
    pub(super) alerts: u64,
    pub(super) alerts_by_kind: Vec<(String, u64)>,
    pub(super) alerts_suppressed: u64,
    pub(super) errors: Vec<(&'static str, u64)>,
    pub(super) reassembled: u64,
    pub(super) tcp_gaps: u64,
    pub(super) tcp_streams: u64,
    pub(super) fragment_buffers: u64,
    pub(super) fragment_bytes: u64,
    pub(super) pending_queries: u64,
    pub(super) evictions: [u64; EVICTIONS.len()],
    pub(super) store: WriterStats,
    pub(super) alert_log: crate::alert::AlertLogStats,
}

impl Counters {
    /// Frames read (captured packets).
    pub fn frames(&self) -> u64 {
        self.frames
    }
    /// DNS messages seen.
    pub fn messages(&self) -> u64 {
        self.messages
    }
    /// DNS queries seen.
    pub fn queries(&self) -> u64 {
        self.queries
    }
    /// DNS responses seen.
    pub fn responses(&self) -> u64 {
        self.responses
    }
    /// Lookups recorded.
    pub fn lookups(&self) -> u64 {
        self.lookups
    }
    /// Of which unanswered.
    pub fn unanswered(&self) -> u64 {
        self.unanswered
    }
    /// Of which without a captured query.
    pub fn unsolicited(&self) -> u64 {
        self.unsolicited
    }
    /// Of which answered after the response timeout (within the late window).
    pub fn late(&self) -> u64 {
        self.late
    }
    /// Lookups of nothing watched, recorded for ClickHouse only
    /// (`storage.clickhouse.record = "all"`; not in [`Counters::lookups`]).
    pub fn unwatched(&self) -> u64 {
        self.unwatched
    }
    /// Alerts raised (handed to the store and the alert sinks).
    pub fn alerts(&self) -> u64 {
        self.alerts
    }
    /// Alerts raised by the detectors, by kind.
    pub fn alerts_by_kind(&self) -> &[(String, u64)] {
        &self.alerts_by_kind
    }
    /// Alerts suppressed as repeats.
    pub fn alerts_suppressed(&self) -> u64 {
        self.alerts_suppressed
    }
    /// Undecodable input by kind (every kind, zeros included).
    pub fn errors(&self) -> &[(&'static str, u64)] {
        &self.errors
    }
    /// All undecodable input.
    pub fn errors_total(&self) -> u64 {
        self.errors.iter().map(|e| e.1).sum()
    }
    /// Datagrams reassembled from fragments.
    pub fn reassembled(&self) -> u64 {
        self.reassembled
    }
    /// TCP holes given up on.
    pub fn tcp_gaps(&self) -> u64 {
        self.tcp_gaps
    }
    /// TCP streams with reassembly state now.
    pub fn tcp_streams(&self) -> u64 {
        self.tcp_streams
    }
    /// Datagrams being reassembled now.
    pub fn fragment_buffers(&self) -> u64 {
        self.fragment_buffers
    }
    /// Bytes held for fragment reassembly now.
    pub fn fragment_bytes(&self) -> u64 {
        self.fragment_bytes
    }
    /// Queries waiting for their response now.
    pub fn pending_queries(&self) -> u64 {
        self.pending_queries
    }
    /// Evictions by kind, names from [`EVICTIONS`].
    pub fn evictions(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        EVICTIONS
            .iter()
            .copied()
            .zip(self.evictions.iter().copied())
    }
    /// Evictions that can hide lookups (pending queries, TCP streams,
    /// fragments).
    pub fn hiding_evictions(&self) -> u64 {
        self.evictions[..3].iter().sum()
    }
    /// Store writer statistics.
    pub fn store(&self) -> &WriterStats {
        &self.store
    }
    /// Alert-log statistics (zeros without a log).
    pub fn alert_log(&self) -> &crate::alert::AlertLogStats {
        &self.alert_log
    }
}
