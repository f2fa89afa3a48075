//! Configuration: a TOML file (every key optional, unknown keys rejected
//! with file, line and key), command-line overrides, and validation into the
//! runtime settings. Relative paths are resolved against the config file's
//! directory.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::decode::DecodeConfig;
use crate::detect::DetectorConfig;
use crate::pipeline::PipelineConfig;
use crate::watch::{WatchError, Watchlist, WatchlistBuilder};

/// Default database path when neither config nor `--db` names one.
pub const DEFAULT_DB: &str = "dnswatch.db";
/// Largest watch-list file read.
const MAX_WATCH_FILE: u64 = 64 << 20;
/// Default commit interval.
pub const DEFAULT_COMMIT_INTERVAL_MS: u64 = 1000;
/// Default metrics address.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9153";

/// Config problems; each names the file and, where known, the line and key.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key or a wrong type.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// File.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong, naming the key.
        message: String,
    },
    /// A value that parses but makes no sense.
    #[error("{}: {key}: {message}", located(.path, *.line))]
    Invalid {
        /// File (or `command line`).
        path: PathBuf,
        /// 1-based line of the key, when it is in the file.
        line: Option<usize>,
        /// Dotted key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A bad line in a watch-list file: the line number and the reason,
    /// never the content (the file may not be the operator's to show).
    #[error("{path}:{line}: invalid watch entry: {reason}")]
    WatchFile {
        /// File.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A bad watch entry.
    #[error("{path}: {key}: {source}")]
    Watch {
        /// File (or `command line`).
        path: PathBuf,
        /// Key or file line.
        key: String,
        /// Cause.
        source: WatchError,
    },
    /// An organisations or holidays file named in `[detectors]` (the error
    /// names the file and line, never its content).
    #[error("{key}: {source}")]
    Reference {
        /// Dotted key that names the file.
        key: String,
        /// Cause, naming file and line.
        source: crate::detect::ReferenceError,
    },
}

fn located(path: &Path, line: Option<usize>) -> String {
    match line {
        Some(l) => format!("{}:{l}", path.display()),
        None => path.display().to_string(),
    }
}

/// `[capture]`.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaptureSection {
    /// Interfaces for `dnswatch run`.
    pub interfaces: Vec<String>,
    /// Ports that carry DNS.
    pub dns_ports: Vec<u16>,
    /// Bytes captured per packet.
    pub snaplen: u32,
    /// Kernel capture buffer per interface, MiB.
    pub buffer_mib: u32,
    /// BPF filter; empty means the built-in DNS filter.
    pub filter: String,
    /// Promiscuous mode.
    pub promiscuous: bool,
    /// libpcap immediate mode (deliver each packet at once).
    pub immediate_mode: bool,
    /// Packets queued between capture threads and the pipeline.
    pub queue_packets: usize,
    /// Sensor name recorded on every lookup; empty means the host name.
    pub sensor: String,
    /// Unix sockets `run` listens on for dnstap (Frame Streams).
    pub dnstap_sockets: Vec<PathBuf>,
    /// Permissions (octal) of the dnstap unix sockets.
    pub dnstap_socket_mode: String,
    /// TCP addresses `run` listens on for dnstap.
    pub dnstap_tcp: Vec<String>,
    /// Record RESOLVER_*, FORWARDER_*, STUB_*, TOOL_* and UPDATE_* dnstap
    /// messages too (with the role appended to the sensor).
    pub dnstap_resolver_messages: bool,
    /// Largest dnstap data frame accepted (bytes).
    pub dnstap_max_frame: usize,
    /// dnstap frames queued between the listeners and the pipeline.
    pub dnstap_queue: usize,
}

impl Default for CaptureSection {
    fn default() -> Self {
        Self {
            interfaces: Vec::new(),
            dns_ports: vec![53],
            snaplen: 4200,
            buffer_mib: 64,
            filter: String::new(),
            promiscuous: false,
            immediate_mode: true,
            queue_packets: 65_536,
            sensor: String::new(),
            dnstap_sockets: Vec::new(),
            dnstap_socket_mode: "0660".into(),
            dnstap_tcp: Vec::new(),
            dnstap_resolver_messages: false,
            dnstap_max_frame: crate::dnstap::frame::DEFAULT_MAX_FRAME,
            dnstap_queue: 65_536,
        }
    }
}

/// `[storage]`.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSection {
    /// SQLite database path.
    pub database: Option<PathBuf>,
    /// Commit at least this often (ms).
    pub commit_interval_ms: u64,
    /// Commit when this many lookups are waiting.
    pub batch_size: usize,
    /// Delete lookups older than this many days (0 keeps them forever).
    pub retention_days: u32,
    /// MiB of unwritten batches the daemon keeps while the database is
    /// locked or full, before it drops the oldest.
    pub max_pending_mb: u32,
    /// Permissions (octal) of the files dnswatch creates: database, WAL,
    /// shared memory, alert log.
    pub file_mode: String,
    /// Passive-DNS rrset store: `watched` (answers of recorded lookups),
    /// `all` (every answered response) or `off`.
    pub pdns: String,
    /// `[storage.clickhouse]`: the fleet store (off unless `url` is set).
    pub clickhouse: ClickHouseSection,
}

/// `[storage.clickhouse]`.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseSection {
    /// `http://host:8123` or `https://host:8443`; empty: off.
    pub url: String,
    /// Database (created if missing).
    pub database: String,
    /// User.
    pub user: String,
    /// Password.
    pub password: String,
    /// Prefix of every table name.
    pub table_prefix: String,
    /// Rows per insert at most.
    pub batch_rows: usize,
    /// Send at least this often (ms).
    pub flush_interval_ms: u64,
    /// PEM CA certificates to trust (https).
    pub tls_ca_file: Option<PathBuf>,
    /// PEM client certificate (https).
    pub tls_cert_file: Option<PathBuf>,
    /// PEM client key (https).
    pub tls_key_file: Option<PathBuf>,
    /// Do not verify the server certificate (testing only).
    pub tls_skip_verify: bool,
    /// `watched`: the lookups stored in SQLite.
    pub record: String,
    /// Spool directory (batches wait here until the server has them).
    pub spool_dir: Option<PathBuf>,
    /// Spool size cap (MiB); beyond it batches are dropped and counted.
    pub spool_max_mb: u32,
    /// `remote_servers` cluster for `Distributed` tables `<table>_all`.
    pub cluster: String,
    /// Seconds to wait at exit for the spool to drain.
    pub drain_timeout_s: u64,
    /// Seconds one HTTP request may take.
    pub timeout_s: u64,
}

impl Default for ClickHouseSection {
    fn default() -> Self {
        Self {
            url: String::new(),
            database: "dnswatch".into(),
            user: "default".into(),
            password: String::new(),
            table_prefix: String::new(),
            batch_rows: 50_000,
            flush_interval_ms: 1000,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            tls_skip_verify: false,
            record: "watched".into(),
            spool_dir: None,
            spool_max_mb: 1024,
            cluster: String::new(),
            drain_timeout_s: 60,
            timeout_s: 30,
        }
    }
}

impl Default for StorageSection {
    fn default() -> Self {
        Self {
            database: None,
            commit_interval_ms: DEFAULT_COMMIT_INTERVAL_MS,
            batch_size: 5000,
            retention_days: 0,
            max_pending_mb: 128,
            file_mode: "0640".into(),
            pdns: "watched".into(),
            clickhouse: ClickHouseSection::default(),
        }
    }
}

/// `[watch]`.
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WatchSection {
    /// Names, zones, addresses and prefixes.
    pub entries: Vec<String>,
    /// Files with one entry per line (`#` comments).
    pub files: Vec<PathBuf>,
}

/// `[limits]`.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    /// Seconds a query waits for its response.
    pub response_timeout_s: f64,
    /// Seconds after the timeout a watched query still pairs with a late response.
    pub late_response_s: f64,
    /// Queries waiting for responses at most.
    pub max_pending_queries: usize,
    /// Fragment buffers, MiB.
    pub fragment_memory_mib: usize,
    /// Seconds a fragmented datagram may take.
    pub fragment_timeout_s: f64,
    /// TCP streams with state at most.
    pub tcp_max_streams: usize,
    /// Bytes buffered by TCP reassembly over all streams, MiB.
    pub tcp_memory_mib: usize,
    /// Seconds before an idle TCP stream is dropped.
    pub tcp_timeout_s: f64,
}

impl Default for LimitsSection {
    fn default() -> Self {
        Self {
            response_timeout_s: 10.0,
            late_response_s: 20.0,
            max_pending_queries: 100_000,
            fragment_memory_mib: 16,
            fragment_timeout_s: 30.0,
            tcp_max_streams: 10_000,
            tcp_memory_mib: 64,
            tcp_timeout_s: 60.0,
        }
    }
}

/// `[alerts]`.
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsSection {
    /// JSON-lines alert log.
    pub log: Option<PathBuf>,
    /// Shape of its lines: `json` (dnswatch's keys) or `ecs`.
    pub format: crate::model::Shape,
}

/// `[metrics]`.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// Address of the Prometheus endpoint; empty disables it.
    pub listen: String,
    /// Seconds between stats lines in the log (0: never).
    pub log_interval_s: u64,
}

impl Default for MetricsSection {
    fn default() -> Self {
        Self {
            listen: DEFAULT_METRICS_LISTEN.into(),
            log_interval_s: 60,
        }
    }
}

/// `[run]`.
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunSection {
    /// User to switch to once the captures are open (empty: stay).
    pub user: String,
}

/// `[privacy]`.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacySection {
    /// Replace querier addresses (and EDNS client subnets) by keyed,
    /// prefix-preserving pseudonyms (Crypto-PAn) before storing or alerting.
    pub pseudonymize_queriers: bool,
    /// Key file: 64 hex digits (or 32 raw bytes). Keep it secret and stable.
    pub key_file: PathBuf,
    /// After this many days, clear `scrub_fields` in stored lookups (0: never).
    pub scrub_after_days: u32,
    /// Fields cleared: any of `ecs`, `querier_port`, `server_port`, `source`, `answers`.
    pub scrub_fields: Vec<String>,
}

impl Default for PrivacySection {
    fn default() -> Self {
        Self {
            pseudonymize_queriers: false,
            key_file: PathBuf::from("pseudonym.key"),
            scrub_after_days: 0,
            scrub_fields: vec!["ecs".into(), "querier_port".into(), "source".into()],
        }
    }
}

pub use crate::store::SCRUBBABLE;

/// The whole file.
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    /// `[capture]`.
    pub capture: CaptureSection,
    /// `[storage]`.
    pub storage: StorageSection,
    /// `[watch]`.
    pub watch: WatchSection,
    /// `[limits]`.
    pub limits: LimitsSection,
    /// `[alerts]`.
    pub alerts: AlertsSection,
    /// `[metrics]`.
    pub metrics: MetricsSection,
    /// `[detectors.*]`.
    pub detectors: DetectorConfig,
    /// `[privacy]`.
    pub privacy: PrivacySection,
    /// `[run]`.
    pub run: RunSection,
}

/// A loaded config: the raw values with paths resolved.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Where it came from (`None`: defaults only).
    pub path: Option<PathBuf>,
    /// Values.
    pub raw: RawConfig,
    /// The file's text, to find the line of a key in messages.
    text: String,
}

/// The 1-based line where the dotted `key` is set in the TOML `text`, if it is.
fn key_line(text: &str, key: &str) -> Option<usize> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let mut table = doc.get_ref();
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let (k, v) = table.iter().find(|(k, _)| k.get_ref().as_ref() == part)?;
        if parts.peek().is_none() {
            return Some(line_col(text, k.span().start).0);
        }
        match v.get_ref() {
            toml::de::DeValue::Table(t) => table = t,
            _ => return None,
        }
    }
    None
}

/// The dotted key whose value covers byte `offset` of `text` (the most
/// specific one), if the text parses as TOML.
fn key_at(text: &str, offset: usize) -> Option<String> {
    fn walk(table: &toml::de::DeTable<'_>, offset: usize, path: &mut Vec<String>) -> bool {
        // A `[table]`'s span is its header, not its keys: search every
        // table, take the value (or array) whose span covers the offset.
        for (k, v) in table.iter() {
            path.push(k.get_ref().to_string());
            let ks = k.span();
            if ks.start <= offset && offset < ks.end {
                return true;
            }
            match v.get_ref() {
                toml::de::DeValue::Table(t) => {
                    if walk(t, offset, path) {
                        return true;
                    }
                }
                _ => {
                    let span = v.span();
                    if span.start <= offset && offset < span.end.max(span.start + 1) {
                        return true;
                    }
                }
            }
            path.pop();
        }
        false
    }
    let doc = toml::de::DeTable::parse(text).ok()?;
    let mut path = Vec::new();
    walk(doc.get_ref(), offset, &mut path).then(|| path.join("."))
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, column)
}

impl Config {
    /// Parses TOML text; `path` is used in messages and to resolve relative paths.
    pub fn from_str(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
            let message = e.message().trim().to_string();
            // Range and type errors name the value, not its key: add it.
            let message = match e.span().and_then(|s| key_at(text, s.start)) {
                Some(key) if !message.contains(&format!("`{key}`")) => format!("{key}: {message}"),
                _ => message,
            };
            ConfigError::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        })?;
        let mut cfg = Self {
            path: Some(path.to_path_buf()),
            raw,
            text: text.to_string(),
        };
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(db) = cfg.raw.storage.database.as_mut() {
            resolve(db);
        }
        if let Some(log) = cfg.raw.alerts.log.as_mut() {
            resolve(log);
        }
        {
            let ch = &mut cfg.raw.storage.clickhouse;
            for p in [
                &mut ch.spool_dir,
                &mut ch.tls_ca_file,
                &mut ch.tls_cert_file,
                &mut ch.tls_key_file,
            ]
            .into_iter()
            .flatten()
            {
                resolve(p);
            }
        }
        for f in &mut cfg.raw.watch.files {
            resolve(f);
        }
        for f in &mut cfg.raw.capture.dnstap_sockets {
            resolve(f);
        }
        let credential = cfg
            .raw
            .privacy
            .key_file
            .to_str()
            .is_some_and(|k| k.starts_with(crate::privacy::CREDENTIAL_PREFIX));
        if !credential {
            resolve(&mut cfg.raw.privacy.key_file);
        }
        if let Some(f) = cfg.raw.detectors.organisations_file.as_mut() {
            resolve(f);
        }
        if let Some(f) = cfg.raw.detectors.holidays_file.as_mut() {
            resolve(f);
        }
        if let Some(f) = cfg.raw.detectors.asn_database.as_mut() {
            resolve(f);
        }
        // The watch list is checked where it is built (`watchlist`), once:
        // compiling a large list twice would double the start-up time.
        cfg.validate_values()?;
        Ok(cfg)
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_str(&text, path)
    }

    fn where_(&self) -> PathBuf {
        self.path
            .clone()
            .unwrap_or_else(|| PathBuf::from("(defaults)"))
    }

    /// An [`ConfigError::Invalid`] for `key` (dotted), located in the file.
    pub fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.where_(),
            line: key_line(&self.text, key),
            key: key.into(),
            message: message.into(),
        }
    }

    /// Checks value ranges and the watch list.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_values()?;
        self.watchlist(&[])?;
        Ok(())
    }

    /// Checks value ranges, files and modes, but not the watch list.
    pub fn validate_values(&self) -> Result<(), ConfigError> {
        let r = &self.raw;
        if r.capture.dns_ports.is_empty() {
            return Err(self.invalid("capture.dns_ports", "at least one port is needed"));
        }
        if r.capture.dns_ports.contains(&0) {
            return Err(self.invalid("capture.dns_ports", "port 0 carries no DNS"));
        }
        if crate::model::PdnsScope::parse(&r.storage.pdns).is_none() {
            return Err(self.invalid(
                "storage.pdns",
                format!("{:?}: use \"watched\", \"all\" or \"off\"", r.storage.pdns),
            ));
        }
        // Ranges: every size below is allocated or multiplied, so a huge
        // value must fail here, not abort the daemon on allocation.
        let ranges: [(&str, u64, u64, u64, &str); 11] = [
            (
                "capture.snaplen",
                u64::from(r.capture.snaplen),
                64,
                262_144,
                "bytes",
            ),
            (
                "capture.buffer_mib",
                u64::from(r.capture.buffer_mib),
                1,
                2047,
                "MiB",
            ),
            (
                "capture.queue_packets",
                r.capture.queue_packets as u64,
                1,
                1 << 20,
                "packets",
            ),
            (
                "storage.commit_interval_ms",
                r.storage.commit_interval_ms,
                1,
                3_600_000,
                "ms",
            ),
            (
                "storage.batch_size",
                r.storage.batch_size as u64,
                1,
                1_000_000,
                "lookups",
            ),
            (
                "limits.max_pending_queries",
                r.limits.max_pending_queries as u64,
                1,
                10_000_000,
                "queries",
            ),
            (
                "limits.fragment_memory_mib",
                r.limits.fragment_memory_mib as u64,
                1,
                4096,
                "MiB",
            ),
            (
                "limits.tcp_max_streams",
                r.limits.tcp_max_streams as u64,
                1,
                1_000_000,
                "streams",
            ),
            (
                "limits.tcp_memory_mib",
                r.limits.tcp_memory_mib as u64,
                1,
                4096,
                "MiB",
            ),
            (
                "storage.max_pending_mb",
                u64::from(r.storage.max_pending_mb),
                1,
                16_384,
                "MiB",
            ),
            (
                "metrics.log_interval_s",
                r.metrics.log_interval_s,
                0,
                86_400,
                "seconds",
            ),
        ];
        for (key, v, lo, hi, unit) in ranges {
            if !(lo..=hi).contains(&v) {
                return Err(self.invalid(key, format!("{v} is outside {lo} to {hi} ({unit})")));
            }
        }
        for (key, v) in [
            ("limits.response_timeout_s", r.limits.response_timeout_s),
            ("limits.fragment_timeout_s", r.limits.fragment_timeout_s),
            ("limits.tcp_timeout_s", r.limits.tcp_timeout_s),
        ] {
            if !(v.is_finite() && v > 0.0 && v < 86_400.0) {
                return Err(self.invalid(key, "must be a number of seconds between 0 and 86400"));
            }
        }

        let late = r.limits.late_response_s;
        if !(late.is_finite() && (0.0..86_400.0).contains(&late)) {
            return Err(self.invalid(
                "limits.late_response_s",
                "must be a number of seconds from 0 to 86400",
            ));
        }

        self.file_mode()?;
        self.dnstap_listen()?;
        self.validate_clickhouse()?;
        for (key, days) in [
            ("storage.retention_days", r.storage.retention_days),
            ("privacy.scrub_after_days", r.privacy.scrub_after_days),
        ] {
            if days > crate::time::MAX_DAYS {
                return Err(self.invalid(
                    key,
                    format!(
                        "{days} days is more than {} (100 years); use 0 to keep lookups forever",
                        crate::time::MAX_DAYS
                    ),
                ));
            }
        }
        if !r.metrics.listen.is_empty() && r.metrics.listen.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(self.invalid(
                "metrics.listen",
                "must be ADDRESS:PORT (or empty to disable)",
            ));
        }
        for f in &r.privacy.scrub_fields {
            if !SCRUBBABLE.iter().any(|(k, _)| k == f) {
                return Err(self.invalid(
                    "privacy.scrub_fields",
                    format!("{f:?} is not one of ecs, querier_port, server_port, source, answers"),
                ));
            }
        }
        // A key that is not there yet (a systemd credential exists only
        // inside the service) is reported when the daemon starts; one that
        // is there must be a small regular file holding a key.
        let key = crate::privacy::key_path(&r.privacy.key_file);
        if r.privacy.pseudonymize_queriers
            && key
                .as_ref()
                .is_ok_and(|k| std::fs::symlink_metadata(k).is_ok())
        {
            crate::privacy::CryptoPan::from_key_file(&r.privacy.key_file)
                .map_err(|e| self.invalid("privacy.key_file", e.to_string()))?;
        }
        if !r.run.user.is_empty() {
            crate::privileges::lookup(&r.run.user)
                .map_err(|e| self.invalid("run.user", e.to_string()))?;
        }
        r.detectors
            .validate()
            .map_err(|(key, msg)| self.invalid(&format!("detectors.{key}"), msg))?;
        crate::detect::Reference::load(&r.detectors).map_err(|source| {
            let key = match source.path() {
                Some(p) if Some(p) == r.detectors.holidays_file.as_deref() => {
                    "detectors.holidays_file"
                }
                Some(p) if Some(p) == r.detectors.asn_database.as_deref() => {
                    "detectors.asn_database"
                }
                _ => "detectors.organisations_file",
            };
            ConfigError::Reference {
                key: key.to_string(),
                source,
            }
        })?;
        Ok(())
    }

    fn validate_clickhouse(&self) -> Result<(), ConfigError> {
        let ch = &self.raw.storage.clickhouse;
        let key = |k: &str| format!("storage.clickhouse.{k}");
        if !(ch.url.is_empty() || ch.url.starts_with("http://") || ch.url.starts_with("https://")) {
            return Err(self.invalid(&key("url"), "must start with http:// or https://"));
        }
        if ch.record != "watched" {
            return Err(self.invalid(
                &key("record"),
                format!(
                    "{:?}: only \"watched\" is supported (the lookups of watched entries)",
                    ch.record
                ),
            ));
        }
        for (k, v, lo, hi) in [
            ("batch_rows", ch.batch_rows as u64, 1, 1_000_000),
            ("flush_interval_ms", ch.flush_interval_ms, 1, 3_600_000),
            ("spool_max_mb", u64::from(ch.spool_max_mb), 1, 1 << 20),
            ("drain_timeout_s", ch.drain_timeout_s, 0, 86_400),
            ("timeout_s", ch.timeout_s, 1, 3600),
        ] {
            if !(lo..=hi).contains(&v) {
                return Err(self.invalid(&key(k), format!("{v} is outside {lo} to {hi}")));
            }
        }
        for (k, v) in [("database", &ch.database), ("user", &ch.user)] {
            if v.is_empty() {
                return Err(self.invalid(&key(k), "must not be empty"));
            }
        }
        if ch.tls_cert_file.is_some() != ch.tls_key_file.is_some() {
            return Err(self.invalid(
                &key("tls_cert_file"),
                "tls_cert_file and tls_key_file go together",
            ));
        }
        for (k, f) in [
            ("tls_ca_file", &ch.tls_ca_file),
            ("tls_cert_file", &ch.tls_cert_file),
            ("tls_key_file", &ch.tls_key_file),
        ] {
            if let Some(f) = f {
                if !f.is_file() {
                    return Err(
                        self.invalid(&key(k), format!("{} is not a readable file", f.display()))
                    );
                }
            }
        }
        Ok(())
    }

    /// The ClickHouse sink settings when a URL is configured or given
    /// (`--clickhouse` overrides the file); rows carry [`Config::sensor`]. The
    /// spool defaults to `<database file>.clickhouse-spool`.
    pub fn clickhouse(
        &self,
        url: Option<&str>,
        db: &Path,
    ) -> Option<crate::store::clickhouse::Settings> {
        use crate::store::clickhouse::{client::Tls, Settings};
        let ch = &self.raw.storage.clickhouse;
        let url = url.filter(|u| !u.is_empty()).unwrap_or(&ch.url);
        if url.is_empty() {
            return None;
        }
        let sensor = self.sensor();
        let spool = ch.spool_dir.clone().unwrap_or_else(|| {
            let mut p = db.as_os_str().to_owned();
            p.push(".clickhouse-spool");
            PathBuf::from(p)
        });
        let mut s = Settings::new(url, &sensor, spool);
        s.endpoint.user = ch.user.clone();
        s.endpoint.password = ch.password.clone();
        s.endpoint.timeout = std::time::Duration::from_secs(ch.timeout_s);
        s.endpoint.tls = Tls {
            ca_file: ch.tls_ca_file.clone(),
            cert_file: ch.tls_cert_file.clone(),
            key_file: ch.tls_key_file.clone(),
            skip_verify: ch.tls_skip_verify,
        };
        s.database = ch.database.clone();
        s.table_prefix = ch.table_prefix.clone();
        s.batch_rows = ch.batch_rows;
        s.flush_interval = std::time::Duration::from_millis(ch.flush_interval_ms);
        s.spool_max_bytes = u64::from(ch.spool_max_mb) << 20;
        s.cluster = ch.cluster.clone();
        s.drain_timeout = std::time::Duration::from_secs(ch.drain_timeout_s);
        Some(s)
    }

    /// `storage.file_mode` as permission bits: octal, owner read-write, no
    /// execute or special bits.
    pub fn file_mode(&self) -> Result<u32, ConfigError> {
        let text = self.raw.storage.file_mode.trim();
        let mode = u32::from_str_radix(text, 8).ok().filter(|m| *m <= 0o7777);
        match mode {
            Some(m) if m & !0o666 == 0 && m & 0o600 == 0o600 => Ok(m),
            _ => Err(self.invalid(
                "storage.file_mode",
                format!("{text:?} is not an octal mode with owner read-write and no execute bits (like \"0640\")"),
            )),
        }
    }

    /// The dnstap listeners `[capture] dnstap_*` ask for (validated).
    pub fn dnstap_listen(&self) -> Result<crate::dnstap::listen::ListenConfig, ConfigError> {
        let c = &self.raw.capture;
        let text = c.dnstap_socket_mode.trim();
        let unix_mode = u32::from_str_radix(text, 8)
            .ok()
            .filter(|m| *m & !0o777 == 0 && *m & 0o600 == 0o600)
            .ok_or_else(|| {
                self.invalid(
                    "capture.dnstap_socket_mode",
                    format!("{text:?} is not an octal mode with owner read-write (like \"0660\")"),
                )
            })?;
        let mut tcp = Vec::with_capacity(c.dnstap_tcp.len());
        for a in &c.dnstap_tcp {
            tcp.push(a.parse::<std::net::SocketAddr>().map_err(|_| {
                self.invalid(
                    "capture.dnstap_tcp",
                    format!("{a:?} is not ADDRESS:PORT (like \"127.0.0.1:6000\")"),
                )
            })?);
        }
        for p in &c.dnstap_sockets {
            if p.as_os_str().is_empty() {
                return Err(self.invalid("capture.dnstap_sockets", "empty socket path"));
            }
        }
        for (key, v, lo, hi, unit) in [
            (
                "capture.dnstap_max_frame",
                c.dnstap_max_frame,
                1024,
                16 << 20,
                "bytes",
            ),
            ("capture.dnstap_queue", c.dnstap_queue, 1, 1 << 20, "frames"),
        ] {
            if !(lo..=hi).contains(&v) {
                return Err(self.invalid(key, format!("{v} is outside {lo} to {hi} ({unit})")));
            }
        }
        Ok(crate::dnstap::listen::ListenConfig {
            unix: c.dnstap_sockets.clone(),
            unix_mode,
            tcp,
            max_frame: c.dnstap_max_frame,
        })
    }

    /// Builds the watch list from the config plus `extra` entries (command line).
    pub fn watchlist(&self, extra: &[String]) -> Result<Watchlist, ConfigError> {
        // One builder for everything, in order: config entries, files,
        // command line; linear in the number of entries.
        let mut b = WatchlistBuilder::default();
        // Unicode names are watched as IDNA A-labels (what goes on the wire).
        let idna = |at: &str, e: &str| {
            if !e.is_ascii() {
                if let Some(a) = crate::watch::to_a_labels(e.trim()) {
                    tracing::info!("{at}: Unicode watch entry watched as {a}");
                }
            }
        };
        for (i, e) in self.raw.watch.entries.iter().enumerate() {
            idna(
                &format!("{}: watch.entries[{i}]", self.where_().display()),
                e,
            );
            b.add(e).map_err(|source| ConfigError::Watch {
                path: self.where_(),
                key: format!("watch.entries[{i}]"),
                source,
            })?;
        }
        for file in &self.raw.watch.files {
            // A watch list is a small regular file: refuse devices, FIFOs and
            // anything huge rather than block or exhaust memory reading it.
            let meta = std::fs::metadata(file).map_err(|source| ConfigError::Read {
                path: file.clone(),
                source,
            })?;
            if !meta.is_file() || meta.len() > MAX_WATCH_FILE {
                return Err(ConfigError::Read {
                    path: file.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "a watch list must be a regular file of at most 64 MiB",
                    ),
                });
            }
            let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
                path: file.clone(),
                source,
            })?;
            for (i, line) in text.lines().enumerate() {
                let line = line.split('#').next().unwrap_or("").trim();
                if line.is_empty() {
                    continue;
                }
                idna(&format!("{}:{}", file.display(), i + 1), line);
                b.add(line).map_err(|e| ConfigError::WatchFile {
                    path: file.clone(),
                    line: i + 1,
                    reason: e.reason,
                })?;
            }
        }
        for e in extra {
            idna("--watch", e);
            b.add(e).map_err(|source| ConfigError::Watch {
                path: PathBuf::from("command line"),
                key: "--watch".into(),
                source,
            })?;
        }
        Ok(b.finish())
    }

    /// The sensor name: `capture.sensor`, else the host name.
    pub fn sensor(&self) -> String {
        if self.raw.capture.sensor.is_empty() {
            rustix::system::uname()
                .nodename()
                .to_string_lossy()
                .into_owned()
        } else {
            self.raw.capture.sensor.clone()
        }
    }

    /// Pipeline settings.
    pub fn pipeline(&self) -> PipelineConfig {
        let l = &self.raw.limits;
        let s = |v: f64| (v * 1e6) as i64;
        PipelineConfig {
            decode: DecodeConfig {
                dns_ports: self.raw.capture.dns_ports.clone(),
                fragment_memory: l.fragment_memory_mib << 20,
                fragment_timeout_us: s(l.fragment_timeout_s),
                tcp_max_streams: l.tcp_max_streams,
                tcp_memory: l.tcp_memory_mib << 20,
                tcp_timeout_us: s(l.tcp_timeout_s),
            },
            response_timeout_us: s(l.response_timeout_s),
            late_response_us: s(l.late_response_s),
            max_pending: l.max_pending_queries,
            sensor: self.sensor(),
            pdns: crate::model::PdnsScope::parse(&self.raw.storage.pdns).unwrap_or_default(),
        }
    }
}

/// Config, watch list and paths resolved from the shared options.
#[derive(Debug)]
pub struct Setup {
    /// The configuration with command-line overrides applied.
    pub config: Config,
    /// The compiled watch list.
    pub watch: Watchlist,
    /// SQLite database path.
    pub db: std::path::PathBuf,
    /// Alert log path, if any.
    pub alerts: Option<std::path::PathBuf>,
    /// The ClickHouse sink's settings, when `--clickhouse` or
    /// `storage.clickhouse.url` is given.
    pub clickhouse: Option<crate::store::clickhouse::Settings>,
}

/// Resolves config file, command-line overrides, watch list and paths
/// (a usage error, exit 2, when any of them is wrong).
pub fn setup(common: &crate::cli::CommonArgs) -> Result<Setup, crate::exit::ExitError> {
    let usage = |e: ConfigError| crate::exit::ExitError::Usage(e.to_string());
    let mut config = match &common.config {
        Some(path) => Config::load(path).map_err(usage)?,
        None => Config::default(),
    };
    if !common.ports.is_empty() {
        config.raw.capture.dns_ports = common.ports.clone();
    }
    if let Some(sensor) = &common.sensor {
        config.raw.capture.sensor = sensor.clone();
    }
    crate::files::set_file_mode(config.file_mode().map_err(usage)?);
    let watch = config.watchlist(&common.watch).map_err(usage)?;
    let db = common
        .db
        .clone()
        .or_else(|| config.raw.storage.database.clone())
        .unwrap_or_else(|| std::path::PathBuf::from(DEFAULT_DB));
    let alerts = common
        .alerts
        .clone()
        .or_else(|| config.raw.alerts.log.clone());
    if let Some(url) = &common.clickhouse {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(crate::exit::ExitError::Usage(format!(
                "--clickhouse {url}: the URL must start with http:// or https://"
            )));
        }
    }
    let clickhouse = config.clickhouse(common.clickhouse.as_deref(), &db);
    Ok(Setup {
        config,
        watch,
        db,
        alerts,
        clickhouse,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let text =
            "[storage]\ncommit_interval_ms = 5\n\n[capture]\nsnaplen = 1500\nbogus_key = 1\n";
        let err = Config::from_str(text, Path::new("/etc/dnswatch/x.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("/etc/dnswatch/x.toml:6:"), "{msg}");
        assert!(msg.contains("bogus_key"), "{msg}");
    }

    #[test]
    fn wrong_type_and_bad_values() {
        let err =
            Config::from_str("[capture]\nsnaplen = \"big\"\n", Path::new("c.toml")).unwrap_err();
        assert!(err.to_string().starts_with("c.toml:2:"), "{err}");
        let err = Config::from_str("[limits]\nresponse_timeout_s = -1\n", Path::new("c.toml"))
            .unwrap_err();
        assert!(
            err.to_string().contains("limits.response_timeout_s"),
            "{err}"
        );
        let err = Config::from_str(
            "[watch]\nentries = [\"ok.com\", \"10.0.0.0/99\"]\n",
            Path::new("c.toml"),
        )
        .unwrap()
        .watchlist(&[])
        .unwrap_err();
        assert!(err.to_string().contains("watch.entries[1]"), "{err}");
    }

    #[test]
    fn dnstap_keys_are_validated_with_file_line_and_key() {
        let text = "[capture]\ndnstap_sockets = [\"dnstap.sock\"]\ndnstap_tcp = [\"127.0.0.1\"]\n";
        let err = Config::from_str(text, Path::new("/etc/dnswatch/d.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("/etc/dnswatch/d.toml:3: capture.dnstap_tcp:"),
            "{msg}"
        );
        let err = Config::from_str(
            "[capture]\ndnstap_socket_mode = \"0777x\"\n",
            Path::new("d.toml"),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("d.toml:2: capture.dnstap_socket_mode:"),
            "{err}"
        );
        let err =
            Config::from_str("[capture]\ndnstap_max_frame = 5\n", Path::new("d.toml")).unwrap_err();
        assert!(
            err.to_string().contains("capture.dnstap_max_frame"),
            "{err}"
        );
        let ok = Config::from_str(
            "[capture]\ndnstap_sockets = [\"dnstap.sock\"]\ndnstap_tcp = [\"127.0.0.1:6000\"]\n",
            Path::new("/etc/dnswatch/d.toml"),
        )
        .unwrap();
        let l = ok.dnstap_listen().unwrap();
        assert_eq!(l.unix, vec![PathBuf::from("/etc/dnswatch/dnstap.sock")]);
        assert_eq!(l.unix_mode, 0o660);
        assert_eq!(l.tcp.len(), 1);
    }

    #[test]
    fn watch_files_must_be_regular_files() {
        let err = Config::from_str("[watch]\nfiles = [\"/dev/zero\"]\n", Path::new("c.toml"))
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("regular file"), "{err}");
    }

    #[test]
    fn relative_paths_resolve_against_the_file() {
        let cfg = Config::from_str(
            "[storage]\ndatabase = \"state/x.db\"\n",
            Path::new("/etc/dnswatch/d.toml"),
        )
        .unwrap();
        assert_eq!(
            cfg.raw.storage.database,
            Some(PathBuf::from("/etc/dnswatch/state/x.db"))
        );
    }

    #[test]
    fn detector_reference_files_resolve_and_errors_name_file_and_line() {
        let dir = std::env::temp_dir().join(format!("dnswatch-cfgref-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("orgs.csv"), "# prefix,org\n198.51.100.0/23,Bank\n").unwrap();
        std::fs::write(dir.join("days.txt"), "2016-12-25\nsecret-token\n").unwrap();
        let cfg_path = dir.join("d.toml");
        let ok = Config::from_str(
            "[detectors]\norganisations_file = \"orgs.csv\"\n",
            &cfg_path,
        )
        .unwrap();
        assert_eq!(
            ok.raw.detectors.organisations_file,
            Some(dir.join("orgs.csv"))
        );
        let err = Config::from_str("[detectors]\nholidays_file = \"days.txt\"\n", &cfg_path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("detectors.holidays_file"), "{err}");
        assert!(err.contains("days.txt:2"), "{err}");
        assert!(!err.contains("secret-token"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn key_paths(v: &toml::Value, prefix: &str, out: &mut Vec<String>) {
        if let toml::Value::Table(t) = v {
            for (k, v) in t {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                key_paths(v, &p, out);
                out.push(p);
            }
        }
    }

    #[test]
    fn clickhouse_errors_name_file_line_and_key() {
        let path = Path::new("/etc/dnswatch/x.toml");
        for (text, key, line) in [
            (
                "[storage.clickhouse]\nurl = \"ftp://x\"\n",
                "storage.clickhouse.url",
                2,
            ),
            (
                "[storage.clickhouse]\n\nbatch_rows = 0\n",
                "storage.clickhouse.batch_rows",
                3,
            ),
            (
                "[storage.clickhouse]\nrecord = \"all\"\n",
                "storage.clickhouse.record",
                2,
            ),
            ("[storage]\n\npdns = \"everything\"\n", "storage.pdns", 3),
            (
                "[storage.clickhouse]\ntls_cert_file = \"c.pem\"\n",
                "storage.clickhouse.tls_cert_file",
                2,
            ),
        ] {
            let e = Config::from_str(text, path).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("/etc/dnswatch/x.toml:{line}: {key}:")),
                "{e}"
            );
        }
        let cfg = Config::from_str(
            "[capture]\nsensor = \"s1\"\n[storage.clickhouse]\nurl = \"http://127.0.0.1:8123\"\nspool_dir = \"sp\"\n",
            path,
        )
        .unwrap();
        let s = cfg.clickhouse(None, Path::new("d.db")).unwrap();
        assert_eq!(s.sensor, "s1");
        assert_eq!(s.spool_dir, Path::new("/etc/dnswatch/sp"));
        let s = cfg
            .clickhouse(Some("http://h:1"), Path::new("d.db"))
            .unwrap();
        assert_eq!(s.endpoint.url, "http://h:1");
        let s = Config::default()
            .clickhouse(Some("http://h:1"), Path::new("/x/d.db"))
            .unwrap();
        assert_eq!(s.spool_dir, Path::new("/x/d.db.clickhouse-spool"));
        assert!(Config::default()
            .clickhouse(None, Path::new("d.db"))
            .is_none());
    }

    #[test]
    fn complete_example_covers_every_key() {
        let defaults = toml::Value::try_from(RawConfig::default()).unwrap();
        let mut want = Vec::new();
        key_paths(&defaults, "", &mut want);
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/dnswatch.toml");
        let example: toml::Value = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut have = Vec::new();
        key_paths(&example, "", &mut have);
        let missing: Vec<&String> = want.iter().filter(|k| !have.contains(k)).collect();
        assert!(missing.is_empty(), "config/dnswatch.toml lacks {missing:?}");
        assert!(want.len() > 40, "{want:?}");
    }

    #[test]
    fn shipped_example_configs_parse() {
        for f in ["config/dnswatch.toml", "config/replay.toml"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(f);
            let cfg = Config::load(&path);
            assert!(cfg.is_ok(), "{f}: {:?}", cfg.err());
        }
    }
}
