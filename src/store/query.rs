//! Typed read queries for reports: SQL stays inside the store, callers get
//! plain structs.

use super::sqlite::SqliteStore;
use super::StoreError;

/// One name seen for a watch entry, from the name summary (kept through
/// pruning, so it covers all time).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameSummary {
    /// Query name.
    pub qname: String,
    /// First lookup of the name for the entry (µs).
    pub first_seen_us: i64,
    /// Last lookup of the name for the entry (µs).
    pub last_seen_us: i64,
    /// Lookups of the name for the entry.
    pub count: u64,
}

impl SqliteStore {
    /// The names seen for watch `entry`, in the database's order.
    pub fn name_summary(&self, entry: &str) -> Result<Vec<NameSummary>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT qname, first_seen_us, last_seen_us, count FROM name_summary WHERE entry = ?",
        )?;
        let rows = stmt.query_map([entry], |r| {
            Ok(NameSummary {
                qname: r.get(0)?,
                first_seen_us: r.get(1)?,
                last_seen_us: r.get(2)?,
                count: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
            })
        })?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row?);
        }
        Ok(out)
    }
}
