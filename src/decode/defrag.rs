//! IPv4 and IPv6 fragment reassembly, bounded in memory and expired on packet
//! time.

use std::collections::VecDeque;
use std::net::IpAddr;

use rustc_hash::FxHashMap;

/// Largest reassembled payload we accept (the IPv4/IPv6 non-jumbo maximum).
const MAX_DATAGRAM: usize = 65_535;

/// Identifies the datagram a fragment belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragKey {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Identification field (16 bits for IPv4, 32 for IPv6).
    pub id: u32,
    /// Upper-layer protocol.
    pub proto: u8,
}

#[derive(Debug)]
struct Pending {
    first_ts: i64,
    data: Vec<u8>,
    /// Received byte ranges, sorted and merged.
    have: Vec<(usize, usize)>,
    total: Option<usize>,
}

impl Pending {
    fn add_range(&mut self, start: usize, end: usize) {
        self.have.push((start, end));
        self.have.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(self.have.len());
        for &(s, e) in &self.have {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        self.have = merged;
    }

    fn complete(&self) -> bool {
        matches!((self.total, self.have.as_slice()), (Some(t), [(0, e)]) if *e >= t)
    }
}

/// What happened to a fragment.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Kept, datagram not complete yet.
    Pending,
    /// The datagram is complete: its upper-layer payload.
    Complete(Vec<u8>),
    /// Offset and length do not fit a datagram.
    Malformed,
}

/// Fragment buffers.
#[derive(Debug)]
pub struct Defragmenter {
    pending: FxHashMap<FragKey, Pending>,
    /// Datagrams in arrival order (entries may be stale), for O(1) eviction.
    order: VecDeque<(i64, FragKey)>,
    bytes: usize,
    max_bytes: usize,
    timeout_us: i64,
    last_sweep: i64,
    /// Datagrams dropped because they did not complete in time.
    pub expired: u64,
    /// Datagrams dropped to stay under the memory cap.
    pub evicted: u64,
}

impl Defragmenter {
    /// `max_bytes` caps the buffered fragment bytes; `timeout_us` is how long
    /// (packet time) a datagram may take to complete.
    pub fn new(max_bytes: usize, timeout_us: i64) -> Self {
        Self {
            pending: FxHashMap::default(),
            order: VecDeque::new(),
            bytes: 0,
            max_bytes,
            timeout_us,
            last_sweep: i64::MIN,
            expired: 0,
            evicted: 0,
        }
    }

    /// Datagrams currently being reassembled.
    pub fn in_use(&self) -> usize {
        self.pending.len()
    }

    /// Bytes currently buffered.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Adds one fragment: `offset` in bytes, `more` = MF flag.
    pub fn add(
        &mut self,
        ts: i64,
        key: FragKey,
        offset: usize,
        more: bool,
        data: &[u8],
    ) -> Outcome {
        self.sweep(ts);
        let end = offset + data.len();
        if end > MAX_DATAGRAM || (more && data.len() % 8 != 0) {
            return Outcome::Malformed;
        }
        if !self.pending.contains_key(&key) {
            self.order.push_back((ts, key));
        }
        let entry = self.pending.entry(key).or_insert_with(|| Pending {
            first_ts: ts,
            data: Vec::new(),
            have: Vec::new(),
            total: None,
        });
        if !more {
            if entry.total.is_some_and(|t| t != end) {
                return Outcome::Malformed;
            }
            entry.total = Some(end);
        }
        if entry.data.len() < end {
            self.bytes += end - entry.data.len();
            entry.data.resize(end, 0);
        }
        // First data wins on overlap: copy only the bytes not yet received.
        let mut pos = offset;
        let have = entry.have.clone();
        for (s, e) in have {
            if e <= pos || s >= end {
                continue;
            }
            if s > pos {
                entry.data[pos..s].copy_from_slice(&data[pos - offset..s - offset]);
            }
            pos = pos.max(e);
        }
        if pos < end {
            entry.data[pos..end].copy_from_slice(&data[pos - offset..]);
        }
        entry.add_range(offset, end);
        if entry.complete() {
            let total = entry.total.unwrap_or(end);
            if let Some(mut done) = self.pending.remove(&key) {
                self.bytes -= done.data.len();
                done.data.truncate(total);
                return Outcome::Complete(done.data);
            }
        }
        self.enforce_cap();
        Outcome::Pending
    }

    fn enforce_cap(&mut self) {
        while self.bytes > self.max_bytes {
            let Some((ts, oldest)) = self.order.pop_front() else {
                break;
            };
            // Skip entries completed or expired since (or a reused key).
            if self.pending.get(&oldest).is_some_and(|p| p.first_ts == ts) {
                if let Some(p) = self.pending.remove(&oldest) {
                    self.bytes -= p.data.len();
                    self.evicted += 1;
                }
            }
        }
        // Keep the order queue from growing without bound with stale entries.
        if self.order.len() > 2 * self.pending.len() + 1024 {
            let pending = &self.pending;
            self.order
                .retain(|(ts, k)| pending.get(k).is_some_and(|p| p.first_ts == *ts));
        }
    }

    /// Drops datagrams older than the timeout (runs at most every quarter timeout).
    pub fn sweep(&mut self, now: i64) {
        if self.pending.is_empty() || now.saturating_sub(self.last_sweep) < self.timeout_us / 4 {
            return;
        }
        self.last_sweep = now;
        let timeout = self.timeout_us;
        let mut freed = 0;
        let mut expired = 0;
        self.pending.retain(|_, p| {
            let keep = now.saturating_sub(p.first_ts) <= timeout;
            if !keep {
                freed += p.data.len();
                expired += 1;
            }
            keep
        });
        self.bytes -= freed;
        self.expired += expired;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> FragKey {
        FragKey {
            src: "192.0.2.1".parse().unwrap(),
            dst: "192.0.2.2".parse().unwrap(),
            id: 7,
            proto: 17,
        }
    }

    fn pieces(payload: &[u8], size: usize) -> Vec<(usize, bool, Vec<u8>)> {
        let chunks: Vec<&[u8]> = payload.chunks(size).collect();
        let n = chunks.len();
        chunks
            .into_iter()
            .enumerate()
            .map(|(i, c)| (i * size, i + 1 < n, c.to_vec()))
            .collect()
    }

    #[test]
    fn in_order_and_duplicate() {
        let payload: Vec<u8> = (0..100u8).collect();
        let mut d = Defragmenter::new(1 << 20, 30_000_000);
        let p = pieces(&payload, 32);
        assert_eq!(d.add(0, key(), p[0].0, p[0].1, &p[0].2), Outcome::Pending);
        assert_eq!(d.add(0, key(), p[0].0, p[0].1, &p[0].2), Outcome::Pending);
        assert_eq!(d.add(0, key(), p[1].0, p[1].1, &p[1].2), Outcome::Pending);
        assert_eq!(d.add(0, key(), p[2].0, p[2].1, &p[2].2), Outcome::Pending);
        assert_eq!(
            d.add(0, key(), p[3].0, p[3].1, &p[3].2),
            Outcome::Complete(payload)
        );
        assert_eq!(d.in_use(), 0);
        assert_eq!(d.bytes(), 0);
    }

    #[test]
    fn expires_on_packet_time_and_caps_memory() {
        let mut d = Defragmenter::new(100, 1_000_000);
        assert_eq!(d.add(0, key(), 0, true, &[0; 64]), Outcome::Pending);
        // one second later (packet time) the incomplete datagram is gone
        let mut k2 = key();
        k2.id = 8;
        assert_eq!(d.add(2_000_000, k2, 0, true, &[0; 64]), Outcome::Pending);
        assert_eq!(d.expired, 1);
        let mut k3 = key();
        k3.id = 9;
        d.add(2_000_001, k3, 0, true, &[0; 64]);
        assert_eq!(d.evicted, 1);
        assert!(d.bytes() <= 100);
    }

    #[test]
    fn malformed_offsets() {
        let mut d = Defragmenter::new(1 << 20, 1_000_000);
        assert_eq!(d.add(0, key(), 65_530, false, &[0; 16]), Outcome::Malformed);
        assert_eq!(d.add(0, key(), 0, true, &[0; 10]), Outcome::Malformed);
    }

    proptest! {
        #[test]
        fn any_order_gives_the_same_datagram(len in 1usize..600, size8 in 1usize..10,
                                             order in any::<u64>()) {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let mut p = pieces(&payload, size8 * 8);
            // deterministic shuffle from the generated seed
            let mut s = order;
            for i in (1..p.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                p.swap(i, (s >> 33) as usize % (i + 1));
            }
            let mut d = Defragmenter::new(1 << 20, 1_000_000);
            let mut out = None;
            for (off, more, data) in &p {
                if let Outcome::Complete(v) = d.add(0, key(), *off, *more, data) {
                    out = Some(v);
                }
            }
            prop_assert_eq!(out, Some(payload));
        }
    }
}
