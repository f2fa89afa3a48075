//! The Prometheus endpoint: the pipeline thread renders a snapshot of the
//! run's [`Counters`] every second (and once before the endpoint is bound,
//! so the first scrape is complete); a small HTTP server hands it out.
//!
//! Names follow the Prometheus conventions (`promtool check metrics` is
//! clean, tested in `tests/promtool.rs`): base units (seconds, bytes),
//! `_total` on counters, `process_*` as the client libraries name them.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::capture::IfaceCounters;
use super::reload::ReloadStats;
use crate::driver::Counters;

/// Everything the metrics endpoint shows, rendered by the pipeline thread.
pub type MetricsText = Arc<Mutex<String>>;

/// What the daemon adds to the runner's [`Counters`].
#[derive(Debug, Clone)]
pub struct DaemonInfo {
    /// Interfaces and their capture threads' counters.
    pub ifaces: Vec<(String, Arc<IfaceCounters>)>,
    /// Reload outcomes.
    pub reloads: Arc<ReloadStats>,
    /// `capture.queue_packets`.
    pub queue_capacity: u64,
}

/// Process figures read from `/proc/self` (Linux); `None` where unreadable.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ProcessStats {
    /// User and system CPU time (s).
    pub cpu_seconds: Option<f64>,
    /// Resident set size (bytes).
    pub resident_bytes: Option<f64>,
    /// Open file descriptors.
    pub open_fds: Option<f64>,
    /// The soft limit on open file descriptors.
    pub max_fds: Option<f64>,
    /// Start time (s since the epoch).
    pub start_time_seconds: Option<f64>,
}

impl ProcessStats {
    /// Reads `/proc/self/{stat,fd,limits}` and `/proc/stat`.
    pub fn read() -> Self {
        let ticks = rustix::param::clock_ticks_per_second() as f64;
        let page = rustix::param::page_size() as f64;
        let stat = std::fs::read_to_string("/proc/self/stat").ok();
        // Fields after the command name (which may hold spaces and
        // parentheses): field 3 (state) is index 0.
        let fields: Vec<&str> = stat
            .as_deref()
            .and_then(|s| s.rsplit_once(')'))
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let field = |n: usize| -> Option<f64> { fields.get(n - 3)?.parse::<f64>().ok() };
        let cpu_seconds = match (field(14), field(15)) {
            (Some(u), Some(s)) if ticks > 0.0 => Some((u + s) / ticks),
            _ => None,
        };
        let resident_bytes = field(24).map(|p| p * page);
        let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|v| v.trim().parse::<f64>().ok())
        });
        let start_time_seconds = match (boot, field(22)) {
            (Some(b), Some(t)) if ticks > 0.0 => Some(b + t / ticks),
            _ => None,
        };
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as f64);
        let max_fds = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Max open files"))
                    .and_then(|v| v.split_whitespace().next())
                    .and_then(|v| v.parse::<f64>().ok())
            });
        Self {
            cpu_seconds,
            resident_bytes,
            open_fds,
            max_fds,
            start_time_seconds,
        }
    }
}

/// Metric text being built: one `# HELP`/`# TYPE` block per family.
struct Text(String);

impl Text {
    fn family(&mut self, name: &str, kind: &str, help: &str, rows: &[(String, f64)]) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in rows {
            let _ = writeln!(self.0, "{name}{labels} {v}");
        }
    }

    fn one(&mut self, name: &str, kind: &str, help: &str, v: f64) {
        self.family(name, kind, help, &[(String::new(), v)]);
    }
}

/// A label value escaped for the text format.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn us_to_seconds(us: i64) -> f64 {
    us as f64 / 1e6
}

/// The Prometheus text of `c`, the daemon's own figures and `p`.
pub fn render(c: &Counters, d: &DaemonInfo, p: &ProcessStats) -> String {
    let store = c.store();
    let mut m = Text(String::new());
    let per_iface = |f: &dyn Fn(&IfaceCounters) -> u64| -> Vec<(String, f64)> {
        d.ifaces
            .iter()
            .map(|(n, c)| (format!("{{interface=\"{}\"}}", label(n)), f(c) as f64))
            .collect()
    };
    m.family(
        "dnswatch_build_info",
        "gauge",
        "Always 1; the version of the running binary in a label.",
        &[(
            format!("{{version=\"{}\"}}", env!("CARGO_PKG_VERSION")),
            1.0,
        )],
    );
    m.family(
        "dnswatch_packets_received_total",
        "counter",
        "Packets captured per interface.",
        &per_iface(&|c| c.received.load(Ordering::Relaxed)),
    );
    m.family(
        "dnswatch_kernel_drops_total",
        "counter",
        "Packets the kernel dropped (pcap ps_drop).",
        &per_iface(&|c| c.kernel_drops.load(Ordering::Relaxed)),
    );
    m.family(
        "dnswatch_interface_drops_total",
        "counter",
        "Packets the interface dropped (pcap ps_ifdrop).",
        &per_iface(&|c| c.kernel_if_drops.load(Ordering::Relaxed)),
    );
    m.family(
        "dnswatch_queue_drops_total",
        "counter",
        "Packets dropped because the pipeline queue was full.",
        &per_iface(&|c| c.queue_drops.load(Ordering::Relaxed)),
    );
    m.family(
        "dnswatch_queue_packets",
        "gauge",
        "Packets of each interface waiting in the pipeline queue.",
        &per_iface(&|c| c.queued.load(Ordering::Relaxed)),
    );
    m.one(
        "dnswatch_queue_capacity_packets",
        "gauge",
        "Size of the pipeline queue shared by the interfaces (capture.queue_packets).",
        d.queue_capacity as f64,
    );
    let errors: Vec<(String, f64)> = c
        .errors()
        .iter()
        .map(|(k, n)| (format!("{{kind=\"{}\"}}", label(k)), *n as f64))
        .collect();
    m.family(
        "dnswatch_decode_errors_total",
        "counter",
        "Undecodable input by kind.",
        &errors,
    );
    // Every kind from the start, so rate() and increase() see a zero
    // before the first alert of a kind.
    let mut kinds: Vec<(String, u64)> = crate::detect::Kind::ALL
        .iter()
        .map(|k| (k.as_str().to_string(), 0))
        .collect();
    for (k, v) in c.alerts_by_kind() {
        match kinds.iter_mut().find(|(n, _)| n == k) {
            Some(slot) => slot.1 = *v,
            None => kinds.push((k.clone(), *v)),
        }
    }
    m.family(
        "dnswatch_alerts_total",
        "counter",
        "Alerts raised by kind.",
        &kinds
            .iter()
            .map(|(k, v)| (format!("{{kind=\"{}\"}}", label(k)), *v as f64))
            .collect::<Vec<_>>(),
    );
    let scalars: [(&str, &str, &str, f64); 20] = [
        (
            "dnswatch_dns_messages_total",
            "counter",
            "DNS messages seen.",
            c.messages() as f64,
        ),
        (
            "dnswatch_dns_queries_total",
            "counter",
            "DNS queries seen.",
            c.queries() as f64,
        ),
        (
            "dnswatch_dns_responses_total",
            "counter",
            "DNS responses seen.",
            c.responses() as f64,
        ),
        (
            "dnswatch_lookups_total",
            "counter",
            "Lookups of watched entries recorded.",
            c.lookups() as f64,
        ),
        (
            "dnswatch_unanswered_total",
            "counter",
            "Watched queries recorded as unanswered.",
            c.unanswered() as f64,
        ),
        (
            "dnswatch_unwatched_lookups_total",
            "counter",
            "Lookups of nothing watched recorded for ClickHouse only (storage.clickhouse.record = \"all\").",
            c.unwatched() as f64,
        ),
        (
            "dnswatch_alerts_suppressed_total",
            "counter",
            "Alerts suppressed as repeats.",
            c.alerts_suppressed() as f64,
        ),
        (
            "dnswatch_store_commits_total",
            "counter",
            "Successful database commits.",
            store.commits as f64,
        ),
        (
            "dnswatch_store_commit_seconds_total",
            "counter",
            "Time spent in successful commits.",
            store.commit_us_total as f64 / 1e6,
        ),
        (
            "dnswatch_store_last_commit_timestamp_seconds",
            "gauge",
            "Unix time of the last successful commit (of the writer's start until the first).",
            us_to_seconds(store.last_commit_unix_us),
        ),
        (
            "dnswatch_store_batch_max",
            "gauge",
            "Largest batch committed (lookups).",
            store.max_batch as f64,
        ),
        (
            "dnswatch_store_failures_total",
            "counter",
            "Commit attempts that failed (kept batches are retried).",
            store.failed as f64,
        ),
        (
            "dnswatch_store_pending_batches",
            "gauge",
            "Batches kept for a retry (database locked or full).",
            store.pending_batches as f64,
        ),
        (
            "dnswatch_store_pending_bytes",
            "gauge",
            "Approximate bytes of kept batches (capped by storage.max_pending_mb).",
            store.pending_bytes as f64,
        ),
        (
            "dnswatch_store_dropped_batches_total",
            "counter",
            "Batches given up on (beyond storage.max_pending_mb, or failing for good).",
            store.dropped_batches as f64,
        ),
        (
            "dnswatch_store_dropped_lookups_total",
            "counter",
            "Lookups in batches given up on.",
            store.dropped_lookups as f64,
        ),
        (
            "dnswatch_tcp_streams",
            "gauge",
            "TCP streams with reassembly state.",
            c.tcp_streams() as f64,
        ),
        (
            "dnswatch_fragment_buffers",
            "gauge",
            "Datagrams being reassembled.",
            c.fragment_buffers() as f64,
        ),
        (
            "dnswatch_fragment_bytes",
            "gauge",
            "Bytes held for fragment reassembly.",
            c.fragment_bytes() as f64,
        ),
        (
            "dnswatch_pending_queries",
            "gauge",
            "Queries waiting for their response.",
            c.pending_queries() as f64,
        ),
    ];
    for (name, kind, help, value) in scalars {
        m.one(name, kind, help, value);
    }
    let log = c.alert_log();
    for (name, kind, help, value) in [
        (
            "dnswatch_alert_log_lines_total",
            "counter",
            "Lines written to the alert log.",
            log.written,
        ),
        (
            "dnswatch_alert_log_failures_total",
            "counter",
            "Alert-log writes that failed (retried; the alerts are in the database).",
            log.failures,
        ),
        (
            "dnswatch_alert_log_pending",
            "gauge",
            "Alert-log lines waiting for a retry.",
            log.pending,
        ),
        (
            "dnswatch_alert_log_dropped_total",
            "counter",
            "Alert-log lines given up on beyond the retry queue's cap (the alerts are in the database).",
            log.dropped,
        ),
    ] {
        m.one(name, kind, help, value as f64);
    }
    let ev: Vec<(String, f64)> = c
        .evictions()
        .map(|(k, v)| (format!("{{state=\"{k}\"}}"), v as f64))
        .collect();
    m.family(
        "dnswatch_evictions_total",
        "counter",
        "State evicted to stay within memory caps.",
        &ev,
    );
    let r = &d.reloads;
    m.family(
        "dnswatch_config_reloads_total",
        "counter",
        "SIGHUP reloads by result (a failed one keeps the running configuration).",
        &[
            (
                "{result=\"success\"}".to_string(),
                r.succeeded.load(Ordering::Relaxed) as f64,
            ),
            (
                "{result=\"failure\"}".to_string(),
                r.failed.load(Ordering::Relaxed) as f64,
            ),
        ],
    );
    m.one(
        "dnswatch_config_last_reload_successful",
        "gauge",
        "Whether the last reload succeeded (1 before the first).",
        r.last_ok.load(Ordering::Relaxed) as f64,
    );
    m.one(
        "dnswatch_config_last_reload_success_timestamp_seconds",
        "gauge",
        "Unix time the running configuration was loaded.",
        us_to_seconds(r.last_success_unix_us.load(Ordering::Relaxed)),
    );
    for (name, kind, help, v) in [
        (
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time spent.",
            p.cpu_seconds,
        ),
        (
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size.",
            p.resident_bytes,
        ),
        (
            "process_open_fds",
            "gauge",
            "Open file descriptors.",
            p.open_fds,
        ),
        (
            "process_max_fds",
            "gauge",
            "Limit on open file descriptors.",
            p.max_fds,
        ),
        (
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch.",
            p.start_time_seconds,
        ),
    ] {
        if let Some(v) = v {
            m.one(name, kind, help, v);
        }
    }
    m.0
}

/// Serves `text` at `/metrics` until the runtime stops.
pub async fn serve(listener: tokio::net::TcpListener, text: MetricsText) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Accept errors (EMFILE when descriptors run out) repeat at once while
    // the connection waits in the backlog: back off instead of spinning.
    let accept_errors = Arc::new(AtomicU64::new(0));
    let mut backoff = Duration::from_millis(10);
    loop {
        let mut sock = match listener.accept().await {
            Ok((sock, _)) => {
                backoff = Duration::from_millis(10);
                sock
            }
            Err(e) => {
                let n = accept_errors.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!(error = %e, errors = n, "metrics endpoint cannot accept; backing off (dnswatch_metrics_accept_errors_total)");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let text = text.clone();
        let accept_errors = accept_errors.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let n = match tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf)).await {
                Ok(Ok(n)) => n,
                _ => return,
            };
            let req = String::from_utf8_lossy(&buf[..n]);
            let path = req.split_whitespace().nth(1).unwrap_or("/");
            let (status, body) = if path == "/metrics" {
                let mut body = text.lock().map(|t| t.clone()).unwrap_or_default();
                if !body.is_empty() {
                    let _ = write!(
                        body,
                        "# HELP dnswatch_metrics_accept_errors_total Connections the metrics endpoint failed to accept (e.g. out of file descriptors).\n# TYPE dnswatch_metrics_accept_errors_total counter\ndnswatch_metrics_accept_errors_total {}\n",
                        accept_errors.load(Ordering::Relaxed)
                    );
                }
                ("200 OK", body)
            } else {
                ("404 Not Found", "see /metrics\n".to_string())
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
        });
    }
}
