//! Bounded per-name state for detectors that judge every name (`--watch .`
//! sees millions of them).
//!
//! [`NameTable`] holds at most `cap` entries. A name matched only by a
//! catch-all entry earns its state: a count-min sketch counts such names
//! and admits one into the table at its `admit`-th sighting (one-off names
//! of a random-subdomain flood never cost a map entry). Names of explicitly
//! watched entries are admitted at once, so their detectors behave as if
//! the table were a plain map. When the table is full, the least recently
//! used tenth is evicted, and every eviction is counted.

use std::hash::BuildHasher;

use rustc_hash::FxHashMap;

/// Rows of the count-min sketch.
const ROWS: usize = 4;
/// Counters per row (a power of two).
const WIDTH: usize = 1 << 16;

/// A count-min sketch of small saturating counters, halved when a counter
/// saturates so that old counts fade.
#[derive(Debug)]
struct Sketch {
    counts: Vec<u8>,
}

impl Sketch {
    fn new() -> Self {
        Self {
            counts: vec![0; ROWS * WIDTH],
        }
    }

    /// Counts one sighting of the key hashed as `h`; returns the estimate
    /// (the minimum over the rows) after it.
    fn add(&mut self, h: u64) -> u8 {
        let mut est = u8::MAX;
        let mut saturated = false;
        for row in 0..ROWS {
            // Each row takes 16 different bits of the 64-bit hash.
            let col = ((h >> (row * 16)) as usize) & (WIDTH - 1);
            let c = &mut self.counts[row * WIDTH + col];
            *c = c.saturating_add(1);
            saturated |= *c == u8::MAX;
            est = est.min(*c);
        }
        if saturated {
            for c in &mut self.counts {
                *c /= 2;
            }
        }
        est
    }
}

/// A map from name to `V` of bounded size.
#[derive(Debug)]
pub struct NameTable<V> {
    map: FxHashMap<String, (i64, V)>,
    cap: usize,
    admit: u8,
    sketch: Option<Sketch>,
    evicted: u64,
    refused: u64,
}

impl<V> NameTable<V> {
    /// At most `cap` names (at least one); catch-all names admitted at
    /// their `admit`-th sighting (1: at once).
    pub fn new(cap: usize, admit: u8) -> Self {
        Self {
            map: FxHashMap::default(),
            cap: cap.max(1),
            admit: admit.max(1),
            sketch: None,
            evicted: 0,
            refused: 0,
        }
    }

    /// The state of `name`, used at `ts` (packet time), created with `new`
    /// if admitted; `None` when a catch-all name (`watched == false`) has
    /// not earned state yet.
    pub fn get_or_admit(
        &mut self,
        name: &str,
        ts: i64,
        watched: bool,
        new: impl FnOnce() -> V,
    ) -> Option<&mut V> {
        // Two lookups of the map rather than one: the borrow checker will
        // not let a returned `get_mut` borrow be followed by an insert.
        if self.map.contains_key(name) {
            let e = self.map.get_mut(name)?;
            e.0 = e.0.max(ts);
            return Some(&mut e.1);
        }
        self.admit(name, ts, watched, new)
    }

    /// The state of `name`, which has none yet, if admitted (see
    /// [`NameTable::get_or_admit`]).
    fn admit(
        &mut self,
        name: &str,
        ts: i64,
        watched: bool,
        new: impl FnOnce() -> V,
    ) -> Option<&mut V> {
        if !watched && self.admit > 1 {
            let h = self.map.hasher().hash_one(name);
            let est = self.sketch.get_or_insert_with(Sketch::new).add(h);
            if est < self.admit {
                self.refused += 1;
                return None;
            }
        }
        if self.map.len() >= self.cap {
            self.evict();
        }
        let e = self.map.entry(name.to_string()).or_insert((ts, new()));
        Some(&mut e.1)
    }

    /// [`NameTable::get_or_admit`] handing the state to `f`: a name with
    /// state costs one lookup of the map (returning the borrow of a `get`
    /// that may miss is what forces two there).
    pub fn with_state<R>(
        &mut self,
        name: &str,
        ts: i64,
        watched: bool,
        new: impl FnOnce() -> V,
        f: impl FnOnce(&mut V) -> R,
    ) -> Option<R> {
        if let Some(e) = self.map.get_mut(name) {
            e.0 = e.0.max(ts);
            return Some(f(&mut e.1));
        }
        self.admit(name, ts, watched, new).map(f)
    }

    /// Drops the least recently used tenth (at least one name).
    fn evict(&mut self) {
        let drop = (self.cap / 10).max(1).min(self.map.len());
        let mut ages: Vec<(i64, &String)> = self.map.iter().map(|(k, v)| (v.0, k)).collect();
        ages.select_nth_unstable(drop - 1);
        let gone: Vec<String> = ages[..drop].iter().map(|(_, k)| (*k).clone()).collect();
        for k in &gone {
            self.map.remove(k);
        }
        self.evicted += drop as u64;
    }

    /// Names with state.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// No name has state.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether `name` has state.
    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// The bound.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Evictions since the last call.
    pub fn take_evicted(&mut self) -> u64 {
        std::mem::take(&mut self.evicted)
    }

    /// Catch-all sightings that did not (yet) earn state, in total.
    pub fn refused(&self) -> u64 {
        self.refused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_exceeds_its_bound_and_counts_evictions() {
        let mut t: NameTable<u32> = NameTable::new(100, 1);
        for i in 0..1_000i64 {
            let name = format!("n{i}.example");
            *t.get_or_admit(&name, i, true, || 0).expect("admitted") += 1;
            assert!(
                t.len() <= t.cap(),
                "{} names over a bound of {}",
                t.len(),
                t.cap()
            );
        }
        // 1,000 distinct names through 100 places: 900 had to go.
        let evicted = t.take_evicted();
        assert_eq!(evicted + t.len() as u64, 1_000);
        assert!(evicted >= 900, "{evicted}");
        assert_eq!(t.take_evicted(), 0, "counted once");
        // Eviction is by last use: the newest name survived, the oldest did not.
        assert!(t.contains("n999.example"));
        assert!(!t.contains("n0.example"));
    }

    #[test]
    fn a_recently_used_name_survives_eviction() {
        let mut t: NameTable<()> = NameTable::new(10, 1);
        for i in 0..200i64 {
            // "keep" is used at every step; the others once each.
            t.get_or_admit("keep", i, true, || ());
            t.get_or_admit(&format!("x{i}"), i, true, || ());
        }
        assert!(t.contains("keep"));
        assert!(t.len() <= 10);
    }

    #[test]
    fn catch_all_names_earn_state_watched_names_get_it_at_once() {
        let mut t: NameTable<u32> = NameTable::new(1_000, 3);
        assert!(t.get_or_admit("w.example", 1, true, || 7).is_some());
        assert!(t.get_or_admit("a.example", 1, false, || 0).is_none());
        assert!(t.get_or_admit("a.example", 2, false, || 0).is_none());
        assert_eq!(
            t.get_or_admit("a.example", 3, false, || 5).copied(),
            Some(5)
        );
        // Once admitted, it stays without further sketch checks.
        assert!(t.get_or_admit("a.example", 4, false, || 0).is_some());
        // One-off names of a flood cost no state.
        for i in 0..10_000 {
            assert!(t
                .get_or_admit(&format!("r{i}.flood.example"), 5, false, || 0)
                .is_none());
        }
        assert_eq!(t.len(), 2);
        assert_eq!(t.refused(), 2 + 10_000);
    }
}
