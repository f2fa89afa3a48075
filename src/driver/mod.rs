//! The driver: the one loop every run goes through.
//!
//! A [`Runner`] owns the pipeline, the detectors, the alert sinks and the
//! store writer. [`Runner::drive`] pulls [`Item`]s from a [`Source`]
//! (merged capture files for `replay`, the capture queue for `run`, a
//! dnstap stream), feeds them to the pipeline, runs the detectors on what
//! comes out, hands alerts to the sinks and batches lookups into the store.
//! `replay`, `run`, the benchmarks and the test support all use it.

mod counters;

use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;

pub use counters::{Counters, EVICTIONS};

use crate::alert::{AlertLog, AlertSink, TracingSink};
use crate::capture::{Input, Next, Source};
use crate::config::Config;
use crate::detect::Engine;
use crate::model::{Alert, Lookup, Preload, Severity};
use crate::pipeline::Pipeline;
use crate::store::writer::{Writer, WriterError};
use crate::store::Batch;
use crate::watch::Watchlist;

/// Driver failures.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DriverError {
    /// The store failed (a run that stops on failure: `replay`).
    #[error(transparent)]
    Store(#[from] WriterError),
    /// The alert log could not be opened.
    #[error("cannot open alert log {}: {source}", path.display())]
    AlertLogOpen {
        /// Log path.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The pseudonymisation key could not be read.
    #[error(transparent)]
    Privacy(#[from] crate::privacy::KeyError),
    /// An alert sink lost alerts (they are all in the database).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    AlertSink(Vec<crate::alert::AlertSinkError>),
}

/// Inputs fed between two ticks by default.
const TICK_EVERY: u64 = 1024;

/// Distinct rrsets the pipeline aggregates before a batch takes them
/// (about 150 bytes each: this bounds the aggregator near 15 MiB).
const RRSETS_PER_BATCH: usize = 100_000;

/// Pipeline plus everything downstream of it.
#[derive(Debug)]
pub struct Runner {
    pipeline: Pipeline,
    engine: Engine,
    /// `None`: lookups are collected in memory (tests, benchmarks).
    writer: Option<Writer>,
    collected: Vec<Lookup>,
    sinks: Vec<Box<dyn AlertSink>>,
    batch: Batch,
    batch_size: usize,
    /// Lookups the last batch committed held (room reserved for the next).
    batch_room: usize,
    commit_interval: Duration,
    last_commit: Instant,
    alerts: u64,
    /// Querier pseudonymisation, when configured.
    pan: Option<crate::privacy::CryptoPan>,
    /// Evictions already reported in a `state_evicted` alert, and when.
    evictions_reported: u64,
    eviction_alert_at: i64,
    /// A store failure is logged and the run goes on (`run`), or it ends
    /// the run (`replay`).
    keep_going: bool,
    tick_every: u64,
    /// Pipeline source id of each sub-source index of the source driven.
    source_ids: Vec<u32>,
    selected: u32,
}

impl Runner {
    /// A runner for `config`: detectors primed with `preload`, lookups to
    /// `writer` (or collected in memory without one), alerts to the process
    /// log and, when given, the JSON-lines log at `alert_log`.
    pub fn new(
        config: &Config,
        watch: Arc<Watchlist>,
        writer: Option<Writer>,
        alert_log: Option<&std::path::Path>,
        preload: &Preload,
    ) -> Result<Self, DriverError> {
        let mut sinks: Vec<Box<dyn AlertSink>> = vec![Box::new(TracingSink)];
        if let Some(path) = alert_log {
            let log = AlertLog::open(path).map_err(|source| DriverError::AlertLogOpen {
                path: path.to_path_buf(),
                source,
            })?;
            sinks.push(Box::new(log.with_shape(config.raw.alerts.format)));
        }
        let pan = if config.raw.privacy.pseudonymize_queriers {
            Some(
                crate::privacy::CryptoPan::from_key_file(&config.raw.privacy.key_file)
                    .map_err(DriverError::Privacy)?,
            )
        } else {
            None
        };
        let keep_going = false;
        Ok(Self {
            pan,
            engine: Engine::new(config.raw.detectors.clone(), preload),
            evictions_reported: 0,
            eviction_alert_at: i64::MIN,
            sinks,
            pipeline: Pipeline::new(&config.pipeline(), watch),
            writer,
            collected: Vec::new(),
            batch: Batch::default(),
            batch_size: config.raw.storage.batch_size,
            batch_room: 0,
            commit_interval: Duration::from_millis(config.raw.storage.commit_interval_ms),
            last_commit: Instant::now(),
            alerts: 0,
            keep_going,
            tick_every: TICK_EVERY,
            source_ids: Vec::new(),
            selected: u32::MAX,
        })
    }

    /// A store failure is logged and the run goes on (the daemon: its
    /// writer keeps failed batches and retries them).
    pub fn keep_going(mut self, yes: bool) -> Self {
        self.keep_going = yes;
        self
    }

    /// Ticks (collect, detect, maybe commit, housekeeping) after this many
    /// inputs, and whenever the source is idle.
    pub fn tick_every(mut self, inputs: u64) -> Self {
        self.tick_every = inputs.max(1);
        self
    }

    /// Adds an alert sink.
    pub fn add_alert_sink(&mut self, sink: Box<dyn AlertSink>) {
        self.sinks.push(sink);
    }

    /// Feeds `source` to its end (or until `every` breaks). `every` runs
    /// after each tick: the daemon's control messages, retention, metrics;
    /// replay's progress bar.
    /// Generic over the source so the per-input call is static (the
    /// packet loop is the hottest code of a replay); `every` also sees the
    /// source, so replay reads its progress there.
    pub fn drive<S: Source + ?Sized>(
        &mut self,
        source: &mut S,
        mut every: impl FnMut(&mut Self, &S) -> std::ops::ControlFlow<()>,
    ) -> Result<(), DriverError> {
        // Inputs left until the next tick (a countdown, not a modulo).
        let mut left = self.tick_every;
        loop {
            match source.next() {
                Next::Begin {
                    index,
                    name,
                    sensor,
                } => {
                    self.begin_source(index, &name, sensor.as_deref());
                    continue;
                }
                Next::Item(item) => {
                    self.select(item.source);
                    self.feed(item);
                    left -= 1;
                    if left > 0 {
                        continue;
                    }
                    left = self.tick_every;
                }
                Next::Idle => {}
                Next::End => break,
            }
            self.tick(false)?;
            if every(self, source).is_break() {
                break;
            }
        }
        self.tick(false)
    }

    /// Registers sub-source `index` of the source being driven.
    fn begin_source(&mut self, index: usize, name: &str, sensor: Option<&str>) {
        let id = self.pipeline.begin_source(name);
        if let Some(sensor) = sensor {
            self.pipeline.set_source_sensor(id, sensor);
        }
        if self.source_ids.len() <= index {
            self.source_ids.resize(index + 1, u32::MAX);
        }
        self.source_ids[index] = id;
        self.selected = id;
    }

    /// Makes sub-source `index` current (an unannounced one is registered
    /// under a made-up name rather than mixed up with another).
    #[inline]
    fn select(&mut self, index: usize) {
        // Per input: the current source again is the common case.
        match self.source_ids.get(index) {
            Some(&id) if id == self.selected && id != u32::MAX => {}
            _ => self.switch(index),
        }
    }

    #[cold]
    fn switch(&mut self, index: usize) {
        let id = match self.source_ids.get(index) {
            Some(&id) if id != u32::MAX => id,
            _ => {
                self.begin_source(index, &format!("input{index}"), None);
                return;
            }
        };
        if id != self.selected {
            self.pipeline.select_source(id);
            self.selected = id;
        }
    }

    /// Feeds one input to the pipeline (the source must be selected).
    #[inline]
    fn feed(&mut self, item: crate::capture::Item<'_>) {
        match item.input {
            Input::Frame { link, data } => {
                self.pipeline.packet(item.ts_us, item.frame, link, data);
            }
            Input::Message {
                src,
                dst,
                transport,
                payload,
            } => {
                self.pipeline
                    .message(item.ts_us, item.frame, src, dst, transport, payload);
            }
        }
    }

    /// Collects what the pipeline produced; commits when the batch is full,
    /// the commit interval has passed, or `force`. A store failure ends the
    /// run unless [`Runner::keep_going`] (then it is logged and the writer
    /// keeps and retries the batch).
    pub fn tick(&mut self, force: bool) -> Result<(), DriverError> {
        match self.tick_inner(force) {
            Err(e) if self.keep_going => {
                tracing::error!("{e}");
                Ok(())
            }
            r => r,
        }
    }

    fn tick_inner(&mut self, force: bool) -> Result<(), DriverError> {
        self.absorb();
        self.engine.advance(self.pipeline.now());
        let mut alerts = self.engine.take_alerts();
        alerts.extend(self.eviction_alert());
        self.emit_alerts(alerts);
        for s in &mut self.sinks {
            s.retry();
        }
        let due = force
            || self.batch.prune_before.is_some()
            || self.batch.scrub_before.is_some()
            || self.batch.lookup_count() >= self.batch_size
            || self.pipeline.rrsets_pending() >= RRSETS_PER_BATCH
            || self.last_commit.elapsed() >= self.commit_interval;
        if due {
            self.batch.hourly.extend(self.pipeline.take_hourly(force));
            self.batch.rrsets.extend(self.pipeline.take_rrsets());
            self.alerts += self.batch.alerts.len() as u64;
            self.batch_room = self.batch.lookups.len();
            let batch = std::mem::take(&mut self.batch);
            self.last_commit = Instant::now();
            match &self.writer {
                Some(w) => w.send(batch)?,
                None => self.collected.extend(batch.lookups),
            }
        }
        Ok(())
    }

    /// Swaps in a new watch list (SIGHUP).
    pub fn set_watchlist(&mut self, watch: Arc<Watchlist>) {
        self.pipeline.set_watchlist(watch);
    }

    /// Turns querier pseudonymisation on (with this key) or off (SIGHUP):
    /// lookups committed from now on are stored accordingly.
    pub fn set_pseudonymisation(&mut self, pan: Option<crate::privacy::CryptoPan>) {
        self.pan = pan;
    }

    /// Swaps the DNS ports (SIGHUP).
    pub fn set_dns_ports(&mut self, ports: &[u16]) {
        self.pipeline.set_dns_ports(ports);
    }

    /// Swaps the batch size and commit interval (SIGHUP).
    pub fn set_commit(&mut self, batch_size: usize, interval: Duration) {
        self.batch_size = batch_size;
        self.commit_interval = interval;
    }

    /// Swaps in new detector settings (SIGHUP).
    pub fn set_detector_config(&mut self, cfg: crate::detect::DetectorConfig) {
        self.engine.set_config(cfg);
    }

    /// Every counter now.
    pub fn counters(&self) -> Counters {
        let p = &self.pipeline;
        let d = p.dns_stats();
        let all = p.errors_by_kind();
        let errors = crate::decode::ErrorKind::ALL
            .iter()
            .map(|k| {
                let n = all.iter().find(|(e, _)| e == k).map_or(0, |(_, n)| *n);
                (k.name(), n)
            })
            .collect();
        let ds = p.decoder_stats();
        let es = &self.engine.stats;
        Counters {
            frames: ds.packets,
            messages: d.messages,
            queries: d.queries,
            responses: d.responses,
            lookups: d.lookups,
            unanswered: d.unanswered,
            unsolicited: d.unsolicited,
            late: d.late,
            unwatched: d.unwatched,
            alerts: self.alerts,
            alerts_by_kind: es.alerts.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            alerts_suppressed: es.suppressed,
            errors,
            reassembled: ds.reassembled,
            tcp_gaps: ds.tcp_gaps,
            tcp_streams: ds.tcp_streams,
            fragment_buffers: ds.fragment_buffers,
            fragment_bytes: ds.fragment_bytes,
            pending_queries: p.pending_queries() as u64,
            evictions: [
                p.pending_evictions(),
                ds.tcp_evicted,
                ds.fragment_evicted,
                es.querier_evictions,
                es.name_evictions,
            ],
            store: self.writer.as_ref().map(Writer::stats).unwrap_or_default(),
            alert_log: self
                .sinks
                .iter()
                .find_map(|s| s.stats())
                .unwrap_or_default(),
        }
    }

    /// Evicted state can hide lookups (a query dropped before its response,
    /// a TCP stream or datagram dropped half-way): say so, at most hourly.
    fn eviction_alert(&mut self) -> Option<Alert> {
        let c = self.counters();
        let hiding = c.hiding_evictions();
        let now = self.pipeline.now();
        if hiding <= self.evictions_reported
            || now.saturating_sub(self.eviction_alert_at) < 3_600_000_000
        {
            return None;
        }
        let new = hiding - self.evictions_reported;
        self.evictions_reported = hiding;
        self.eviction_alert_at = now;
        let evidence: serde_json::Map<String, serde_json::Value> = c
            .evictions()
            .map(|(k, v)| (k.to_string(), v.into()))
            .collect();
        let mut alert = Alert {
            id: String::new(),
            ts_us: now,
            kind: "state_evicted".into(),
            severity: Severity::Warning,
            entry: "*".into(),
            entries: Vec::new(),
            name: String::new(),
            querier: None,
            window: "since start".into(),
            window_start_us: None,
            sensor: String::new(),
            evidence: serde_json::Value::Object(evidence),
            message: format!(
                "{new} pieces of state were dropped to stay within the memory caps ([limits]); lookups they belonged to may be missing or unpaired"
            ),
            suppressed: 0,
        };
        alert.seal();
        Some(alert)
    }

    fn emit_alerts(&mut self, mut alerts: Vec<Alert>) {
        if alerts.is_empty() {
            return;
        }
        for a in &mut alerts {
            if a.sensor.is_empty() {
                a.sensor = self.pipeline.sensor().to_string();
            }
        }
        // Sinks never block the store: a failing one keeps the alerts for
        // a retry, logs the failure once and counts it.
        for s in &mut self.sinks {
            s.emit(&alerts);
        }
        self.batch.alerts.extend(alerts);
    }

    /// Takes the pipeline's new lookups through pseudonymisation and the
    /// detectors into the pending batch.
    fn absorb(&mut self) {
        let mut lookups = self.pipeline.take_lookups();
        self.pseudonymise(&mut lookups);
        if self.pipeline.records_all() {
            // Unwatched lookups (`record = "all"`) go to ClickHouse only:
            // not to SQLite, not to the detectors.
            for l in lookups {
                if l.entry.is_empty() {
                    self.batch.unwatched.push(l);
                } else {
                    self.engine.lookup(&l);
                    self.batch.lookups.push(l);
                }
            }
            return;
        }
        for l in &lookups {
            self.engine.lookup(l);
        }
        if self.batch.lookups.is_empty() {
            // Room for as many as the last batch held: the batch does not
            // regrow (and copy what it holds) on the way.
            self.batch
                .lookups
                .reserve(self.batch_room.max(lookups.len()));
        }
        self.batch.lookups.append(&mut lookups);
        self.pipeline.recycle_lookups(lookups);
    }

    fn pseudonymise(&self, lookups: &mut [Lookup]) {
        let Some(pan) = &self.pan else {
            return;
        };
        for l in lookups {
            l.querier = std::net::SocketAddr::new(pan.anonymise(l.querier.ip()), l.querier.port());
            if let Some(ecs) = l.ecs.as_mut() {
                if let Some((addr, len)) = ecs.split_once('/') {
                    if let Ok(ip) = addr.parse::<std::net::IpAddr>() {
                        *ecs = format!("{}/{len}", pan.anonymise(ip));
                    }
                }
            }
        }
    }

    /// Asks the store to clear `fields` of lookups older than `before_us`.
    pub fn request_scrub(&mut self, before_us: i64, fields: Vec<String>) {
        self.batch.scrub_before = Some((before_us, fields));
    }

    /// Asks the store to delete lookups older than `before_us` (in chunks).
    pub fn request_prune(&mut self, before_us: i64) {
        self.batch.prune_before = Some(before_us);
    }

    /// Reopens the alert sinks' files (SIGHUP, for logrotate).
    pub fn reopen_alert_sinks(&mut self) {
        for s in &mut self.sinks {
            if let Err(e) = s.reopen() {
                tracing::error!("{e}");
            }
        }
    }

    /// Ends the input: pending queries become unanswered, everything is
    /// committed; returns the final counters and, without a store, the
    /// lookups collected.
    pub fn finish(mut self) -> Result<(Counters, Vec<Lookup>), DriverError> {
        self.pipeline.flush_decoder();
        while self.pipeline.drain_pending(self.batch_size) {
            self.tick(false)?;
        }
        self.pipeline.finish();
        self.absorb();
        self.engine.finish();
        let alerts = self.engine.take_alerts();
        self.emit_alerts(alerts);
        self.tick(true)?;
        let mut counters = self.counters();
        if let Some(w) = self.writer.take() {
            counters.store = w.finish()?;
        }
        let mut lost = Vec::new();
        for s in &mut self.sinks {
            if let Err(e) = s.finish() {
                lost.push(e);
            }
        }
        if let Some(st) = self.sinks.iter().find_map(|s| s.stats()) {
            counters.alert_log = st;
        }
        if !lost.is_empty() {
            return Err(DriverError::AlertSink(lost));
        }
        Ok((counters, std::mem::take(&mut self.collected)))
    }
}
