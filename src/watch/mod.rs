//! The watch list: which names, zones and addresses an operator cares about.
//!
//! Matching is by hash lookups on label-boundary suffixes of the query name
//! and on masked addresses per distinct prefix length, so its cost depends on
//! the number of labels and of distinct prefix lengths, never on the number of
//! entries.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rustc_hash::{FxHashMap, FxHashSet};
use thiserror::Error;

use crate::dns::wire::NameBuf;

/// A watch entry that could not be understood.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("invalid watch entry {entry:?}: {reason}")]
pub struct WatchError {
    /// The entry as given.
    pub entry: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct NameRule {
    /// Index of the entry that matches the name itself (exact or zone).
    itself: Option<u32>,
    /// Index of the entry that matches names below it (zone or wildcard).
    below: Option<u32>,
}

/// A compiled watch list.
#[derive(Clone, Debug, Default)]
pub struct Watchlist {
    entries: Vec<String>,
    everything: Option<u32>,
    names: FxHashMap<Box<[u8]>, NameRule>,
    v4_lens: Vec<u8>,
    v4: FxHashMap<(u8, u32), u32>,
    v6_lens: Vec<u8>,
    v6: FxHashMap<(u8, u128), u32>,
}

/// Builds a [`Watchlist`] entry by entry in linear time (for callers that
/// need to know which entry of which source failed).
#[derive(Debug, Default)]
pub struct WatchlistBuilder {
    list: Watchlist,
    seen: FxHashSet<Box<str>>,
}

impl WatchlistBuilder {
    /// Adds an entry (duplicates are ignored).
    pub fn add(&mut self, raw: &str) -> Result<(), WatchError> {
        self.list.add(raw, &mut self.seen)
    }

    /// The compiled list.
    pub fn finish(self) -> Watchlist {
        let mut w = self.list;
        w.v4_lens.sort_unstable_by(|a, b| b.cmp(a));
        w.v4_lens.dedup();
        w.v6_lens.sort_unstable_by(|a, b| b.cmp(a));
        w.v6_lens.dedup();
        w.entries.shrink_to_fit();
        w
    }
}

/// The result of matching: which entry matched (its text is [`Watchlist::entry`]).
pub type EntryId = u32;

fn normalise_name(raw: &str) -> String {
    raw.trim().trim_end_matches('.').to_ascii_lowercase()
}

fn parse_prefix(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l.parse::<u8>().ok().filter(|l| *l <= max)?,
        None => max,
    };
    Some((addr, len))
}

/// A Unicode name entry in IDNA A-labels (`bücher.example` →
/// `xn--bcher-kva.example`), keeping a leading `*.` or `=`; ASCII entries
/// unchanged. `None` when it is not a valid internationalised name.
pub fn to_a_labels(text: &str) -> Option<String> {
    if text.is_ascii() {
        return Some(text.to_string());
    }
    let (prefix, name) = if let Some(rest) = text.strip_prefix("*.") {
        ("*.", rest)
    } else if let Some(rest) = text.strip_prefix('=') {
        ("=", rest)
    } else {
        ("", text)
    };
    let ascii = idna::domain_to_ascii(name.trim_end_matches('.')).ok()?;
    (!ascii.is_empty()).then(|| format!("{prefix}{ascii}"))
}

fn mask4(a: u32, len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        a & (u32::MAX << (32 - u32::from(len)))
    }
}

fn mask6(a: u128, len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        a & (u128::MAX << (128 - u32::from(len)))
    }
}

impl Watchlist {
    /// Compiles entries: `.` (everything), `name`, `zone` (same as name: it
    /// and everything below), `*.zone` (only below), `addr`, `addr/len`.
    ///
    /// A plain name watches itself and every name below it, as a zone does;
    /// write `=name` to watch exactly that name and nothing below.
    pub fn new<I, S>(entries: I) -> Result<Self, WatchError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut b = WatchlistBuilder::default();
        for raw in entries {
            b.add(raw.as_ref())?;
        }
        Ok(b.finish())
    }

    /// Adds one entry; `seen` holds the texts added so far (duplicates are
    /// skipped in O(1), so a build is linear in the number of entries).
    fn add(&mut self, raw: &str, seen: &mut FxHashSet<Box<str>>) -> Result<(), WatchError> {
        let text = raw.trim();
        let err = |reason| WatchError {
            entry: raw.to_string(),
            reason,
        };
        if text.is_empty() {
            return Err(err("empty entry"));
        }
        if seen.contains(text) {
            return Ok(());
        }
        let ascii =
            to_a_labels(text).ok_or_else(|| err("not a valid internationalised domain name"))?;
        if ascii != text && seen.contains(ascii.as_str()) {
            seen.insert(text.into());
            return Ok(());
        }
        self.add_new(&ascii, &err)?;
        seen.insert(text.into());
        if ascii != text {
            seen.insert(ascii.into());
        }
        Ok(())
    }

    fn add_new(
        &mut self,
        text: &str,
        err: &dyn Fn(&'static str) -> WatchError,
    ) -> Result<(), WatchError> {
        let id = self.entries.len() as u32;
        if text == "." {
            self.everything = Some(id);
            self.entries.push(text.to_string());
            return Ok(());
        }
        if let Some((addr, len)) = parse_prefix(text) {
            match addr {
                IpAddr::V4(a) => {
                    self.v4.entry((len, mask4(u32::from(a), len))).or_insert(id);
                    self.v4_lens.push(len);
                }
                IpAddr::V6(a) => {
                    self.v6
                        .entry((len, mask6(u128::from(a), len)))
                        .or_insert(id);
                    self.v6_lens.push(len);
                }
            }
            self.entries.push(text.to_string());
            return Ok(());
        }
        if text.contains('/') {
            return Err(err("not an address prefix (expected ADDR/LEN)"));
        }
        let (exact, below_only, name) = if let Some(rest) = text.strip_prefix("*.") {
            (false, true, normalise_name(rest))
        } else if let Some(rest) = text.strip_prefix('=') {
            (true, false, normalise_name(rest))
        } else {
            (false, false, normalise_name(text))
        };
        if name.is_empty() || name.split('.').any(|l| l.is_empty() || l.len() > 63) {
            return Err(err(
                "not a domain name (empty label or label over 63 characters)",
            ));
        }
        if name.len() > 253 {
            return Err(err("domain name longer than 253 characters"));
        }
        if name.contains(char::is_whitespace) || name.contains('*') {
            return Err(err(
                "domain names may not contain spaces or '*' except a leading '*.'",
            ));
        }
        // Host names (RFC 952/1123: letters, digits, inner hyphens) plus
        // '_' for the service labels people watch (_dmarc, _tcp); Unicode
        // was IDN-encoded above, so anything else is a typo.
        let ldh = |l: &str| {
            l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !name.split('.').all(ldh) {
            return Err(err(
                "not a host name (letters, digits, inner '-' and '_' only; Unicode names are IDN-encoded)",
            ));
        }
        // No top-level domain is all digits: this is a mistyped address.
        if name
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(err(
                "not an IP address (a part is over 255?) and not a domain name (all-digit last label)",
            ));
        }
        let rule = self.names.entry(name.into_bytes().into()).or_default();
        if !below_only {
            rule.itself.get_or_insert(id);
        }
        if !exact {
            rule.below.get_or_insert(id);
        }
        self.entries.push(text.to_string());
        Ok(())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is watched.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entry text by id.
    pub fn entry(&self, id: EntryId) -> &str {
        self.entries.get(id as usize).map_or("?", String::as_str)
    }

    /// All entries as given.
    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    /// True when any address or prefix is watched (so answers must be read).
    pub fn watches_addresses(&self) -> bool {
        self.everything.is_some() || !self.v4.is_empty() || !self.v6.is_empty()
    }

    /// True when `.` is on the list.
    pub fn watches_everything(&self) -> bool {
        self.everything.is_some()
    }

    /// Matches a query name (as produced by the pre-parse); PTR names of
    /// watched addresses match too.
    /// `.` is the fallback: a more specific entry wins (so `--watch .
    /// --watch example.com` still files example.com's lookups under it).
    pub fn match_name(&self, name: &NameBuf) -> Option<EntryId> {
        let bytes = name.as_bytes();
        if !self.names.is_empty() {
            // Most specific first: the whole name, then shorter suffixes.
            for (i, &start) in name.label_starts().iter().enumerate() {
                let Some(suffix) = bytes.get(usize::from(start)..) else {
                    continue;
                };
                if let Some(rule) = self.names.get(suffix) {
                    let hit = if i == 0 { rule.itself } else { rule.below };
                    if hit.is_some() {
                        return hit;
                    }
                }
            }
        }
        if !self.v4.is_empty() || !self.v6.is_empty() {
            if let Some(addr) = reverse_name_addr(name.as_str()) {
                return self.match_addr(addr);
            }
        }
        self.everything
    }

    /// Matches a name given as text (used for report lookups and tests).
    pub fn match_name_str(&self, name: &str) -> Option<EntryId> {
        let mut buf = NameBuf::default();
        let n = normalise_name(name);
        if !n.is_empty() {
            for label in n.split('.') {
                buf.push_label(label.as_bytes());
            }
        }
        self.match_name(&buf)
    }

    /// Matches an answer address (`.` only when no prefix does).
    pub fn match_addr(&self, addr: IpAddr) -> Option<EntryId> {
        let specific = match addr {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4_lens
                    .iter()
                    .find_map(|&len| self.v4.get(&(len, mask4(a, len))).copied())
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6_lens
                    .iter()
                    .find_map(|&len| self.v6.get(&(len, mask6(a, len))).copied())
            }
        };
        specific.or(self.everything)
    }

    /// The entries that are plain names (for reports).
    pub fn name_entries(&self) -> FxHashSet<&str> {
        self.entries
            .iter()
            .filter(|e| parse_prefix(e).is_none() && e.as_str() != ".")
            .map(String::as_str)
            .collect()
    }
}

/// The address a complete reverse name stands for
/// (`29.133.216.66.in-addr.arpa` → 66.216.133.29; 32-nibble `ip6.arpa`).
pub fn reverse_name_addr(name: &str) -> Option<IpAddr> {
    if let Some(rest) = name.strip_suffix(".in-addr.arpa") {
        let mut octets = [0u8; 4];
        let parts: Vec<&str> = rest.split('.').collect();
        if parts.len() != 4 {
            return None;
        }
        for (i, p) in parts.iter().rev().enumerate() {
            if p.is_empty() || p.len() > 3 || (p.len() > 1 && p.starts_with('0')) {
                return None;
            }
            octets[i] = p.parse().ok()?;
        }
        return Some(IpAddr::V4(Ipv4Addr::from(octets)));
    }
    if let Some(rest) = name.strip_suffix(".ip6.arpa") {
        let nibbles: Vec<&str> = rest.split('.').collect();
        if nibbles.len() != 32 {
            return None;
        }
        let mut value: u128 = 0;
        for n in nibbles.iter().rev() {
            if n.len() != 1 {
                return None;
            }
            value = (value << 4) | u128::from(u8::from_str_radix(n, 16).ok()?);
        }
        return Some(IpAddr::V6(Ipv6Addr::from(value)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn w(entries: &[&str]) -> Watchlist {
        Watchlist::new(entries).unwrap()
    }

    #[test]
    fn zones_wildcards_exact() {
        let l = w(&["example.com", "*.wild.org", "=exact.net"]);
        assert!(l.match_name_str("example.com").is_some());
        assert!(l.match_name_str("a.b.Example.COM.").is_some());
        assert!(l.match_name_str("notexample.com").is_none());
        assert!(l.match_name_str("com").is_none());
        assert!(l.match_name_str("wild.org").is_none());
        assert!(l.match_name_str("x.wild.org").is_some());
        assert!(l.match_name_str("exact.net").is_some());
        assert!(l.match_name_str("a.exact.net").is_none());
    }

    #[test]
    fn most_specific_entry_wins() {
        let l = w(&["example.com", "mail.example.com"]);
        let id = l.match_name_str("x.mail.example.com").unwrap();
        assert_eq!(l.entry(id), "mail.example.com");
    }

    #[test]
    fn addresses_prefixes_and_ptr() {
        let l = w(&["66.216.133.29", "2001:db8::/32", "10.0.0.0/8"]);
        assert!(l.match_addr("66.216.133.29".parse().unwrap()).is_some());
        assert!(l.match_addr("66.216.133.30".parse().unwrap()).is_none());
        assert!(l.match_addr("10.200.1.1".parse().unwrap()).is_some());
        assert!(l.match_addr("2001:db8:1::5".parse().unwrap()).is_some());
        assert!(l.match_addr("2001:db9::5".parse().unwrap()).is_none());
        assert!(l.match_name_str("29.133.216.66.in-addr.arpa").is_some());
        assert!(l.match_name_str("30.133.216.66.in-addr.arpa").is_none());
        let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa";
        assert!(l.match_name_str(v6).is_some());
        assert!(l.watches_addresses());
    }

    #[test]
    fn everything_and_errors() {
        let l = w(&["."]);
        assert!(l.match_name_str("anything.at.all").is_some());
        assert!(l.match_addr("192.0.2.1".parse().unwrap()).is_some());
        assert!(Watchlist::new(["a..b"]).is_err());
        assert!(Watchlist::new(["10.0.0.0/33"]).is_err());
        assert!(Watchlist::new([""]).is_err());
        assert!(Watchlist::new(["a*b.com"]).is_err());
    }

    /// `.` is the fallback: a more specific name, zone, address or prefix
    /// entry wins whatever the order of the list.
    #[test]
    fn more_specific_entries_win_over_everything() {
        for list in [
            [".", "example.com", "192.0.2.0/24"],
            ["example.com", "192.0.2.0/24", "."],
        ] {
            let l = w(&list);
            let id = |e: &str| l.entries().iter().position(|x| x == e).unwrap();
            let got = |m: Option<EntryId>| m.map(|m| m as usize);
            assert_eq!(
                got(l.match_name_str("www.example.com")),
                Some(id("example.com"))
            );
            assert_eq!(got(l.match_name_str("other.org")), Some(id(".")));
            assert_eq!(
                got(l.match_addr("192.0.2.9".parse().unwrap())),
                Some(id("192.0.2.0/24"))
            );
            assert_eq!(
                got(l.match_addr("198.51.100.1".parse().unwrap())),
                Some(id("."))
            );
            assert_eq!(
                got(l.match_name_str("9.2.0.192.in-addr.arpa")),
                Some(id("192.0.2.0/24"))
            );
        }
    }

    #[test]
    fn reverse_names() {
        assert_eq!(
            reverse_name_addr("29.133.216.66.in-addr.arpa"),
            Some("66.216.133.29".parse().unwrap())
        );
        assert_eq!(reverse_name_addr("133.216.66.in-addr.arpa"), None);
        assert_eq!(reverse_name_addr("029.133.216.66.in-addr.arpa"), None);
    }

    #[test]
    fn mistyped_addresses_and_non_host_names_are_refused() {
        for bad in [
            "300.1.1.1",
            "1.2.3",
            "-a.example",
            "a-.example",
            "a!b.example",
            "a b.example",
        ] {
            assert!(Watchlist::new([bad]).is_err(), "{bad} accepted");
        }
        for good in [
            "_dmarc.example.com",
            "xn--bcher-kva.de",
            "bücher.de",
            "1.2.3.4",
            "a-b.example",
            "3com.com",
        ] {
            assert!(Watchlist::new([good]).is_ok(), "{good} refused");
        }
    }

    proptest! {
        #[test]
        fn label_boundary_and_case(labels in proptest::collection::vec("[a-z0-9]{1,8}", 0..4),
                                   tld in "[a-z][a-z0-9]{0,7}",
                                   prefix in "[a-z0-9]{1,5}", upper in any::<bool>()) {
            // No top-level domain is all digits (such entries are refused
            // as mistyped addresses).
            let zone = labels.iter().chain([&tld]).cloned().collect::<Vec<_>>().join(".");
            let l = Watchlist::new([zone.as_str()]).unwrap();
            let sub = format!("{prefix}.{zone}");
            let glued = format!("{prefix}{zone}");
            let probe = if upper { sub.to_ascii_uppercase() } else { sub.clone() };
            prop_assert!(l.match_name_str(&probe).is_some());
            prop_assert!(l.match_name_str(&zone.to_ascii_uppercase()).is_some());
            prop_assert!(l.match_name_str(&glued).is_none());
        }
    }
}
