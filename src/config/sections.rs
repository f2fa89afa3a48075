//! The file's sections as typed values with their defaults (what
//! `config/dnswatch.toml` documents key by key).

use super::*;

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
    /// `watched`: the lookups stored in SQLite; `all`: every lookup decoded
    /// (SQLite still keeps only the watched ones).
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
