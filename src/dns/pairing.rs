//! Query/response pairing by (client address and port, server address,
//! transaction id, qname, qtype), expired on packet time.
//!
//! Every query is remembered, watched or not, because a response to an
//! unwatched name may carry a watched address. Unwatched entries are small
//! and allocation-free (the qname is kept as a 64-bit hash; the response
//! carries the name itself); watched ones keep their decoded query.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};

use rustc_hash::{FxHashMap, FxHasher};

use super::Message;
use crate::decode::Transport;

/// Pairing key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PairKey {
    /// Querier address and port.
    pub client: SocketAddr,
    /// Server address.
    pub server: IpAddr,
    /// Transaction id.
    pub id: u16,
    /// Query type.
    pub qtype: u16,
    /// Hash of the (lower-case) qname.
    pub qname_hash: u64,
}

/// Hash of a presentation-form qname for [`PairKey`].
pub fn qname_hash(name: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    name.hash(&mut h);
    h.finish()
}

/// What is remembered of a query until its response arrives.
#[derive(Clone, Debug)]
pub struct PendingQuery {
    /// Packet time of the query.
    pub ts: i64,
    /// Provenance: source index and frame number.
    pub source: (u32, u64),
    /// Server port.
    pub server_port: u16,
    /// Transport.
    pub transport: Transport,
    /// Raw header flags of the query.
    pub flags: u16,
    /// Query class.
    pub qclass: u16,
    /// Size of the query message in bytes (saturated at 65535).
    pub size: u16,
    /// The query's EDNS OPT record.
    pub edns: Option<crate::model::Edns>,
    /// Watch entry that matched the query name, if any.
    pub watched: Option<u32>,
    /// What a watched query's lookup needs that its response may not carry.
    pub message: Option<Box<WatchedQuery>>,
}

/// The parts of a watched query kept while it waits (compact: a flood of
/// watched queries that are never answered must stay cheap).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchedQuery {
    /// Query name.
    pub qname: Box<str>,
    /// EDNS client subnet of the query.
    pub ecs: Option<Box<str>>,
    /// The watch entry it matched (text: the list may be swapped while it waits).
    pub entry: Box<str>,
    /// Header section counts of the query.
    pub counts: crate::model::Counts,
}

impl WatchedQuery {
    /// From the decoded query and the entry it matched.
    pub fn new(m: Message, entry: &str) -> Self {
        Self {
            qname: m.qname.unwrap_or_default().into_boxed_str(),
            ecs: m.ecs.map(String::into_boxed_str),
            entry: entry.into(),
            counts: m.counts,
        }
    }
}

/// Pending queries.
///
/// A watched query that reaches the timeout unanswered waits a further
/// `late_us` (the late window) in a second queue: a response that arrives
/// then is still paired with it (a late answer, one lookup), and only after
/// the window is it given up as unanswered. Unwatched queries are dropped at
/// the timeout, so the late window costs memory only for watched queries.
#[derive(Debug)]
pub struct Pairing {
    pending: FxHashMap<PairKey, PendingQuery>,
    order: VecDeque<(i64, PairKey)>,
    late: VecDeque<(i64, PairKey)>,
    timeout_us: i64,
    late_us: i64,
    max_pending: usize,
    /// Queries dropped to stay under `max_pending`.
    pub evicted: u64,
}

impl Pairing {
    /// `timeout_us`: how long (packet time) a query waits for its response;
    /// `late_us`: how much longer a watched query still pairs with a late one.
    pub fn new(timeout_us: i64, late_us: i64, max_pending: usize) -> Self {
        Self {
            pending: FxHashMap::default(),
            order: VecDeque::new(),
            late: VecDeque::new(),
            timeout_us,
            late_us: late_us.max(0),
            max_pending: max_pending.max(1),
            evicted: 0,
        }
    }

    /// The response timeout (µs): an answer after it is a late answer.
    pub fn timeout_us(&self) -> i64 {
        self.timeout_us
    }

    /// Queries waiting.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Remembers a query; returns a query it replaces (a retransmission with
    /// the same key), which the caller records as unanswered.
    pub fn insert(&mut self, key: PairKey, q: PendingQuery) -> Option<(PairKey, PendingQuery)> {
        let ts = q.ts;
        let old = self.pending.insert(key, q).map(|o| (key, o));
        self.order.push_back((ts, key));
        old
    }

    /// Takes the query a response answers.
    pub fn take(&mut self, key: &PairKey) -> Option<PendingQuery> {
        self.pending.remove(key)
    }

    /// Removes queries older than the timeout at packet time `now` (watched
    /// ones after the late window), and the oldest ones beyond the cap;
    /// `expired` gets each (key, query).
    pub fn expire(&mut self, now: i64, expired: &mut dyn FnMut(PairKey, PendingQuery)) {
        while let Some(&(ts, key)) = self.order.front() {
            // Entries answered or replaced since leave stale order slots.
            let Some(q) = self.pending.get(&key).filter(|q| q.ts == ts) else {
                self.order.pop_front();
                continue;
            };
            let over_cap = self.pending.len() > self.max_pending;
            let timed_out = now.saturating_sub(ts) > self.timeout_us;
            if !over_cap && !timed_out {
                break;
            }
            self.order.pop_front();
            if !over_cap && self.late_us > 0 && q.watched.is_some() {
                self.late.push_back((ts, key));
                continue;
            }
            if let Some(q) = self.pending.remove(&key) {
                if !timed_out {
                    self.evicted += 1;
                }
                expired(key, q);
            }
        }
        let limit = self.timeout_us.saturating_add(self.late_us);
        while let Some(&(ts, key)) = self.late.front() {
            if self.pending.get(&key).is_none_or(|q| q.ts != ts) {
                self.late.pop_front();
                continue;
            }
            let over_cap = self.pending.len() > self.max_pending;
            if !over_cap && now.saturating_sub(ts) <= limit {
                break;
            }
            self.late.pop_front();
            if let Some(q) = self.pending.remove(&key) {
                if over_cap {
                    self.evicted += 1;
                }
                expired(key, q);
            }
        }
    }

    /// The next live (ts, key) of either queue, oldest queue (late) first.
    fn pop_oldest(&mut self) -> Option<(i64, PairKey)> {
        self.late.pop_front().or_else(|| self.order.pop_front())
    }

    /// Removes up to `max` queries, oldest first; true while some remain.
    pub fn drain_some(
        &mut self,
        max: usize,
        expired: &mut dyn FnMut(PairKey, PendingQuery),
    ) -> bool {
        let mut n = 0;
        while n < max {
            let Some((ts, key)) = self.pop_oldest() else {
                break;
            };
            if self.pending.get(&key).is_some_and(|q| q.ts == ts) {
                if let Some(q) = self.pending.remove(&key) {
                    expired(key, q);
                    n += 1;
                }
            }
        }
        if self.order.is_empty() && self.late.is_empty() {
            self.pending.clear();
        }
        !self.pending.is_empty()
    }

    /// Removes everything (end of input), oldest first.
    pub fn drain(&mut self, expired: &mut dyn FnMut(PairKey, PendingQuery)) {
        while let Some((ts, key)) = self.pop_oldest() {
            if self.pending.get(&key).is_some_and(|q| q.ts == ts) {
                if let Some(q) = self.pending.remove(&key) {
                    expired(key, q);
                }
            }
        }
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u16) -> PairKey {
        PairKey {
            client: "192.0.2.1:5000".parse().unwrap(),
            server: "192.0.2.53".parse().unwrap(),
            id,
            qtype: 1,
            qname_hash: qname_hash(b"example.com"),
        }
    }

    fn q(ts: i64) -> PendingQuery {
        PendingQuery {
            ts,
            source: (0, 1),
            server_port: 53,
            transport: Transport::Udp,
            flags: 0x0100,
            qclass: 1,
            size: 29,
            edns: None,
            watched: None,
            message: None,
        }
    }

    #[test]
    fn pairs_and_expires_on_packet_time() {
        let mut p = Pairing::new(5_000_000, 0, 100);
        assert!(p.insert(key(1), q(0)).is_none());
        assert!(p.insert(key(2), q(1_000_000)).is_none());
        assert!(p.take(&key(1)).is_some());
        assert!(p.take(&key(1)).is_none());
        let mut gone = Vec::new();
        p.expire(5_500_000, &mut |k, _| gone.push(k.id));
        assert!(gone.is_empty());
        p.expire(6_000_001, &mut |k, _| gone.push(k.id));
        assert_eq!(gone, vec![2]);
        assert!(p.is_empty());
    }

    #[test]
    fn retransmission_replaces_and_cap_evicts() {
        let mut p = Pairing::new(5_000_000, 0, 2);
        p.insert(key(1), q(0));
        let old = p.insert(key(1), q(10));
        assert_eq!(old.map(|(_, o)| o.ts), Some(0));
        p.insert(key(2), q(20));
        p.insert(key(3), q(30));
        let mut gone = Vec::new();
        p.expire(40, &mut |k, _| gone.push(k.id));
        assert_eq!(gone, vec![1]);
        assert_eq!(p.evicted, 1);
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn watched_queries_wait_the_late_window_unwatched_do_not() {
        let mut p = Pairing::new(10_000_000, 20_000_000, 100);
        let watched = |ts| PendingQuery {
            watched: Some(0),
            ..q(ts)
        };
        p.insert(key(1), watched(0));
        p.insert(key(2), q(0));
        p.insert(key(3), watched(1_000_000));
        let mut gone = Vec::new();
        // Past the timeout: the unwatched query goes, the watched ones wait.
        p.expire(12_000_000, &mut |k, _| gone.push(k.id));
        assert_eq!(gone, vec![2]);
        assert_eq!(p.len(), 2);
        // A late response still finds its query.
        assert_eq!(p.take(&key(3)).map(|q| q.ts), Some(1_000_000));
        // Past timeout + late window: given up.
        p.expire(30_000_000, &mut |k, _| gone.push(k.id));
        assert_eq!(gone, vec![2]);
        p.expire(30_000_001, &mut |k, _| gone.push(k.id));
        assert_eq!(gone, vec![2, 1]);
        assert!(p.is_empty());
        assert_eq!(p.evicted, 0);
    }

    #[test]
    fn drain_gives_late_queries_too() {
        let mut p = Pairing::new(10, 100, 100);
        p.insert(
            key(1),
            PendingQuery {
                watched: Some(0),
                ..q(0)
            },
        );
        p.insert(key(2), q(15));
        p.expire(20, &mut |_, _| panic!("nothing is due"));
        let mut gone = Vec::new();
        p.drain(&mut |k, _| gone.push(k.id));
        assert_eq!(gone, vec![1, 2]);
        assert!(p.is_empty());
    }
}
