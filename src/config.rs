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

mod sections;

pub use sections::*;

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
        if ch.record != "watched" && ch.record != "all" {
            return Err(self.invalid(
                &key("record"),
                format!(
                    "{:?}: \"watched\" (the lookups of watched entries) or \"all\" (every lookup decoded)",
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
        s.retention_days = self.raw.storage.retention_days;
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
            // Only with a ClickHouse sink (`setup` puts --clickhouse in url).
            record_all: !self.raw.storage.clickhouse.url.is_empty()
                && self.raw.storage.clickhouse.record == "all",
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
    if let Some(ch) = &clickhouse {
        // What `--clickhouse` overrode (record = "all" depends on a sink).
        config.raw.storage.clickhouse.url = ch.endpoint.url.clone();
    }
    Ok(Setup {
        config,
        watch,
        db,
        alerts,
        clickhouse,
    })
}

#[cfg(test)]
mod tests;
