//! Command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Passive DNS capture and live monitor.
///
/// dnswatch decodes DNS from live interfaces or pcap/pcapng files, records
/// every lookup that touches a watched name, zone or address in SQLite, and
/// raises alerts when a watched host gets unusual queriers or an unusual
/// rhythm of lookups.
///
/// Watch entries: `example.com` (the name and everything below it),
/// `*.example.com` (only names below it), `=host.example.com` (exactly that
/// name), `192.0.2.10` or `2001:db8::/32` (lookups whose answers fall inside,
/// and PTR lookups of those addresses), `.` (everything).
///
/// Exit status: 0 success, 1 runtime failure, 2 usage or configuration error.
#[derive(Debug, Parser)]
#[command(
    name = "dnswatch",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Log filter (tracing EnvFilter syntax, e.g. `info`, `dnswatch=debug`);
    /// RUST_LOG overrides it.
    #[arg(long, global = true, default_value = "info", value_name = "FILTER")]
    pub log: String,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replay capture files into the database.
    ///
    /// Reads pcap and pcapng files, merging their packets by time (a file
    /// after another, or interleaved where they overlap in time, which is
    /// reported), so the order of the files on the command line changes
    /// nothing. Equal times across files go by each file's first packet
    /// time, then its name. Decodes every DNS message on the DNS ports (UDP, TCP with stream
    /// reassembly, IPv4/IPv6 fragments, VLAN, GRE/ERSPAN, VXLAN, GENEVE,
    /// Teredo and IP-in-IP tunnels), pairs queries with responses and stores
    /// one row per lookup touching the watch list. Opening an existing
    /// database appends to it. A summary is printed at the end; a progress
    /// bar is shown on a terminal.
    ///
    /// A truncated or damaged file is read up to the damage; the byte offset
    /// and the bytes lost are reported and the replay goes on (exit 0). A
    /// file that is not a capture stops the run before anything is written
    /// (exit 1). Any other error reading a file (an I/O error, a pcapng
    /// section of an unknown version) is reported with the file and byte
    /// offset; what was read is kept and the exit status is 1.
    ///
    /// Example: dnswatch replay --db case.db --watch example.com --watch 192.0.2.10 capture.pcap
    Replay(ReplayArgs),
    /// Capture live on interfaces and record watched lookups (the daemon).
    ///
    /// Opens each interface with libpcap (immediate mode, the built-in DNS
    /// filter unless capture.filter is set), migrates the database, drops
    /// all capabilities and tells systemd it is ready (Type=notify). Packets
    /// go through the same pipeline as `replay`, so the same packets give
    /// the same lookups and alerts.
    ///
    /// Signals: SIGTERM or SIGINT stop capture, drain the queue, record
    /// pending queries as unanswered, commit and exit 0. SIGHUP re-reads and
    /// validates the configuration and watch list (a bad one is logged and
    /// the running one kept), applies every changed key that can be applied
    /// live (watch lists, detectors, querier pseudonymisation, DNS ports, the
    /// BPF filter of the open captures, commit, retention and scrubbing
    /// settings), logs each other changed key as needing a restart, and
    /// reopens the alert log.
    ///
    /// Metrics: Prometheus text at http://<metrics.listen>/metrics (default
    /// 127.0.0.1:9153); a stats line in the log every metrics.log_interval_s.
    ///
    /// Example: dnswatch run --config /etc/dnswatch/dnswatch.toml -i eth0
    Run(RunArgs),
    /// List recorded lookups.
    ///
    /// Formats: `table` (aligned columns for people), `csv` (header row,
    /// answers as `type data` joined with `|`), `json` (one object per line:
    /// ts, querier, querier_port, server, server_port, transport, qname,
    /// qtype, qclass, flags, rcode, answers[name,type,ttl,data], rtt_us, ecs,
    /// query_seen, answered, source).
    Lookups(LookupsArgs),
    /// Passive DNS: which records a name had, or which names pointed at an
    /// address, network or name.
    ///
    /// Reads the rrset table (storage.pdns): one row per (name, type, data,
    /// bailiwick, sensor) with first and last seen and the number of
    /// responses that carried it. NAME is exact, or `*.zone` for the zone
    /// and every name under it. --rdata takes an address, a CIDR
    /// (192.0.2.0/24, 2001:db8::/32), or a name (or `*.zone`) that CNAME,
    /// DNAME, NS, PTR, MX, SRV, SVCB or HTTPS records point at. Both are
    /// index lookups. --since/--until keep rrsets seen within the window.
    ///
    /// Formats: `table`, `csv` (header row), `json` (the Passive DNS Common
    /// Output Format, one object per line: rrname, rrtype, rdata,
    /// time_first, time_last, count, bailiwick, sensor_id, time_first_ms,
    /// time_last_ms).
    ///
    /// Example: dnswatch pdns --db case.db --rdata 192.0.2.7
    Pdns(PdnsArgs),
    /// List alerts, or follow them as they are raised.
    ///
    /// Reads the alerts table of the database (the same alerts as the
    /// JSON-lines log). With --follow, keeps polling and prints new alerts as
    /// a running daemon or replay commits them; stop with Ctrl-C.
    Alerts(AlertsArgs),
    /// The evidence report for one watched entry.
    ///
    /// Total lookups; queriers with count, share, first and last seen and
    /// periodicity (coefficient of variation of gaps, burstiness, best phase-
    /// locked period with its p-value); lookups per day; bursts and quiet
    /// periods found; rcode and answer history; names seen resolving to
    /// watched addresses. --svg draws the timeline (per-day lookups stacked by
    /// top queriers, bursts and quiet periods marked); --events overlays a
    /// CSV of dated events (date,label) and lists, for each burst and quiet
    /// period, the events within two days of it.
    Report(ReportArgs),
    /// Database maintenance: `prune` old lookups, `stats` about the contents.
    #[command(subcommand)]
    Db(DbCommand),
    /// Run the detectors over the fleet's lookups in ClickHouse.
    ///
    /// Reads every sensor's lookups between --since and --until from the
    /// ClickHouse store in packet-time order (ties by sensor, provenance and
    /// name, so the same data give the same alerts), runs the same
    /// detectors as `replay` and `run` over them as one stream, prints the
    /// alerts (JSON lines, with "scope": "fleet") and stores them in the
    /// alerts table with scope `fleet` (an alert already stored, same id, is
    /// not stored again). Patterns only the fleet shows: a few
    /// organisations holding most of a name's lookups across the sensors
    /// that each saw part of them.
    ///
    /// Example: dnswatch detect --clickhouse http://127.0.0.1:8123 --since 2016-07-01 --until 2016-10-01
    Detect(DetectArgs),
    /// Validate a configuration file and its watch list, then exit.
    ///
    /// Prints nothing and exits 0 when the configuration is valid; otherwise
    /// prints the file, line and key at fault and exits 2. Used by the
    /// systemd unit before start and reload.
    CheckConfig(CheckConfigArgs),
}

/// Options shared by `replay` and `run`.
#[derive(Debug, Args, Clone, Default)]
pub struct CommonArgs {
    /// Configuration file (TOML). Every key is optional; see config/dnswatch.toml.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// SQLite database to write (created if missing, appended otherwise).
    /// Overrides storage.database; default `dnswatch.db`.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Watch entry; repeat for several. Added to the config's watch list.
    #[arg(short, long = "watch", value_name = "ENTRY")]
    pub watch: Vec<String>,
    /// JSON-lines alert log to append to (overrides alerts.log).
    #[arg(long, value_name = "PATH")]
    pub alerts: Option<PathBuf>,
    /// DNS port; repeat for several (overrides capture.dns_ports; default 53).
    #[arg(long = "port", value_name = "PORT")]
    pub ports: Vec<u16>,
    /// Also send lookups, alerts, summaries and hourly counters to this
    /// ClickHouse server (HTTP interface, e.g. http://127.0.0.1:8123);
    /// overrides storage.clickhouse.url. Batches are spooled on disk first
    /// (storage.clickhouse.spool_dir, default `<db>.clickhouse-spool`).
    #[arg(long, value_name = "URL")]
    pub clickhouse: Option<String>,
    /// Sensor name recorded on every lookup (overrides capture.sensor;
    /// default: the host name).
    #[arg(long, value_name = "NAME")]
    pub sensor: Option<String>,
}

/// `replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Never show a progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Write no SQLite database: the lookups go to ClickHouse only (needs
    /// --clickhouse or storage.clickhouse.url; the detectors start without
    /// the history a database would give them).
    #[arg(long)]
    pub no_db: bool,
    /// BPF filter (libpcap syntax, e.g. `udp port 53 and host 192.0.2.1`)
    /// applied to the packets of capture files; dnstap messages are not
    /// filtered. Wins over capture.filter of the config, which replay
    /// honours too when --bpf is not given. A filter libpcap cannot compile
    /// is exit 2.
    #[arg(long, value_name = "FILTER")]
    pub bpf: Option<String>,
    /// Descend into the subdirectories of directories given as CAPTURE.
    #[arg(short = 'r', long)]
    pub recursive: bool,
    /// Capture files (pcap or pcapng) or dnstap files (Frame Streams, as
    /// fstrm_capture writes them), recognised by content and merged by time;
    /// gzip and zstd compressed ones are read as they are (recognised by
    /// their first bytes, whatever their name). `-` reads one from standard
    /// input. A directory stands for its files in name order (files in it
    /// that are not captures are skipped with a note).
    #[arg(required = true, value_name = "CAPTURE")]
    pub files: Vec<PathBuf>,
}

/// `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Interface to capture on; repeat for several (overrides capture.interfaces).
    #[arg(short = 'i', long = "interface", value_name = "IFACE")]
    pub interfaces: Vec<String>,
    /// Listen for dnstap (Frame Streams) on this unix socket; repeat for
    /// several (adds to capture.dnstap_sockets). With only dnstap inputs no
    /// interface is opened and no CAP_NET_RAW is needed.
    #[arg(long = "dnstap-socket", value_name = "PATH")]
    pub dnstap_sockets: Vec<PathBuf>,
    /// Listen for dnstap over TCP on ADDR:PORT; repeat for several (adds to
    /// capture.dnstap_tcp).
    #[arg(long = "dnstap-tcp", value_name = "ADDR:PORT")]
    pub dnstap_tcp: Vec<std::net::SocketAddr>,
    /// Once the captures are open, switch to this user (and its group), as
    /// tcpdump -Z does (overrides run.user). Needs to start as root.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
}

/// Output formats of `lookups`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns.
    #[default]
    Table,
    /// Comma-separated values with a header.
    Csv,
    /// One JSON object per line.
    Json,
    /// One Elastic Common Schema (ECS) object per line.
    Ecs,
}

/// Output formats of `pdns`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum PdnsFormat {
    /// Aligned columns.
    #[default]
    Table,
    /// Comma-separated values with a header.
    Csv,
    /// Passive DNS Common Output Format, one JSON object per line.
    Json,
}

/// `lookups`.
#[derive(Debug, Args)]
pub struct LookupsArgs {
    /// Database to read.
    #[arg(long, value_name = "PATH", default_value = "dnswatch.db")]
    pub db: PathBuf,
    /// Only this query name; `*.zone` for the zone and everything below it.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Only lookups by this querier: an address, or a network such as
    /// `192.0.2.0/24` or `2001:db8::/32`.
    #[arg(long, value_name = "IP|CIDR")]
    pub querier: Option<String>,
    /// Only lookups sent to this server: an address or a network.
    #[arg(long, value_name = "IP|CIDR")]
    pub server: Option<String>,
    /// Only lookups of this query type: a mnemonic (A, AAAA, TXT, TYPE65534…,
    /// any case) or a number (28).
    #[arg(long, value_name = "TYPE")]
    pub qtype: Option<String>,
    /// Only lookups answered with this rcode: a mnemonic (NOERROR,
    /// NXDOMAIN, SERVFAIL…, any case) or a number (3).
    #[arg(long, value_name = "RCODE")]
    pub rcode: Option<String>,
    /// Only lookups that matched this watch entry.
    #[arg(long, value_name = "ENTRY")]
    pub entry: Option<String>,
    /// From this time (RFC 3339, `YYYY-MM-DD[ HH:MM[:SS]]` UTC, or `@unix-seconds`).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Up to (not including) this time.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Stop after this many rows.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Fleet store.
    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// `pdns`.
#[derive(Debug, Args)]
pub struct PdnsArgs {
    /// Database to read.
    #[arg(long, value_name = "PATH", default_value = "dnswatch.db")]
    pub db: PathBuf,
    /// Owner name, or `*.zone` for the zone and every name under it.
    #[arg(value_name = "NAME", required_unless_present = "rdata")]
    pub name: Option<String>,
    /// Names whose records point here: an address, a CIDR, a name or `*.zone`.
    #[arg(long, value_name = "ADDRESS|CIDR|NAME")]
    pub rdata: Option<String>,
    /// Only rrsets last seen at or after this time (RFC 3339,
    /// `YYYY-MM-DD[ HH:MM[:SS]]` UTC, or `@unix-seconds`).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only rrsets first seen before this time.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only what this sensor saw.
    #[arg(long, value_name = "NAME")]
    pub sensor: Option<String>,
    /// Output format (`json`: Passive DNS Common Output Format lines).
    #[arg(long, value_enum, default_value_t = PdnsFormat::Table)]
    pub format: PdnsFormat,
    /// Stop after this many rows.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

/// Reading the fleet's ClickHouse store instead of a SQLite database.
#[derive(Debug, Args, Clone, Default)]
pub struct FleetArgs {
    /// Read the fleet's ClickHouse store (HTTP URL, e.g.
    /// http://127.0.0.1:8123) instead of --db: the lookups and alerts of
    /// every sensor (the `<table>_all` Distributed tables when
    /// storage.clickhouse.cluster is set).
    #[arg(long, value_name = "URL")]
    pub clickhouse: Option<String>,
    /// With --clickhouse: only what this sensor recorded.
    #[arg(long, value_name = "NAME", requires = "clickhouse")]
    pub sensor: Option<String>,
    /// With --clickhouse: configuration file whose [storage.clickhouse]
    /// gives the database, credentials, TLS, table prefix and cluster.
    #[arg(long = "config", value_name = "FILE", requires = "clickhouse")]
    pub config: Option<PathBuf>,
}

/// `detect`.
#[derive(Debug, Args)]
pub struct DetectArgs {
    /// The fleet's ClickHouse store (HTTP URL).
    #[arg(long, value_name = "URL", required = true)]
    pub clickhouse: Option<String>,
    /// Only lookups of this sensor (default: every sensor).
    #[arg(long, value_name = "NAME")]
    pub sensor: Option<String>,
    /// Configuration file: [storage.clickhouse] (database, credentials,
    /// cluster) and [detectors] (thresholds).
    #[arg(long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// From this time (RFC 3339, `YYYY-MM-DD[ HH:MM[:SS]]` UTC, or `@unix-seconds`).
    #[arg(long, value_name = "TIME")]
    pub since: String,
    /// Up to (not including) this time (default: everything after --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Print the alerts only; do not store them in ClickHouse.
    #[arg(long)]
    pub dry_run: bool,
}

/// `check-config`.
#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// Configuration file.
    #[arg(
        short,
        long,
        value_name = "FILE",
        default_value = "/etc/dnswatch/dnswatch.toml"
    )]
    pub config: PathBuf,
}

/// Output formats of `alerts`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum AlertFormat {
    /// Aligned columns.
    #[default]
    Table,
    /// One JSON object per line (the alert log format).
    Json,
    /// Comma-separated values (RFC 4180) with a header row: ts, severity,
    /// kind, entry, name, querier, message.
    Csv,
    /// One Elastic Common Schema (ECS) object per line (`alerts.format = "ecs"`).
    Ecs,
}

/// `alerts`.
#[derive(Debug, Args)]
pub struct AlertsArgs {
    /// Database to read.
    #[arg(long, value_name = "PATH", default_value = "dnswatch.db")]
    pub db: PathBuf,
    /// Only alerts at or after this time.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only alerts before this time (not included).
    #[arg(long, value_name = "TIME", conflicts_with = "follow")]
    pub until: Option<String>,
    /// Only alerts of this kind (new_querier, concentration, burst, quiet,
    /// resumed, rcode_change, answer_change, new_name, periodic).
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
    /// Only alerts about this watch entry.
    #[arg(long, value_name = "ENTRY")]
    pub entry: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = AlertFormat::Table)]
    pub format: AlertFormat,
    /// Keep running and print new alerts as they are committed.
    #[arg(short, long, conflicts_with = "clickhouse")]
    pub follow: bool,
    /// Fleet store.
    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// Output formats of `report`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Plain text for people.
    #[default]
    Text,
    /// One JSON document.
    Json,
}

/// `report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The watch entry (or a query name) to report on.
    #[arg(value_name = "ENTRY")]
    pub entry: String,
    /// Database to read.
    #[arg(long, value_name = "PATH", default_value = "dnswatch.db")]
    pub db: PathBuf,
    /// From this time.
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Up to (not including) this time.
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Write the timeline chart as SVG to FILE.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// CSV of dated events (`date,label` per line) to overlay and compare.
    #[arg(long, value_name = "FILE.csv")]
    pub events: Option<PathBuf>,
    /// Fleet store.
    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// `db` subcommands.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Delete lookups older than the retention period, and the per-querier
    /// and per-name summaries and passive-DNS rrsets last seen before it
    /// (counters, alerts and detector state are kept).
    Prune(PruneArgs),
    /// Row counts, time span and size of the database, with the bytes of
    /// each table (its pages and its indexes').
    Stats(DbStatsArgs),
}

/// `db prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Database.
    #[arg(long, value_name = "PATH", default_value = "dnswatch.db")]
    pub db: PathBuf,
    /// Delete lookups older than this many days (of wall-clock time; at most 36525).
    #[arg(long, value_name = "DAYS")]
    pub older_than_days: u32,
}

/// `db stats`.
#[derive(Debug, Args)]
pub struct DbStatsArgs {
    /// Fleet store: rows per table, sensor and day.
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// Database.
    #[arg(long, value_name = "PATH", default_value = "dnswatch.db")]
    pub db: PathBuf,
}
