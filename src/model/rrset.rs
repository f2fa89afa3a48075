//! Passive-DNS rrsets: what was answered, deduplicated, with first/last
//! seen and a count, and the in-memory aggregator the pipeline fills.
//!
//! One [`Rrset`] row is one resource record (owner name, type, data) as
//! seen from one zone (bailiwick) by one sensor. The pipeline adds every
//! answer record of every response in scope (`storage.pdns`) to the
//! [`RrsetAggregator`]; the driver takes what it holds with each batch and
//! the store adds it to what is stored (min/max/sum), so the packet loop
//! never writes per record.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};

use super::Answer;

/// Which answered responses feed the rrset store (`storage.pdns`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PdnsScope {
    /// None.
    Off,
    /// The responses recorded as lookups (they touch the watch list).
    #[default]
    Watched,
    /// Every answered response decoded, watched or not.
    All,
}

impl PdnsScope {
    /// The config value (`off`, `watched`, `all`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "off" => Some(Self::Off),
            "watched" => Some(Self::Watched),
            "all" => Some(Self::All),
            _ => None,
        }
    }
}

/// One stored rrset row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rrset {
    /// Owner name (presentation form, lower-case, no trailing dot; `.` for the root).
    pub rrname: String,
    /// Type mnemonic (`A`, `CNAME`, `TYPE65280`).
    pub rrtype: String,
    /// Record data in zone-file presentation form.
    pub rdata: String,
    /// Zone the answering server spoke for, when the response said
    /// (owner of the first SOA or NS record of its authority section); empty
    /// when unknown.
    pub bailiwick: String,
    /// Sensor that saw it.
    pub sensor: String,
    /// First seen (µs, packet time of the lookup).
    pub time_first_us: i64,
    /// Last seen (µs).
    pub time_last_us: i64,
    /// Responses that carried it.
    pub count: u64,
}

/// Identity of an rrset row (everything but the times and count).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    rrname: String,
    rrtype: String,
    rdata: String,
    bailiwick: String,
    sensor: String,
}

#[derive(Clone, Copy, Debug)]
struct Agg {
    first: i64,
    last: i64,
    count: u64,
}

/// Rrsets seen since the last [`RrsetAggregator::take`], by key.
///
/// Keyed by a 64-bit hash of the fields with the fields kept for the
/// comparison, so a record already held costs a hash and a compare, no
/// allocation.
#[derive(Debug, Default)]
pub struct RrsetAggregator {
    map: HashMap<u64, Vec<(Key, Agg)>, rustc_hash::FxBuildHasher>,
    len: usize,
}

fn key_hash(name: &str, rtype: &str, data: &str, bailiwick: &str, sensor: &str) -> u64 {
    let mut h = rustc_hash::FxBuildHasher.build_hasher();
    for s in [name, rtype, data, bailiwick, sensor] {
        s.hash(&mut h);
    }
    h.finish()
}

impl RrsetAggregator {
    /// Distinct rrsets held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds the answer records of one response seen at `ts_us`. A record
    /// repeated within the response counts once.
    pub fn add(&mut self, ts_us: i64, answers: &[Answer], bailiwick: &str, sensor: &str) {
        for (i, a) in answers.iter().enumerate() {
            let repeated = answers[..i]
                .iter()
                .any(|b| b.name == a.name && b.rtype == a.rtype && b.data == a.data);
            if repeated {
                continue;
            }
            self.add_one(ts_us, &a.name, &a.rtype, &a.data, bailiwick, sensor);
        }
    }

    fn add_one(
        &mut self,
        ts_us: i64,
        name: &str,
        rtype: &str,
        data: &str,
        bailiwick: &str,
        sensor: &str,
    ) {
        let h = key_hash(name, rtype, data, bailiwick, sensor);
        let slot = self.map.entry(h).or_default();
        for (k, agg) in slot.iter_mut() {
            if k.rrname == name
                && k.rrtype == rtype
                && k.rdata == data
                && k.bailiwick == bailiwick
                && k.sensor == sensor
            {
                agg.first = agg.first.min(ts_us);
                agg.last = agg.last.max(ts_us);
                agg.count += 1;
                return;
            }
        }
        slot.push((
            Key {
                rrname: name.to_string(),
                rrtype: rtype.to_string(),
                rdata: data.to_string(),
                bailiwick: bailiwick.to_string(),
                sensor: sensor.to_string(),
            },
            Agg {
                first: ts_us,
                last: ts_us,
                count: 1,
            },
        ));
        self.len += 1;
    }

    /// Everything held, emptied.
    pub fn take(&mut self) -> Vec<Rrset> {
        let map = std::mem::take(&mut self.map);
        self.len = 0;
        map.into_values()
            .flatten()
            .map(|(k, a)| Rrset {
                rrname: k.rrname,
                rrtype: k.rrtype,
                rdata: k.rdata,
                bailiwick: k.bailiwick,
                sensor: k.sensor,
                time_first_us: a.first,
                time_last_us: a.last,
                count: a.count,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(name: &str, t: &str, data: &str) -> Answer {
        Answer {
            name: name.into(),
            rtype: t.into(),
            ttl: 60,
            data: data.into(),
        }
    }

    #[test]
    fn aggregates_min_max_count_and_dedups_within_a_response() {
        let mut g = RrsetAggregator::default();
        let x = a("mail1.example", "A", "192.0.2.7");
        g.add(20, &[x.clone(), x.clone()], "", "s1");
        g.add(10, std::slice::from_ref(&x), "", "s1");
        g.add(30, std::slice::from_ref(&x), "", "s2");
        g.add(40, std::slice::from_ref(&x), "example", "s1");
        assert_eq!(g.len(), 3);
        let mut rows = g.take();
        assert!(g.is_empty());
        rows.sort_by(|p, q| (&p.sensor, &p.bailiwick).cmp(&(&q.sensor, &q.bailiwick)));
        assert_eq!(
            rows.iter()
                .map(|r| (
                    r.sensor.as_str(),
                    r.bailiwick.as_str(),
                    r.time_first_us,
                    r.time_last_us,
                    r.count
                ))
                .collect::<Vec<_>>(),
            vec![
                ("s1", "", 10, 20, 2),
                ("s1", "example", 40, 40, 1),
                ("s2", "", 30, 30, 1)
            ]
        );
    }

    #[test]
    fn scope_values() {
        assert_eq!(PdnsScope::parse("all"), Some(PdnsScope::All));
        assert_eq!(PdnsScope::parse("watched"), Some(PdnsScope::Watched));
        assert_eq!(PdnsScope::parse("off"), Some(PdnsScope::Off));
        assert_eq!(PdnsScope::parse("everything"), None);
    }
}
