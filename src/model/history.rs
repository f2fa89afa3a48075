//! What the store remembers of earlier runs, read back at start.

/// What an earlier run learnt (read from the store at start).
#[derive(Clone, Debug, Default)]
pub struct Preload {
    /// (entry, querier IP, first seen µs, last seen µs, count).
    pub queriers: Vec<(String, String, i64, i64, u64)>,
    /// (entry, qname, first seen µs).
    pub names: Vec<(String, String, i64)>,
    /// (entry, hour index, lookups): the recent hourly series, so that a
    /// restart (or the next capture replayed into the same database) keeps
    /// the model of normal traffic instead of learning it again.
    pub hours: Vec<(String, i64, u64)>,
}
