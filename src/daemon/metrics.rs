//! The Prometheus endpoint: the pipeline thread renders a snapshot of the
//! run's [`Counters`] every second; a small HTTP server hands it out.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::capture::IfaceCounters;
use crate::driver::Counters;

/// Everything the metrics endpoint shows, rendered by the pipeline thread.
pub type MetricsText = Arc<Mutex<String>>;

/// The Prometheus text of `c` and the capture threads' counters.
pub fn render(c: &Counters, ifaces: &[(String, Arc<IfaceCounters>)]) -> String {
    let store = c.store();
    let mut m = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, rows: Vec<(String, u64)>| {
        let _ = writeln!(m, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in rows {
            let _ = writeln!(m, "{name}{labels} {v}");
        }
    };
    let per_iface = |f: &dyn Fn(&IfaceCounters) -> u64| -> Vec<(String, u64)> {
        ifaces
            .iter()
            .map(|(n, c)| (format!("{{interface=\"{n}\"}}"), f(c)))
            .collect()
    };
    metric(
        "dnswatch_packets_received_total",
        "counter",
        "Packets captured per interface.",
        per_iface(&|c| c.received.load(Ordering::Relaxed)),
    );
    metric(
        "dnswatch_kernel_drops_total",
        "counter",
        "Packets the kernel dropped (pcap ps_drop).",
        per_iface(&|c| c.kernel_drops.load(Ordering::Relaxed)),
    );
    metric(
        "dnswatch_interface_drops_total",
        "counter",
        "Packets the interface dropped (pcap ps_ifdrop).",
        per_iface(&|c| c.kernel_if_drops.load(Ordering::Relaxed)),
    );
    metric(
        "dnswatch_queue_drops_total",
        "counter",
        "Packets dropped because the pipeline queue was full.",
        per_iface(&|c| c.queue_drops.load(Ordering::Relaxed)),
    );
    let errors: Vec<(String, u64)> = c
        .errors()
        .iter()
        .map(|(k, n)| (format!("{{kind=\"{k}\"}}"), *n))
        .collect();
    metric(
        "dnswatch_decode_errors_total",
        "counter",
        "Undecodable input by kind.",
        errors,
    );
    metric(
        "dnswatch_alerts_total",
        "counter",
        "Alerts raised by kind.",
        c.alerts_by_kind()
            .iter()
            .map(|(k, v)| (format!("{{kind=\"{k}\"}}"), *v))
            .collect(),
    );
    let scalars: [(&str, &str, &str, u64); 18] = [
        (
            "dnswatch_dns_messages_total",
            "counter",
            "DNS messages seen.",
            c.messages(),
        ),
        (
            "dnswatch_dns_queries_total",
            "counter",
            "DNS queries seen.",
            c.queries(),
        ),
        (
            "dnswatch_dns_responses_total",
            "counter",
            "DNS responses seen.",
            c.responses(),
        ),
        (
            "dnswatch_lookups_total",
            "counter",
            "Lookups of watched entries recorded.",
            c.lookups(),
        ),
        (
            "dnswatch_unanswered_total",
            "counter",
            "Watched queries recorded as unanswered.",
            c.unanswered(),
        ),
        (
            "dnswatch_alerts_suppressed_total",
            "counter",
            "Alerts suppressed as repeats.",
            c.alerts_suppressed(),
        ),
        (
            "dnswatch_store_commits_total",
            "counter",
            "SQLite commits.",
            store.commits,
        ),
        (
            "dnswatch_store_commit_microseconds_total",
            "counter",
            "Time spent committing (µs).",
            store.commit_us_total,
        ),
        (
            "dnswatch_store_batch_max",
            "gauge",
            "Largest batch committed (lookups).",
            store.max_batch,
        ),
        (
            "dnswatch_store_failures_total",
            "counter",
            "Commit attempts that failed (kept batches are retried).",
            store.failed,
        ),
        (
            "dnswatch_store_pending_batches",
            "gauge",
            "Batches kept for a retry (database locked or full).",
            store.pending_batches,
        ),
        (
            "dnswatch_store_pending_bytes",
            "gauge",
            "Approximate bytes of kept batches (capped by storage.max_pending_mb).",
            store.pending_bytes,
        ),
        (
            "dnswatch_store_dropped_batches_total",
            "counter",
            "Batches given up on (beyond storage.max_pending_mb, or failing for good).",
            store.dropped_batches,
        ),
        (
            "dnswatch_store_dropped_lookups_total",
            "counter",
            "Lookups in batches given up on.",
            store.dropped_lookups,
        ),
        (
            "dnswatch_tcp_streams",
            "gauge",
            "TCP streams with reassembly state.",
            c.tcp_streams(),
        ),
        (
            "dnswatch_fragment_buffers",
            "gauge",
            "Datagrams being reassembled.",
            c.fragment_buffers(),
        ),
        (
            "dnswatch_fragment_bytes",
            "gauge",
            "Bytes held for fragment reassembly.",
            c.fragment_bytes(),
        ),
        (
            "dnswatch_pending_queries",
            "gauge",
            "Queries waiting for their response.",
            c.pending_queries(),
        ),
    ];
    for (name, kind, help, value) in scalars {
        metric(name, kind, help, vec![(String::new(), value)]);
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
        metric(name, kind, help, vec![(String::new(), value)]);
    }
    let ev = c
        .evictions()
        .map(|(k, v)| (format!("{{state=\"{k}\"}}"), v))
        .collect();
    metric(
        "dnswatch_evictions_total",
        "counter",
        "State evicted to stay within memory caps.",
        ev,
    );
    m
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
