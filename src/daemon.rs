//! `dnswatch run`: the daemon.
//!
//! Threads:
//! * one capture thread per interface, blocking in libpcap with a 100 ms
//!   timeout, copying packets into a bounded queue (`try_send`: when the
//!   queue is full the packet is dropped and counted, memory never grows);
//! * the pipeline thread: the same [`Flow`] as `replay` (decode → lookups →
//!   detectors → store batches), plus metrics snapshots and retention;
//! * the store writer thread (owned by the flow);
//! * the main thread runs a small tokio runtime for signals (SIGTERM/SIGINT
//!   stop, SIGHUP reloads) and the Prometheus endpoint.
//!
//! Shutdown: capture stops first, the queue drains, the pipeline finishes
//! (pending queries recorded as unanswered), the store commits and the alert
//! log is flushed; nothing accepted is lost.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{
    sync_channel, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError,
};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::app::writer::Writer;
use crate::app::{setup, ExitError};
use crate::capture::live::{default_filter, LiveConfig, LiveSource};
use crate::capture::PacketSource;
use crate::cli::RunArgs;
use crate::config::Config;
use crate::decode::LinkType;
use crate::detect::DetectorConfig;
use crate::flow::Flow;
use crate::store::sqlite::SqliteStore;
use crate::watch::Watchlist;

/// One captured packet on its way to the pipeline.
struct Captured {
    iface: usize,
    ts_us: i64,
    data: Vec<u8>,
}

/// Counters of one capture thread.
#[derive(Debug, Default)]
struct IfaceCounters {
    received: AtomicU64,
    queue_drops: AtomicU64,
    kernel_received: AtomicU64,
    kernel_drops: AtomicU64,
    kernel_if_drops: AtomicU64,
}

impl IfaceCounters {
    fn store_kernel(&self, k: crate::capture::live::KernelStats) {
        self.kernel_received.store(k.received, Ordering::Relaxed);
        self.kernel_drops.store(k.dropped, Ordering::Relaxed);
        self.kernel_if_drops.store(k.if_dropped, Ordering::Relaxed);
    }
}

/// What the signal handler asks of the pipeline thread.
enum Control {
    Reload(Box<(Arc<Watchlist>, DetectorConfig)>),
    ReopenLog,
}

/// Sends a notification to systemd when run under `Type=notify`.
pub fn sd_notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    let bytes = path.as_encoded_bytes();
    let res = if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name)
            .and_then(|a| sock.send_to_addr(state.as_bytes(), &a))
    } else {
        sock.send_to(state.as_bytes(), PathBuf::from(&path))
    };
    if let Err(e) = res {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}

fn live_config(cfg: &Config) -> LiveConfig {
    let c = &cfg.raw.capture;
    LiveConfig {
        snaplen: i32::try_from(c.snaplen).unwrap_or(65_535),
        buffer_bytes: i32::try_from(u64::from(c.buffer_mib) << 20).unwrap_or(i32::MAX),
        filter: if c.filter.trim().is_empty() {
            default_filter(&c.dns_ports)
        } else {
            c.filter.clone()
        },
        promiscuous: c.promiscuous,
        immediate: c.immediate_mode,
    }
}

/// Drops every capability once the captures are open: from here on the
/// process needs only its state and log directories.
fn drop_capabilities() {
    use caps::CapSet;
    for set in [
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ] {
        if let Err(e) = caps::clear(None, set) {
            tracing::debug!(error = %e, ?set, "could not clear capability set");
        }
    }
}

/// Once the captures are open: clear the bounding set, switch to `user`
/// when given, set no-new-privs and drop every capability.
fn drop_privileges(user: Option<&str>) -> Result<(), ExitError> {
    let bounded = crate::privileges::clear_bounding_set();
    if let Some(u) = user {
        let acct =
            crate::privileges::switch_user(u).map_err(|e| ExitError::Runtime(e.to_string()))?;
        tracing::info!(
            user = u,
            uid = acct.uid,
            gid = acct.gid,
            bounding_set_cleared = bounded,
            "switched user"
        );
    }
    if let Err(e) = crate::privileges::set_no_new_privs() {
        tracing::warn!(error = %e, "cannot set no-new-privs");
    }
    drop_capabilities();
    Ok(())
}

fn capture_thread(
    mut src: LiveSource,
    iface: usize,
    tx: SyncSender<Captured>,
    stop: Arc<AtomicBool>,
    counters: Arc<IfaceCounters>,
) {
    let mut last_stats = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        match src.next_packet() {
            Ok(Some(p)) => {
                counters.received.fetch_add(1, Ordering::Relaxed);
                let item = Captured {
                    iface,
                    ts_us: p.ts_us,
                    data: p.data.to_vec(),
                };
                match tx.try_send(item) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        counters.queue_drops.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(TrySendError::Disconnected(_)) => return,
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!("{e}; capture on this interface stops");
                return;
            }
        }
        if last_stats.elapsed() >= Duration::from_secs(1) {
            counters.store_kernel(src.kernel_stats());
            last_stats = Instant::now();
        }
    }
    counters.store_kernel(src.kernel_stats());
}

/// Everything the metrics endpoint shows, rendered by the pipeline thread.
type MetricsText = Arc<Mutex<String>>;

fn render_metrics(
    flow: &Flow,
    ifaces: &[(String, Arc<IfaceCounters>)],
    store: &crate::app::writer::WriterStats,
) -> String {
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
    let p = &flow.pipeline;
    let errors: Vec<(String, u64)> = crate::decode::ErrorKind::ALL
        .iter()
        .map(|k| {
            let n = p
                .errors_by_kind()
                .iter()
                .find(|(e, _)| e == k)
                .map_or(0, |(_, n)| *n);
            (format!("{{kind=\"{}\"}}", k.name()), n)
        })
        .collect();
    metric(
        "dnswatch_decode_errors_total",
        "counter",
        "Undecodable input by kind.",
        errors,
    );
    let d = p.dns_stats();
    let alerts: BTreeMap<String, u64> = flow.engine.stats.alerts.clone();
    metric(
        "dnswatch_alerts_total",
        "counter",
        "Alerts raised by kind.",
        alerts
            .into_iter()
            .map(|(k, v)| (format!("{{kind=\"{k}\"}}"), v))
            .collect(),
    );
    let scalars: [(&str, &str, &str, u64); 18] = [
        (
            "dnswatch_dns_messages_total",
            "counter",
            "DNS messages seen.",
            d.messages,
        ),
        (
            "dnswatch_dns_queries_total",
            "counter",
            "DNS queries seen.",
            d.queries,
        ),
        (
            "dnswatch_dns_responses_total",
            "counter",
            "DNS responses seen.",
            d.responses,
        ),
        (
            "dnswatch_lookups_total",
            "counter",
            "Lookups of watched entries recorded.",
            d.lookups,
        ),
        (
            "dnswatch_unanswered_total",
            "counter",
            "Watched queries recorded as unanswered.",
            d.unanswered,
        ),
        (
            "dnswatch_alerts_suppressed_total",
            "counter",
            "Alerts suppressed as repeats.",
            flow.engine.stats.suppressed,
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
            p.decoder.tcp.in_use() as u64,
        ),
        (
            "dnswatch_fragment_buffers",
            "gauge",
            "Datagrams being reassembled.",
            p.decoder.defrag.in_use() as u64,
        ),
        (
            "dnswatch_fragment_bytes",
            "gauge",
            "Bytes held for fragment reassembly.",
            p.decoder.defrag.bytes() as u64,
        ),
        (
            "dnswatch_pending_queries",
            "gauge",
            "Queries waiting for their response.",
            p.pending_queries() as u64,
        ),
    ];
    for (name, kind, help, value) in scalars {
        metric(name, kind, help, vec![(String::new(), value)]);
    }
    let log = flow.alert_log_stats().unwrap_or_default();
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
    let ev = vec![
        ("{state=\"tcp_stream\"}".to_string(), p.decoder.tcp.evicted),
        ("{state=\"fragment\"}".to_string(), p.decoder.defrag.evicted),
        (
            "{state=\"pending_query\"}".to_string(),
            p.pending_evictions(),
        ),
        (
            "{state=\"detector_querier\"}".to_string(),
            flow.engine.stats.querier_evictions,
        ),
        (
            "{state=\"detector_name\"}".to_string(),
            flow.engine.stats.name_evictions,
        ),
    ];
    metric(
        "dnswatch_evictions_total",
        "counter",
        "State evicted to stay within memory caps.",
        ev,
    );
    m
}

async fn serve_metrics(listener: tokio::net::TcpListener, text: MetricsText) {
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

struct PipelineCtx {
    rx: Receiver<Captured>,
    control: Receiver<Control>,
    flow: Flow,
    links: Vec<LinkType>,
    sources: Vec<u32>,
    ifaces: Vec<(String, Arc<IfaceCounters>)>,
    metrics: MetricsText,
    log_interval: Duration,
    retention_days: u32,
    scrub: (u32, Vec<String>),
}

fn pipeline_thread(mut ctx: PipelineCtx) -> Result<crate::flow::Summary, String> {
    let mut frames = vec![0u64; ctx.links.len()];
    let mut last_metrics = Instant::now();
    let mut last_log = Instant::now();
    let mut last_prune = Instant::now() - Duration::from_secs(3600);
    let mut last_scrub = last_prune;
    let mut n = 0u64;
    loop {
        match ctx.rx.recv_timeout(Duration::from_millis(100)) {
            Ok(p) => {
                let i = p.iface;
                frames[i] += 1;
                ctx.flow.pipeline.select_source(ctx.sources[i]);
                ctx.flow
                    .pipeline
                    .packet(p.ts_us, frames[i], ctx.links[i], &p.data);
                n += 1;
                if n % 256 != 0 {
                    continue;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        loop {
            match ctx.control.try_recv() {
                Ok(Control::Reload(b)) => {
                    let (watch, det) = *b;
                    tracing::info!(
                        entries = watch.len(),
                        "watch list and detector settings reloaded"
                    );
                    ctx.flow.pipeline.set_watchlist(watch);
                    ctx.flow.engine.set_config(det);
                }
                Ok(Control::ReopenLog) => {
                    if let Err(e) = ctx.flow.reopen_alert_log() {
                        tracing::error!("{e}");
                    }
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        if ctx.retention_days > 0 && last_prune.elapsed() >= Duration::from_secs(600) {
            // Checked: a horizon that cannot be represented prunes nothing
            // (config validation rejects such values; this is the backstop).
            match crate::time::days_before(wall_clock_us(), ctx.retention_days) {
                Some(before) => ctx.flow.request_prune(before),
                None => tracing::error!(
                    days = ctx.retention_days,
                    "storage.retention_days out of range; nothing pruned"
                ),
            }
            last_prune = Instant::now();
        }
        if ctx.scrub.0 > 0 && last_scrub.elapsed() >= Duration::from_secs(600) {
            match crate::time::days_before(wall_clock_us(), ctx.scrub.0) {
                Some(before) => ctx.flow.request_scrub(before, ctx.scrub.1.clone()),
                None => tracing::error!(
                    days = ctx.scrub.0,
                    "privacy.scrub_after_days out of range; nothing scrubbed"
                ),
            }
            last_scrub = Instant::now();
        }
        if let Err(e) = ctx.flow.tick(false) {
            // The daemon keeps capturing; the writer logs and counts failed batches.
            tracing::error!("{e}");
        }
        if last_metrics.elapsed() >= Duration::from_secs(1) {
            let text = render_metrics(&ctx.flow, &ctx.ifaces, &ctx.flow.store_stats());
            if let Ok(mut m) = ctx.metrics.lock() {
                *m = text;
            }
            last_metrics = Instant::now();
        }
        if !ctx.log_interval.is_zero() && last_log.elapsed() >= ctx.log_interval {
            let d = ctx.flow.pipeline.dns_stats();
            let drops: u64 = ctx
                .ifaces
                .iter()
                .map(|(_, c)| {
                    c.queue_drops.load(Ordering::Relaxed) + c.kernel_drops.load(Ordering::Relaxed)
                })
                .sum();
            tracing::info!(
                packets = ctx.flow.pipeline.decoder.stats.packets,
                messages = d.messages,
                lookups = d.lookups,
                alerts = ctx.flow.engine.stats.alerts.values().sum::<u64>(),
                errors = ctx.flow.pipeline.total_errors(),
                drops,
                pending = ctx.flow.pipeline.pending_queries(),
                "stats"
            );
            last_log = Instant::now();
        }
    }
    let summary = ctx.flow.finish()?;
    Ok(summary)
}

/// Wall-clock time (µs), used only for retention: detectors run on packet time.
fn wall_clock_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// What a reload compares the new configuration with.
struct ReloadCtx {
    common: crate::cli::CommonArgs,
    /// Interfaces came from the command line (config changes do not matter).
    cli_interfaces: bool,
    db: PathBuf,
    interfaces: Vec<String>,
}

/// Re-reads the config for SIGHUP; `None` (after logging why) keeps the old one.
fn reload(old: &ReloadCtx) -> Option<Control> {
    match setup(&old.common) {
        Ok(new) => {
            if new.db != old.db {
                tracing::warn!(old = %old.db.display(), new = %new.db.display(), "database path changed: needs a restart; still writing the old one");
            }
            if new.config.raw.capture.interfaces != old.interfaces && !old.cli_interfaces {
                tracing::warn!("capture.interfaces changed: needs a restart");
            }
            Some(Control::Reload(Box::new((
                Arc::new(new.watch),
                new.config.raw.detectors.clone(),
            ))))
        }
        Err(e) => {
            tracing::error!(
                "reload failed, keeping the running configuration: {}",
                e.message()
            );
            None
        }
    }
}

/// Starts a reload off the signal and metrics loop: reading and compiling a
/// large watch list takes a while, and the pipeline swaps the finished list
/// in at once.
fn start_reload(ctx: &Arc<ReloadCtx>, tx: &SyncSender<Control>) -> tokio::task::JoinHandle<()> {
    sd_notify("RELOADING=1");
    let (ctx, tx) = (ctx.clone(), tx.clone());
    tokio::task::spawn_blocking(move || {
        if let Some(c) = reload(&ctx) {
            let _ = tx.send(c);
        }
        let _ = tx.send(Control::ReopenLog);
        sd_notify("READY=1");
    })
}

/// Runs the daemon.
pub fn run(args: RunArgs) -> Result<(), ExitError> {
    let s = setup(&args.common)?;
    let interfaces = if args.interfaces.is_empty() {
        s.config.raw.capture.interfaces.clone()
    } else {
        args.interfaces.clone()
    };
    if interfaces.is_empty() {
        return Err(ExitError::Usage(
            "no interface to capture on: give -i IFACE or capture.interfaces".into(),
        ));
    }
    if s.watch.is_empty() {
        return Err(ExitError::Usage(
            "nothing to watch: give --watch ENTRY or watch.entries in the config".into(),
        ));
    }
    let metrics_addr = s.config.raw.metrics.listen.clone();
    // Open everything that can fail before announcing readiness.
    let lcfg = live_config(&s.config);
    let mut sources = Vec::new();
    for iface in &interfaces {
        sources
            .push(LiveSource::open(iface, &lcfg).map_err(|e| ExitError::Runtime(e.to_string()))?);
    }
    let user = args
        .user
        .clone()
        .or_else(|| Some(s.config.raw.run.user.clone()).filter(|u| !u.is_empty()));
    drop_privileges(user.as_deref())?;
    let store = SqliteStore::open(&s.db).map_err(|e| ExitError::Runtime(e.to_string()))?;
    let preload = store
        .preload(crate::detect::preload_days(&s.config.raw.detectors))
        .map_err(|e| ExitError::Runtime(e.to_string()))?;
    let (sink, _ch_stats) = crate::app::sinks(&s, store, false)?;
    let writer = Writer::spawn_capped(
        sink,
        true,
        usize::try_from(s.config.raw.storage.max_pending_mb)
            .unwrap_or(usize::MAX)
            .saturating_mul(1 << 20),
    );
    let mut flow = Flow::new(
        &s.config,
        Arc::new(s.watch.clone()),
        writer,
        s.alerts.as_deref(),
        &preload,
    )
    .map_err(ExitError::Runtime)?;

    let (tx, rx) = sync_channel::<Captured>(s.config.raw.capture.queue_packets);
    let (ctl_tx, ctl_rx) = sync_channel::<Control>(16);
    let stop = Arc::new(AtomicBool::new(false));
    let mut links = Vec::new();
    let mut src_ids = Vec::new();
    let mut ifaces = Vec::new();
    let mut capture_handles = Vec::new();
    for (i, src) in sources.into_iter().enumerate() {
        links.push(src.link_type());
        src_ids.push(flow.pipeline.begin_source(src.name()));
        let counters = Arc::new(IfaceCounters::default());
        ifaces.push((interfaces[i].clone(), counters.clone()));
        let (tx, stop) = (tx.clone(), stop.clone());
        let h = std::thread::Builder::new()
            .name(format!("capture-{}", interfaces[i]))
            .spawn(move || capture_thread(src, i, tx, stop, counters))
            .map_err(|e| ExitError::Runtime(format!("cannot start capture thread: {e}")))?;
        capture_handles.push(h);
    }
    drop(tx);
    let metrics: MetricsText = Arc::new(Mutex::new(String::new()));
    let ctx = PipelineCtx {
        rx,
        control: ctl_rx,
        flow,
        links,
        sources: src_ids,
        ifaces,
        metrics: metrics.clone(),
        log_interval: Duration::from_secs(s.config.raw.metrics.log_interval_s),
        retention_days: s.config.raw.storage.retention_days,
        scrub: (
            s.config.raw.privacy.scrub_after_days,
            s.config.raw.privacy.scrub_fields.clone(),
        ),
    };
    let pipeline = std::thread::Builder::new()
        .name("pipeline".into())
        .spawn(move || pipeline_thread(ctx))
        .map_err(|e| ExitError::Runtime(format!("cannot start pipeline thread: {e}")))?;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ExitError::Runtime(format!("cannot start runtime: {e}")))?;
    let result: Result<(), ExitError> = rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let sig = |k| signal(k).map_err(|e| ExitError::Runtime(format!("cannot install signal handler: {e}")));
        let (mut term, mut int, mut hup) = (sig(SignalKind::terminate())?, sig(SignalKind::interrupt())?, sig(SignalKind::hangup())?);
        if !metrics_addr.is_empty() {
            let listener = tokio::net::TcpListener::bind(&metrics_addr)
                .await
                .map_err(|e| ExitError::Runtime(format!("cannot listen for metrics on {metrics_addr}: {e}")))?;
            tracing::info!(address = %metrics_addr, "metrics at /metrics");
            tokio::spawn(serve_metrics(listener, metrics));
        }
        tracing::info!(interfaces = ?interfaces, db = %s.db.display(), entries = s.watch.len(), "capturing");
        sd_notify("READY=1\nSTATUS=capturing");
        let watchdog = std::env::var("WATCHDOG_USEC").ok().and_then(|v| v.parse::<u64>().ok());
        let reload_ctx = Arc::new(ReloadCtx {
            common: args.common.clone(),
            cli_interfaces: !args.interfaces.is_empty(),
            db: s.db.clone(),
            interfaces: s.config.raw.capture.interfaces.clone(),
        });
        let mut reloading: Option<tokio::task::JoinHandle<()>> = None;
        let mut again = false;
        let mut wd = tokio::time::interval(Duration::from_micros(watchdog.unwrap_or(3_600_000_000) / 2));
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = hup.recv() => {
                    // One reload at a time; a SIGHUP during one is never
                    // dropped: another reload follows it, reading the file
                    // as it is after the last signal.
                    if reloading.is_some() {
                        again = true;
                    } else {
                        reloading = Some(start_reload(&reload_ctx, &ctl_tx));
                    }
                }
                _ = async {
                    if let Some(h) = reloading.as_mut() {
                        let _ = h.await;
                    }
                }, if reloading.is_some() => {
                    reloading = None;
                    if std::mem::take(&mut again) {
                        reloading = Some(start_reload(&reload_ctx, &ctl_tx));
                    }
                }
                _ = wd.tick() => {
                    if watchdog.is_some() && !pipeline.is_finished() {
                        sd_notify("WATCHDOG=1");
                    }
                }
            }
        }
        Ok(())
    });
    sd_notify("STOPPING=1");
    tracing::info!("stopping: capture first, then draining the pipeline");
    stop.store(true, Ordering::Relaxed);
    for h in capture_handles {
        let _ = h.join();
    }
    let summary = match pipeline.join() {
        Ok(r) => r.map_err(ExitError::Runtime)?,
        Err(_) => return Err(ExitError::Runtime("pipeline thread panicked".into())),
    };
    result?;
    tracing::info!(
        packets = summary.packets,
        messages = summary.messages,
        lookups = summary.lookups,
        alerts = summary.alerts,
        "stopped; everything committed"
    );
    Ok(())
}
