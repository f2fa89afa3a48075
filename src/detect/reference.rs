//! What the operator tells the detectors about the world: which networks
//! belong to which organisation, and which days are public holidays.
//!
//! Queriers are judged as networks (`/24`, `/48` by default) and, when an
//! organisation file is given, as organisations: two resolvers of one bank in
//! adjacent /24s are one querier for concentration and `new_querier`.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::DetectorConfig;

/// A reference file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A database that could not be opened.
    #[error("{path}: not a MaxMind database: {reason}")]
    Database {
        /// File.
        path: PathBuf,
        /// What the reader said.
        reason: String,
    },
    /// A line is not what it should be (the content is not echoed).
    #[error("{path}:{line}: {reason}")]
    Line {
        /// File.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

impl ReferenceError {
    /// The file the error is about.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Read { path, .. } | Self::Line { path, .. } | Self::Database { path, .. } => {
                Some(path)
            }
        }
    }
}

/// Largest reference file read (a prefix table of a few million lines).
const MAX_FILE: u64 = 256 << 20;

fn read(path: &Path) -> Result<String, ReferenceError> {
    let err = |source| ReferenceError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(err)?;
    if !meta.is_file() || meta.len() > MAX_FILE {
        return Err(err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file of at most 256 MiB",
        )));
    }
    let bytes = std::fs::read(path).map_err(err)?;
    String::from_utf8(bytes).map_err(|_| {
        err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not UTF-8 text",
        ))
    })
}

/// Lines that carry data: 1-based number and trimmed text, without blank
/// lines and `#` comments.
fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

/// A querier group at some level.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Group {
    /// A network prefix (`217.12.96.0/24`).
    Network(String),
    /// A named organisation.
    Org(String),
}

impl Group {
    /// Text for evidence and messages.
    pub fn label(&self) -> &str {
        match self {
            Self::Network(s) | Self::Org(s) => s,
        }
    }
}

fn masked(ip: IpAddr, len: u8) -> u128 {
    match ip {
        IpAddr::V4(v4) => {
            let x = u32::from(v4);
            let m = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len.min(32)))
            };
            u128::from(x & m)
        }
        IpAddr::V6(v6) => {
            let x = u128::from(v6);
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len.min(128)))
            };
            x & m
        }
    }
}

/// An operator-supplied ASN database in MaxMind format (GeoLite2-ASN or
/// compatible): read whole into memory once, looked up per new querier.
#[derive(Clone)]
struct AsnDb(std::sync::Arc<maxminddb::Reader<Vec<u8>>>);

impl std::fmt::Debug for AsnDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AsnDb({})", self.0.metadata().database_type)
    }
}

/// One record of an ASN database.
#[derive(serde::Deserialize)]
struct AsnRecord<'a> {
    autonomous_system_number: Option<u32>,
    autonomous_system_organization: Option<&'a str>,
}

impl AsnDb {
    /// `AS15632 Alfa Bank` for `ip`, when the database holds it.
    fn organisation(&self, ip: IpAddr) -> Option<String> {
        let found = self.0.lookup(ip).ok()?;
        let rec: AsnRecord<'_> = found.decode().ok()??;
        match (
            rec.autonomous_system_number,
            rec.autonomous_system_organization,
        ) {
            (Some(n), Some(o)) => Some(format!("AS{n} {o}")),
            (Some(n), None) => Some(format!("AS{n}")),
            (None, Some(o)) => Some(o.to_string()),
            (None, None) => None,
        }
    }
}

/// Reference data of the detectors.
#[derive(Clone, Debug, Default)]
pub struct Reference {
    v4_len: u8,
    v6_len: u8,
    /// Prefix lengths present, longest first, per family (v4, v6).
    lens: (Vec<u8>, Vec<u8>),
    orgs: HashMap<(bool, u8, u128), String>,
    asn: Option<AsnDb>,
    holidays: BTreeSet<i64>,
}

impl Reference {
    /// Loads the files named in `cfg` (none: networks only, no holidays).
    pub fn load(cfg: &DetectorConfig) -> Result<Self, ReferenceError> {
        let mut r = Self {
            v4_len: cfg.network_prefix_v4,
            v6_len: cfg.network_prefix_v6,
            ..Self::default()
        };
        if let Some(p) = &cfg.organisations_file {
            r.load_orgs(p, &read(p)?)?;
        }
        if let Some(p) = &cfg.holidays_file {
            r.load_holidays(p, &read(p)?)?;
        }
        if let Some(p) = &cfg.asn_database {
            let meta = std::fs::metadata(p).map_err(|source| ReferenceError::Read {
                path: p.clone(),
                source,
            })?;
            if !meta.is_file() || meta.len() > MAX_FILE {
                return Err(ReferenceError::Read {
                    path: p.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "not a regular file of at most 256 MiB",
                    ),
                });
            }
            let db = maxminddb::Reader::open_readfile(p).map_err(|e| ReferenceError::Database {
                path: p.clone(),
                reason: e.to_string(),
            })?;
            r.asn = Some(AsnDb(std::sync::Arc::new(db)));
        }
        Ok(r)
    }

    /// Networks only, with the default prefix lengths.
    pub fn networks(v4_len: u8, v6_len: u8) -> Self {
        Self {
            v4_len,
            v6_len,
            ..Self::default()
        }
    }

    fn load_orgs(&mut self, path: &Path, text: &str) -> Result<(), ReferenceError> {
        let bad = |line: usize, reason: &str| ReferenceError::Line {
            path: path.to_path_buf(),
            line,
            reason: reason.to_string(),
        };
        for (n, line) in data_lines(text) {
            let Some((prefix, org)) = line.split_once(',') else {
                return Err(bad(n, "expected PREFIX,ORGANISATION"));
            };
            let org = org.trim().trim_matches('"').trim();
            if org.is_empty() {
                return Err(bad(n, "empty organisation"));
            }
            let prefix = prefix.trim();
            let (addr, len) = match prefix.split_once('/') {
                Some((a, l)) => (a, Some(l)),
                None => (prefix, None),
            };
            let ip: IpAddr = addr
                .parse()
                .map_err(|_| bad(n, "the prefix is not an IP address or CIDR"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let len = match len {
                Some(l) => l
                    .parse::<u8>()
                    .ok()
                    .filter(|l| *l <= max)
                    .ok_or_else(|| bad(n, "bad prefix length"))?,
                None => max,
            };
            let v4 = ip.is_ipv4();
            self.orgs
                .insert((v4, len, masked(ip, len)), org.to_string());
            let lens = if v4 {
                &mut self.lens.0
            } else {
                &mut self.lens.1
            };
            if !lens.contains(&len) {
                lens.push(len);
                lens.sort_unstable_by(|a, b| b.cmp(a));
            }
        }
        Ok(())
    }

    fn load_holidays(&mut self, path: &Path, text: &str) -> Result<(), ReferenceError> {
        for (n, line) in data_lines(text) {
            let date = line.split([' ', '\t', ',']).next().unwrap_or("");
            let day = parse_date(date).ok_or_else(|| ReferenceError::Line {
                path: path.to_path_buf(),
                line: n,
                reason: "expected a date YYYY-MM-DD".into(),
            })?;
            self.holidays.insert(day);
        }
        Ok(())
    }

    /// The organisation of `ip`, if the file names one (longest prefix).
    /// The operator's own prefix file wins (longest prefix); then the ASN
    /// database, as `AS<number> <organisation>`.
    pub fn organisation(&self, ip: IpAddr) -> Option<Cow<'_, str>> {
        let v4 = ip.is_ipv4();
        let lens = if v4 { &self.lens.0 } else { &self.lens.1 };
        lens.iter()
            .find_map(|len| self.orgs.get(&(v4, *len, masked(ip, *len))))
            .map(|s| Cow::Borrowed(s.as_str()))
            .or_else(|| self.asn.as_ref()?.organisation(ip).map(Cow::Owned))
    }

    /// Whether organisations are known at all.
    pub fn has_organisations(&self) -> bool {
        !self.orgs.is_empty() || self.asn.is_some()
    }

    /// The network of `ip` (`a.b.c.0/24`, `x:y:z::/48`).
    pub fn network(&self, ip: IpAddr) -> Group {
        let (len, text) = match ip {
            IpAddr::V4(_) => {
                let m = masked(ip, self.v4_len);
                let a = std::net::Ipv4Addr::from(u32::try_from(m).unwrap_or(0));
                (self.v4_len, a.to_string())
            }
            IpAddr::V6(_) => {
                let a = std::net::Ipv6Addr::from(masked(ip, self.v6_len));
                (self.v6_len, a.to_string())
            }
        };
        Group::Network(format!("{text}/{len}"))
    }

    /// The coarsest group known for `ip`: its organisation when the file
    /// names one, else its network.
    pub fn group(&self, ip: IpAddr) -> Group {
        match self.organisation(ip) {
            Some(o) => Group::Org(o.to_string()),
            None => self.network(ip),
        }
    }

    /// Whether the day (days since the epoch) is a listed holiday.
    pub fn is_holiday(&self, day: i64) -> bool {
        self.holidays.contains(&day)
    }
}

/// Queriers' group labels (organisation, network, address), computed once
/// per address: naming a group formats addresses and may search an ASN
/// database, which is not work to repeat for every lookup.
#[derive(Debug, Default)]
pub struct Labels(rustc_hash::FxHashMap<IpAddr, [Option<std::sync::Arc<str>>; 3]>);

impl Labels {
    /// Addresses remembered before the cache starts afresh.
    const MAX: usize = 200_000;

    /// `[organisation, network, address]` of `ip` (no organisation when
    /// none is known).
    pub fn of(&mut self, r: &Reference, ip: IpAddr) -> &[Option<std::sync::Arc<str>>; 3] {
        if self.0.len() > Self::MAX && !self.0.contains_key(&ip) {
            self.0.clear();
        }
        self.0.entry(ip).or_insert_with(|| {
            [
                r.organisation(ip).map(std::sync::Arc::from),
                Some(std::sync::Arc::from(r.network(ip).label())),
                Some(std::sync::Arc::from(ip.to_string().as_str())),
            ]
        })
    }
}

/// `YYYY-MM-DD` to days since the epoch.
fn parse_date(s: &str) -> Option<i64> {
    let mut it = s.split('-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let d: u32 = it.next()?.parse().ok()?;
    if it.next().is_some()
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&d)
        || !(1900..=9999).contains(&y)
    {
        return None;
    }
    Some(crate::time::days_from_civil(y, m, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_names_the_organisation() {
        let mut r = Reference::networks(24, 48);
        r.load_orgs(
            Path::new("orgs.csv"),
            "# prefix,org\n217.12.96.0/23,Alfa Bank\n217.12.97.0/24,\"Alfa Bank NS2\"\n2001:db8::/32,Example v6\n",
        )
        .unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            r.organisation(ip("217.12.96.15")).as_deref(),
            Some("Alfa Bank")
        );
        assert_eq!(
            r.organisation(ip("217.12.97.15")).as_deref(),
            Some("Alfa Bank NS2")
        );
        assert_eq!(r.organisation(ip("217.12.98.1")), None);
        assert_eq!(
            r.organisation(ip("2001:db8:1::5")).as_deref(),
            Some("Example v6")
        );
        assert_eq!(
            r.group(ip("10.1.2.3")),
            Group::Network("10.1.2.0/24".into())
        );
        assert_eq!(
            r.network(ip("2001:db8:aa:bb::1")),
            Group::Network("2001:db8:aa::/48".into())
        );
    }

    fn asn_test_db() -> PathBuf {
        // Written by tests/data/make-asn-mmdb.py (MaxMind's own writer format).
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/asn-test.mmdb")
    }

    #[test]
    fn an_asn_database_names_organisations_the_csv_does_not() {
        let cfg = DetectorConfig {
            asn_database: Some(asn_test_db()),
            ..DetectorConfig::default()
        };
        let mut r = Reference::load(&cfg).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(r.has_organisations());
        // Two resolvers in adjacent /24s of one AS are one organisation.
        assert_eq!(
            r.organisation(ip("217.12.96.15")).as_deref(),
            Some("AS15632 Alfa Bank")
        );
        assert_eq!(
            r.organisation(ip("217.12.97.15")).as_deref(),
            Some("AS15632 Alfa Bank")
        );
        assert_eq!(
            r.organisation(ip("2001:db8:1ff::53")).as_deref(),
            Some("AS64501 Example v6 Carrier")
        );
        assert_eq!(r.organisation(ip("192.0.2.1")), None);
        assert_eq!(
            r.group(ip("192.0.2.1")),
            Group::Network("192.0.2.0/24".into())
        );
        // The operator's own file wins over the database.
        r.load_orgs(Path::new("orgs.csv"), "198.51.100.0/25,Clinic LAN\n")
            .unwrap();
        assert_eq!(
            r.organisation(ip("198.51.100.7")).as_deref(),
            Some("Clinic LAN")
        );
        assert_eq!(
            r.organisation(ip("198.51.100.200")).as_deref(),
            Some("AS64500 Example Health")
        );
    }

    #[test]
    fn a_file_that_is_not_a_database_is_named() {
        let cfg = DetectorConfig {
            asn_database: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")),
            ..DetectorConfig::default()
        };
        let e = Reference::load(&cfg).unwrap_err().to_string();
        assert!(
            e.contains("Cargo.toml") && e.contains("not a MaxMind database"),
            "{e}"
        );
    }

    #[test]
    fn bad_lines_are_named_without_their_content() {
        let mut r = Reference::default();
        let e = r
            .load_orgs(Path::new("o.csv"), "10.0.0.0/8,A\nsecret-line-text\n")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "o.csv:2: expected PREFIX,ORGANISATION");
        let e = r
            .load_orgs(Path::new("o.csv"), "10.0.0.0/33,A\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("o.csv:1:"), "{e}");
        let e = r
            .load_holidays(Path::new("h.txt"), "2016-07-04\n\n# x\n2016-13-01\n")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "h.txt:4: expected a date YYYY-MM-DD");
        r.load_holidays(Path::new("h.txt"), "2016-07-04 Independence Day\n")
            .unwrap();
        assert!(r.is_holiday(crate::time::days_from_civil(2016, 7, 4)));
    }
}
