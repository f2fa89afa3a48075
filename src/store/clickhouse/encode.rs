//! A batch into a spool record payload, written straight into buffers the
//! sink keeps from batch to batch (no per-part or per-record allocation once
//! they have grown; see [`super::spool`] for the layout).

use rustc_hash::FxHashMap;

use super::schema::{self, SummaryKey, TABLES};
use crate::model::Alert;
use crate::store::Batch;

/// One part being filled: table, day, rows, RowBinary.
#[derive(Debug, Default)]
struct PartBuf {
    table: u8,
    day: i64,
    rows: u32,
    body: Vec<u8>,
}

/// The encoder's reused buffers.
#[derive(Debug)]
pub(super) struct Encoder {
    /// The first `used` are the parts of the batch being encoded; the rest
    /// are spare buffers kept for their capacity.
    parts: Vec<PartBuf>,
    used: usize,
    /// Index of the part the last row of each table went to (the rows of a
    /// batch nearly always share a day).
    last: [usize; TABLES.len()],
    payload: Vec<u8>,
}

impl Default for Encoder {
    fn default() -> Self {
        Self {
            parts: Vec::new(),
            used: 0,
            last: [usize::MAX; TABLES.len()],
            payload: Vec::new(),
        }
    }
}

type Span = (i64, i64, u64);

fn widen(s: &mut Span, ts: i64) {
    s.0 = s.0.min(ts);
    s.1 = s.1.max(ts);
    s.2 += 1;
}

impl Encoder {
    /// The body of the part of `table` for the day of `us`, its row count
    /// incremented.
    fn part(&mut self, table: usize, us: i64) -> &mut Vec<u8> {
        let day = schema::day_of(us);
        let t = table as u8;
        let hit = self.last[table];
        let idx = if hit < self.used && self.parts[hit].day == day {
            hit
        } else if let Some(i) = self.parts[..self.used]
            .iter()
            .position(|p| p.table == t && p.day == day)
        {
            i
        } else {
            if self.used == self.parts.len() {
                self.parts.push(PartBuf::default());
            }
            let p = &mut self.parts[self.used];
            p.table = t;
            p.day = day;
            p.rows = 0;
            p.body.clear();
            self.used += 1;
            self.used - 1
        };
        self.last[table] = idx;
        let p = &mut self.parts[idx];
        p.rows += 1;
        &mut p.body
    }

    /// Encodes `batch` (and `extra_alerts`) as the payload of one spool
    /// record: parts by (table, day), in that order.
    pub(super) fn encode(
        &mut self,
        batch: &Batch,
        batch_id: u64,
        sensor: &str,
        extra_alerts: &[Alert],
    ) -> &[u8] {
        self.used = 0;
        self.last = [usize::MAX; TABLES.len()];
        // Unwatched lookups (`record = "all"`) have rows in both lookup
        // tables but no summary rows (those are per watch entry).
        for l in batch.unwatched.iter().chain(&batch.lookups) {
            schema::lookup_row(self.part(0, l.ts_us), l, sensor, batch_id);
            schema::by_querier_row(self.part(1, l.ts_us), l, sensor, batch_id);
        }
        // Sized for the batch up front (no rehashing while it fills).
        let n = batch.lookups.len();
        let mut qsum: FxHashMap<(&str, [u8; 16]), Span> =
            FxHashMap::with_capacity_and_hasher(n, Default::default());
        let mut nsum: FxHashMap<(&str, &str), Span> =
            FxHashMap::with_capacity_and_hasher(n, Default::default());
        for l in &batch.lookups {
            let q = schema::addr16(l.querier.ip());
            for e in l.entries() {
                widen(qsum.entry((e, q)).or_insert((l.ts_us, l.ts_us, 0)), l.ts_us);
                widen(
                    nsum.entry((e, l.qname.as_str()))
                        .or_insert((l.ts_us, l.ts_us, 0)),
                    l.ts_us,
                );
            }
        }
        // In hash order: sorting them (string compares) took a third of
        // this thread's time, and the server sorts each part anyway.
        for ((e, q), (first, last, n)) in qsum {
            let o = self.part(2, last);
            schema::summary_row(
                o,
                sensor,
                e,
                SummaryKey::Querier(q),
                first,
                last,
                n,
                batch_id,
            );
        }
        for ((e, name), (first, last, n)) in nsum {
            let o = self.part(3, last);
            schema::summary_row(
                o,
                sensor,
                e,
                SummaryKey::Name(name),
                first,
                last,
                n,
                batch_id,
            );
        }
        for h in &batch.hourly {
            let o = self.part(4, h.hour_us);
            schema::hourly_row(o, sensor, h.hour_us, &h.metric, h.value, batch_id);
        }
        for a in batch.alerts.iter().chain(extra_alerts) {
            schema::alert_row(self.part(5, a.ts_us), a, sensor, "sensor", batch_id);
        }
        for r in &batch.rrsets {
            schema::rrset_row(self.part(6, r.time_last_us), r, sensor, batch_id);
        }
        let parts = &mut self.parts[..self.used];
        parts.sort_unstable_by_key(|p| (p.table, p.day));
        let out = &mut self.payload;
        out.clear();
        out.reserve(12 + parts.iter().map(|p| 17 + p.body.len()).sum::<usize>());
        out.extend_from_slice(&batch_id.to_le_bytes());
        out.extend_from_slice(&(parts.len() as u32).to_le_bytes());
        for p in parts.iter() {
            out.push(p.table);
            out.extend_from_slice(&p.day.to_le_bytes());
            out.extend_from_slice(&p.rows.to_le_bytes());
            out.extend_from_slice(&(p.body.len() as u32).to_le_bytes());
            out.extend_from_slice(&p.body);
        }
        &self.payload
    }
}
