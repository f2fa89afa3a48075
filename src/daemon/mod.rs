//! `dnswatch run`: the daemon.
//!
//! Threads:
//! * one capture thread per interface ([`capture`]), blocking in libpcap
//!   with a 100 ms timeout, copying packets into a bounded queue (when the
//!   queue is full the packet is dropped and counted, memory never grows);
//! * the pipeline thread: the same [`Runner`] as `replay`, driven from the
//!   queue, plus metrics snapshots ([`metrics`]), retention and reloads;
//! * the store writer thread (owned by the runner);
//! * the main thread runs a small tokio runtime for signals (SIGTERM/SIGINT
//!   stop, SIGHUP reloads: [`reload`]), the Prometheus endpoint and the
//!   systemd watchdog ([`systemd`]).
//!
//! Shutdown: capture stops first, the queue drains, the pipeline finishes
//! (pending queries recorded as unanswered), the store commits and the alert
//! log is flushed; nothing accepted is lost.

pub mod capture;
pub mod metrics;
pub mod reload;
pub mod systemd;

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use thiserror::Error;

use self::capture::{capture_thread, live_config, IfaceCounters, QueueSource, Queued};
use self::metrics::{DaemonInfo, MetricsText, ProcessStats};
use self::reload::{start_reload, Control, FilterSwap, ReloadCtx, ReloadStats};
use self::systemd::sd_notify;
use crate::capture::live::LiveSource;
use crate::capture::{CaptureError, PacketSource};
use crate::cli::RunArgs;
use crate::config::setup;
use crate::driver::{Counters, DriverError, Runner};
use crate::exit::ExitError;
use crate::privileges::{drop_privileges, PrivilegeError};
use crate::store::sqlite::SqliteStore;
use crate::store::writer::{Writer, WriterError};
use crate::store::StoreError;

/// Why the daemon could not start or did not stop cleanly.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// The command line or the configuration is wrong (exit 2).
    #[error("{0}")]
    Usage(String),
    /// An interface could not be opened.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// Privileges could not be dropped.
    #[error(transparent)]
    Privileges(#[from] PrivilegeError),
    /// The database could not be opened or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store writer could not be started.
    #[error(transparent)]
    Writer(#[from] WriterError),
    /// The driver failed.
    #[error(transparent)]
    Driver(#[from] DriverError),
    /// The shared setup (config, watch list, store) failed at run time.
    #[error("{}", .0.message())]
    Setup(ExitError),
    /// A thread, the runtime or a signal handler could not be started.
    #[error("cannot start {what}: {source}")]
    Start {
        /// What.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The metrics address could not be bound.
    #[error("cannot listen for metrics on {addr}: {source}")]
    Metrics {
        /// `metrics.listen`.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The pipeline thread panicked.
    #[error("pipeline thread panicked")]
    Panicked,
}

impl From<DaemonError> for ExitError {
    fn from(e: DaemonError) -> Self {
        match e {
            DaemonError::Usage(m) => Self::Usage(m),
            DaemonError::Setup(e) => e,
            e => Self::Runtime(e.to_string()),
        }
    }
}

impl From<ExitError> for DaemonError {
    fn from(e: ExitError) -> Self {
        match e {
            ExitError::Usage(m) => Self::Usage(m),
            e @ ExitError::Runtime(_) => Self::Setup(e),
        }
    }
}

/// What the pipeline thread needs besides the runner.
struct PipelineCtx {
    control: Receiver<Control>,
    info: DaemonInfo,
    dnstap: Arc<crate::dnstap::DnstapStats>,
    metrics: MetricsText,
    log_interval: Duration,
    retention_days: u32,
    scrub: (u32, Vec<String>),
    /// The ClickHouse sink's counters, when it is on.
    clickhouse: Option<crate::store::clickhouse::StatsHandle>,
}

/// Periodic work of the pipeline thread, between ticks of the runner.
struct Housekeeping {
    ctx: PipelineCtx,
    last_metrics: Instant,
    last_log: Instant,
    last_prune: Instant,
    last_scrub: Instant,
}

impl Housekeeping {
    fn new(ctx: PipelineCtx) -> Self {
        let long_ago = Instant::now()
            .checked_sub(Duration::from_secs(3600))
            .unwrap_or_else(Instant::now);
        Self {
            ctx,
            last_metrics: Instant::now(),
            last_log: Instant::now(),
            last_prune: long_ago,
            last_scrub: long_ago,
        }
    }

    fn run(&mut self, runner: &mut Runner) {
        loop {
            match self.ctx.control.try_recv() {
                Ok(Control::Reload(b)) => {
                    let r = *b;
                    runner.set_watchlist(r.watch.clone());
                    runner.set_detector_config(r.detectors.clone());
                    if let Some(pan) = &r.pseudonymisation {
                        runner.set_pseudonymisation(pan.clone());
                    }
                    if let Some(ports) = &r.dns_ports {
                        runner.set_dns_ports(ports);
                    }
                    runner.set_commit(r.commit.0, Duration::from_millis(r.commit.1));
                    self.ctx.retention_days = r.retention_days;
                    self.ctx.scrub = r.scrub.clone();
                    self.ctx.log_interval = Duration::from_secs(r.log_interval_s);
                    r.log();
                }
                Ok(Control::ReopenLog) => runner.reopen_alert_sinks(),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let ten_minutes = Duration::from_secs(600);
        if self.ctx.retention_days > 0 && self.last_prune.elapsed() >= ten_minutes {
            // Checked: a horizon that cannot be represented prunes nothing
            // (config validation rejects such values; this is the backstop).
            match crate::time::days_before(crate::time::wall_clock_us(), self.ctx.retention_days) {
                Some(before) => runner.request_prune(before),
                None => tracing::error!(
                    days = self.ctx.retention_days,
                    "storage.retention_days out of range; nothing pruned"
                ),
            }
            self.last_prune = Instant::now();
        }
        if self.ctx.scrub.0 > 0 && self.last_scrub.elapsed() >= ten_minutes {
            match crate::time::days_before(crate::time::wall_clock_us(), self.ctx.scrub.0) {
                Some(before) => runner.request_scrub(before, self.ctx.scrub.1.clone()),
                None => tracing::error!(
                    days = self.ctx.scrub.0,
                    "privacy.scrub_after_days out of range; nothing scrubbed"
                ),
            }
            self.last_scrub = Instant::now();
        }
        if self.last_metrics.elapsed() >= Duration::from_secs(1) {
            self.publish(&runner.counters());
            self.last_metrics = Instant::now();
        }
        if !self.ctx.log_interval.is_zero() && self.last_log.elapsed() >= self.ctx.log_interval {
            let c = runner.counters();
            let drops: u64 = self
                .ctx
                .info
                .ifaces
                .iter()
                .map(|(_, i)| {
                    i.queue_drops.load(Ordering::Relaxed) + i.kernel_drops.load(Ordering::Relaxed)
                })
                .sum();
            tracing::info!(
                packets = c.frames(),
                messages = c.messages(),
                lookups = c.lookups(),
                alerts = c.alerts(),
                errors = c.errors_total(),
                drops,
                pending = c.pending_queries(),
                "stats"
            );
            self.last_log = Instant::now();
        }
    }

    fn publish(&self, c: &Counters) {
        let mut text = metrics::render(c, &self.ctx.info, &ProcessStats::read());
        self.ctx.dnstap.render(&mut text);
        if let Some(ch) = &self.ctx.clickhouse {
            text.push_str(&ch.stats().prometheus());
        }
        if let Ok(mut m) = self.ctx.metrics.lock() {
            *m = text;
        }
    }
}

fn pipeline_thread(
    mut runner: Runner,
    mut source: QueueSource,
    ctx: PipelineCtx,
) -> Result<Counters, DriverError> {
    let mut hk = Housekeeping::new(ctx);
    hk.publish(&runner.counters());
    runner.drive(&mut source, |r, _| {
        hk.run(r);
        ControlFlow::Continue(())
    })?;
    let (counters, _) = runner.finish()?;
    Ok(counters)
}

/// Runs the daemon.
pub fn run(args: RunArgs) -> Result<(), DaemonError> {
    let s = setup(&args.common)?;
    let interfaces = if args.interfaces.is_empty() {
        s.config.raw.capture.interfaces.clone()
    } else {
        args.interfaces.clone()
    };
    let mut dnstap_cfg = s
        .config
        .dnstap_listen()
        .map_err(|e| DaemonError::Usage(e.to_string()))?;
    dnstap_cfg.unix.extend(args.dnstap_sockets.iter().cloned());
    dnstap_cfg.tcp.extend(args.dnstap_tcp.iter().copied());
    let dnstap_on = !(dnstap_cfg.unix.is_empty() && dnstap_cfg.tcp.is_empty());
    if interfaces.is_empty() && !dnstap_on {
        return Err(DaemonError::Usage(
            "nothing to capture: give -i IFACE (capture.interfaces) or --dnstap-socket PATH / --dnstap-tcp ADDR:PORT (capture.dnstap_sockets, capture.dnstap_tcp)".into(),
        ));
    }
    if s.watch.is_empty() {
        return Err(DaemonError::Usage(
            "nothing to watch: give --watch ENTRY or watch.entries in the config".into(),
        ));
    }
    let metrics_addr = s.config.raw.metrics.listen.clone();
    // Open everything that can fail before announcing readiness.
    let lcfg = live_config(&s.config);
    let mut sources = Vec::new();
    for iface in &interfaces {
        sources.push(LiveSource::open(iface, &lcfg)?);
    }
    // dnstap sockets are bound before privileges are dropped (their
    // directory may be root's); only interfaces need CAP_NET_RAW.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| DaemonError::Start {
            what: "the runtime",
            source,
        })?;
    let dnstap_listeners = if dnstap_on {
        let _guard = rt.enter();
        Some(
            crate::dnstap::listen::Listeners::bind(&dnstap_cfg)
                .map_err(|e| DaemonError::Usage(e.to_string()))?,
        )
    } else {
        None
    };
    let user = args
        .user
        .clone()
        .or_else(|| Some(s.config.raw.run.user.clone()).filter(|u| !u.is_empty()));
    drop_privileges(user.as_deref())?;
    let store = SqliteStore::open(&s.db)?;
    let preload = store.preload(crate::detect::preload_days(&s.config.raw.detectors))?;
    let (sink, ch_stats) =
        crate::store::clickhouse::with_primary(s.clickhouse.clone(), Box::new(store), false)
            .map_err(crate::store::StoreError::from)?;
    let writer = Writer::spawn_capped(
        sink,
        true,
        usize::try_from(s.config.raw.storage.max_pending_mb)
            .unwrap_or(usize::MAX)
            .saturating_mul(1 << 20),
    )?;
    let runner = Runner::new(
        &s.config,
        Arc::new(s.watch.clone()),
        Some(writer),
        s.alerts.as_deref(),
        &preload,
    )?
    .keep_going(true)
    .tick_every(256);

    let mut queue_len = 0;
    if !interfaces.is_empty() {
        queue_len += s.config.raw.capture.queue_packets;
    }
    if dnstap_on {
        queue_len += s.config.raw.capture.dnstap_queue;
    }
    let (tx, rx) = sync_channel::<Queued>(queue_len.max(1));
    // dnstap: readers push runs of frames; the gate bounds the frames queued.
    let dnstap_stats = Arc::new(crate::dnstap::DnstapStats::default());
    let dnstap_gate = Arc::new(crate::dnstap::listen::QueueGate::new(
        s.config.raw.capture.dnstap_queue,
    ));
    let dnstap_push: crate::dnstap::listen::Push = {
        let (tx, gate) = (tx.clone(), dnstap_gate.clone());
        Arc::new(move |f| {
            let n = f.frames;
            if !gate.try_acquire(n) {
                return false;
            }
            let ok = tx.try_send(Queued::Dnstap(f)).is_ok();
            if !ok {
                gate.release(n);
            }
            ok
        })
    };
    let (ctl_tx, ctl_rx) = sync_channel::<Control>(16);
    // The BPF filter a reload re-sets on the open captures.
    let filter_swap = Arc::new(FilterSwap::new(&lcfg.filter));
    let stop = Arc::new(AtomicBool::new(false));
    let mut names = Vec::new();
    let mut ifaces = Vec::new();
    let mut capture_handles = Vec::new();
    for (i, src) in sources.into_iter().enumerate() {
        names.push(src.name().to_string());
        let counters = Arc::new(IfaceCounters::default());
        ifaces.push((interfaces[i].clone(), counters.clone()));
        let (tx, stop, swap) = (tx.clone(), stop.clone(), filter_swap.clone());
        let h = std::thread::Builder::new()
            .name(format!("capture-{}", interfaces[i]))
            .spawn(move || capture_thread(src, i, tx, stop, counters, swap))
            .map_err(|source| DaemonError::Start {
                what: "a capture thread",
                source,
            })?;
        capture_handles.push(h);
    }
    drop(tx);
    let reload_stats = Arc::new(ReloadStats::started());
    let info = DaemonInfo {
        ifaces,
        reloads: reload_stats.clone(),
        queue_capacity: s.config.raw.capture.queue_packets as u64,
    };
    // Rendered here, before the endpoint is bound: the first scrape gets
    // every series (the pipeline thread refreshes it every second).
    let metrics: MetricsText = Arc::new(Mutex::new(metrics::render(
        &runner.counters(),
        &info,
        &ProcessStats::read(),
    )));
    let queue_counters = info.ifaces.iter().map(|(_, c)| c.clone()).collect();
    let ctx = PipelineCtx {
        control: ctl_rx,
        info,
        dnstap: dnstap_stats.clone(),
        metrics: metrics.clone(),
        log_interval: Duration::from_secs(s.config.raw.metrics.log_interval_s),
        retention_days: s.config.raw.storage.retention_days,
        clickhouse: ch_stats,
        scrub: (
            s.config.raw.privacy.scrub_after_days,
            s.config.raw.privacy.scrub_fields.clone(),
        ),
    };
    // dnstap sub-sources are numbered after the interfaces.
    let expander = crate::dnstap::Expander::new(
        s.config.raw.capture.dnstap_resolver_messages,
        Arc::new(std::sync::atomic::AtomicUsize::new(names.len())),
        &s.config.sensor(),
    );
    let queue = QueueSource::new(rx, names)
        .with_dnstap(expander, dnstap_gate)
        .with_counters(queue_counters);
    let pipeline = std::thread::Builder::new()
        .name("pipeline".into())
        .spawn(move || pipeline_thread(runner, queue, ctx))
        .map_err(|source| DaemonError::Start {
            what: "the pipeline thread",
            source,
        })?;

    let result: Result<(), DaemonError> = rt.block_on(async {
        match dnstap_listeners {
            Some(l) => drop(l.spawn(dnstap_stats.clone(), dnstap_push)),
            None => drop(dnstap_push),
        }
        use tokio::signal::unix::{signal, SignalKind};
        let sig = |k| {
            signal(k).map_err(|source| DaemonError::Start {
                what: "a signal handler",
                source,
            })
        };
        let (mut term, mut int, mut hup) = (
            sig(SignalKind::terminate())?,
            sig(SignalKind::interrupt())?,
            sig(SignalKind::hangup())?,
        );
        if !metrics_addr.is_empty() {
            let listener = tokio::net::TcpListener::bind(&metrics_addr)
                .await
                .map_err(|source| DaemonError::Metrics {
                    addr: metrics_addr.clone(),
                    source,
                })?;
            tracing::info!(address = %metrics_addr, "metrics at /metrics");
            tokio::spawn(metrics::serve(listener, metrics));
        }
        tracing::info!(interfaces = ?interfaces, dnstap_sockets = ?dnstap_cfg.unix, dnstap_tcp = ?dnstap_cfg.tcp, db = %s.db.display(), entries = s.watch.len(), "capturing");
        sd_notify("READY=1\nSTATUS=capturing");
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|v| v.parse::<u64>().ok());
        let reload_ctx = Arc::new(ReloadCtx {
            common: args.common.clone(),
            cli_interfaces: !args.interfaces.is_empty(),
            running: ReloadCtx::running(&s.config.raw),
            filter: (!interfaces.is_empty()).then(|| filter_swap.clone()),
            stats: reload_stats,
        });
        let mut reloading: Option<tokio::task::JoinHandle<()>> = None;
        let mut again = false;
        let mut wd = tokio::time::interval(Duration::from_micros(
            watchdog.unwrap_or(3_600_000_000) / 2,
        ));
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
        if h.join().is_err() {
            tracing::error!("a capture thread panicked");
        }
    }
    // Ends the dnstap readers (their queue senders with them), so the
    // pipeline drains what was accepted and finishes.
    rt.shutdown_timeout(Duration::from_millis(500));
    let counters = match pipeline.join() {
        Ok(r) => r?,
        Err(_) => return Err(DaemonError::Panicked),
    };
    result?;
    tracing::info!(
        packets = counters.frames(),
        messages = counters.messages(),
        lookups = counters.lookups(),
        alerts = counters.alerts(),
        "stopped; everything committed"
    );
    Ok(())
}
