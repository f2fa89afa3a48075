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

/// An address or a network (`192.0.2.0/24`, `2001:db8::/32`; a bare
/// address is the network of that one address), for lookup filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: std::net::IpAddr,
    prefix: u8,
}

/// Why a filter value was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    /// Not an address or network.
    #[error("{0:?} is not an IP address or a network (ADDR/PREFIX)")]
    Addr(String),
    /// Not a type mnemonic or number.
    #[error(
        "{0:?} is not a DNS type (a mnemonic such as A, AAAA, TXT, TYPE65534, or a number 0-65535)"
    )]
    Qtype(String),
    /// Not an rcode mnemonic or number.
    #[error("{0:?} is not a DNS rcode (a mnemonic such as NOERROR, NXDOMAIN, SERVFAIL, or a number 0-4095)")]
    Rcode(String),
}

impl Cidr {
    /// Parses `ADDR` or `ADDR/PREFIX`; host bits are ignored.
    pub fn parse(s: &str) -> Result<Self, FilterError> {
        let bad = || FilterError::Addr(s.to_string());
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: std::net::IpAddr = a.trim().parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(bad)?,
        };
        Ok(Self { addr, prefix })
    }

    /// Whether the network is a single address.
    pub fn single(&self) -> Option<std::net::IpAddr> {
        let max = if self.addr.is_ipv4() { 32 } else { 128 };
        (self.prefix == max).then_some(self.addr)
    }

    /// Whether `ip` is inside (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let bits = |a: u128, b: u128, width: u32| {
            let p = u32::from(self.prefix);
            p == 0 || (a ^ b) >> (width - p) == 0
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                bits(u128::from(u32::from(n)), u128::from(u32::from(a)), 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => bits(u128::from(n), u128::from(a), 128),
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The stored mnemonic of a `--qtype` value: a mnemonic (any case) or a
/// number.
pub fn qtype_filter(s: &str) -> Result<String, FilterError> {
    let t = s.trim();
    if let Ok(n) = t.parse::<u16>() {
        return Ok(crate::dns::type_name(n));
    }
    let upper = t.to_ascii_uppercase();
    if let Some(n) = upper
        .strip_prefix("TYPE")
        .and_then(|n| n.parse::<u16>().ok())
    {
        return Ok(crate::dns::type_name(n));
    }
    if !upper.is_empty() && (0..=u16::MAX).any(|v| crate::dns::type_name(v) == upper) {
        return Ok(upper);
    }
    Err(FilterError::Qtype(s.to_string()))
}

/// The stored mnemonic of an `--rcode` value: a mnemonic (any case) or a
/// number.
pub fn rcode_filter(s: &str) -> Result<String, FilterError> {
    let t = s.trim();
    let v = match t.parse::<u16>() {
        Ok(n) if n <= 4095 => Some(n),
        Ok(_) => None,
        Err(_) => crate::dns::rcode_value(t),
    };
    v.map(crate::dns::rcode_name)
        .ok_or_else(|| FilterError::Rcode(s.to_string()))
}

#[cfg(test)]
mod filter_tests {
    use super::*;

    #[test]
    fn networks_contain_their_addresses_only() {
        let n = Cidr::parse("192.0.2.0/24").unwrap();
        assert!(n.contains("192.0.2.77".parse().unwrap()));
        assert!(n.contains("::ffff:192.0.2.1".parse().unwrap()));
        assert!(!n.contains("192.0.3.1".parse().unwrap()));
        assert!(!n.contains("2001:db8::1".parse().unwrap()));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:ffff::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert_eq!(
            Cidr::parse("10.0.0.1").unwrap().single(),
            Some("10.0.0.1".parse().unwrap())
        );
        for bad in ["10.0.0.0/33", "300.1.1.1", "host", "10.0.0.0/x", ""] {
            assert_eq!(
                Cidr::parse(bad),
                Err(FilterError::Addr(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn qtype_and_rcode_take_mnemonics_and_numbers() {
        assert_eq!(qtype_filter("aaaa").unwrap(), "AAAA");
        assert_eq!(qtype_filter("28").unwrap(), "AAAA");
        assert_eq!(qtype_filter("65534").unwrap(), "TYPE65534");
        assert_eq!(qtype_filter("type65534").unwrap(), "TYPE65534");
        assert!(qtype_filter("AAAAA").is_err());
        assert_eq!(rcode_filter("nxdomain").unwrap(), "NXDOMAIN");
        assert_eq!(rcode_filter("3").unwrap(), "NXDOMAIN");
        assert!(rcode_filter("5000").is_err());
        assert!(rcode_filter("NXDOMAINS").is_err());
    }
}
