//! What happens to lookups after the pipeline, shared by `replay` and `run`:
//! batching into the store, the detectors and the alert log.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::alert::AlertLog;
use crate::config::Config;
use crate::decode::ErrorKind;
use crate::detect::Engine;
use crate::model::Alert;
use crate::model::Preload;
use crate::pipeline::Pipeline;
use crate::store::writer::{Writer, WriterStats};
use crate::store::Batch;
use crate::watch::Watchlist;

/// Totals at the end of a run.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Frames read.
    pub packets: u64,
    /// DNS messages.
    pub messages: u64,
    /// Queries.
    pub queries: u64,
    /// Responses.
    pub responses: u64,
    /// Lookups recorded.
    pub lookups: u64,
    /// Of which unanswered.
    pub unanswered: u64,
    /// Of which without a captured query.
    pub unsolicited: u64,
    /// Alerts raised.
    pub alerts: u64,
    /// Decode errors by kind.
    pub errors: Vec<(ErrorKind, u64)>,
    /// Datagrams reassembled from fragments.
    pub reassembled: u64,
    /// TCP holes given up on.
    pub tcp_gaps: u64,
    /// State dropped to stay within memory caps: (what, count).
    pub evictions: Vec<(&'static str, u64)>,
    /// Store statistics.
    pub store: WriterStats,
}

/// Pipeline plus everything downstream of it.
#[derive(Debug)]
pub struct Flow {
    /// The packet pipeline (feed it packets).
    pub pipeline: Pipeline,
    writer: Writer,
    batch: Batch,
    batch_size: usize,
    commit_interval: Duration,
    last_commit: Instant,
    alerts: u64,
    /// The detectors.
    pub engine: Engine,
    /// Querier pseudonymisation, when configured.
    pan: Option<crate::privacy::CryptoPan>,
    /// Evictions already reported in a `state_evicted` alert, and when.
    evictions_reported: u64,
    eviction_alert_at: i64,
    alert_log: Option<AlertLog>,
}

impl Flow {
    /// Builds the flow; `alert_log` is the JSON-lines file to append alerts to.
    pub fn new(
        config: &Config,
        watch: Arc<Watchlist>,
        writer: Writer,
        alert_log: Option<&Path>,
        preload: &Preload,
    ) -> Result<Self, String> {
        let alert_log = match alert_log {
            Some(p) => Some(
                AlertLog::open(p)
                    .map_err(|e| format!("cannot open alert log {}: {e}", p.display()))?,
            ),
            None => None,
        };
        let pan = if config.raw.privacy.pseudonymize_queriers {
            Some(crate::privacy::CryptoPan::from_key_file(
                &config.raw.privacy.key_file,
            )?)
        } else {
            None
        };
        Ok(Self {
            pan,
            engine: Engine::new(config.raw.detectors.clone(), preload),
            evictions_reported: 0,
            eviction_alert_at: i64::MIN,
            alert_log,
            pipeline: Pipeline::new(&config.pipeline(), watch),
            writer,
            batch: Batch::default(),
            batch_size: config.raw.storage.batch_size,
            commit_interval: Duration::from_millis(config.raw.storage.commit_interval_ms),
            last_commit: Instant::now(),
            alerts: 0,
        })
    }

    /// Collects what the pipeline produced; commits when the batch is full,
    /// the commit interval has passed, or `force`.
    pub fn tick(&mut self, force: bool) -> Result<(), String> {
        self.absorb();
        self.engine.advance(self.pipeline.now());
        let mut alerts = self.engine.take_alerts();
        alerts.extend(self.eviction_alert());
        self.emit_alerts(alerts)?;
        if let Some(log) = self.alert_log.as_mut() {
            let _ = log.retry();
        }
        let due = force
            || self.batch.prune_before.is_some()
            || self.batch.scrub_before.is_some()
            || self.batch.lookups.len() >= self.batch_size
            || self.last_commit.elapsed() >= self.commit_interval;
        if due {
            self.batch.hourly.extend(self.pipeline.take_hourly(force));
            self.alerts += self.batch.alerts.len() as u64;
            let batch = std::mem::take(&mut self.batch);
            self.last_commit = Instant::now();
            self.writer.send(batch)?;
        }
        Ok(())
    }

    /// State dropped to stay within the memory caps, by kind.
    pub fn evictions(&self) -> Vec<(&'static str, u64)> {
        let p = &self.pipeline;
        vec![
            ("pending_queries", p.pending_evictions()),
            ("tcp_streams", p.decoder.tcp.evicted),
            ("fragments", p.decoder.defrag.evicted),
            ("detector_queriers", self.engine.stats.querier_evictions),
            ("detector_names", self.engine.stats.name_evictions),
        ]
    }

    /// Evicted state can hide lookups (a query dropped before its response,
    /// a TCP stream or datagram dropped half-way): say so, at most hourly.
    fn eviction_alert(&mut self) -> Option<Alert> {
        let ev = self.evictions();
        let hiding: u64 = ev.iter().take(3).map(|e| e.1).sum();
        let now = self.pipeline.now();
        if hiding <= self.evictions_reported
            || now.saturating_sub(self.eviction_alert_at) < 3_600_000_000
        {
            return None;
        }
        let new = hiding - self.evictions_reported;
        self.evictions_reported = hiding;
        self.eviction_alert_at = now;
        let evidence: serde_json::Map<String, serde_json::Value> = ev
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).into()))
            .collect();
        let mut alert = Alert {
            id: String::new(),
            ts_us: now,
            kind: "state_evicted".into(),
            severity: crate::model::Severity::Warning,
            entry: "*".into(),
            entries: Vec::new(),
            name: String::new(),
            querier: None,
            window: "since start".into(),
            evidence: serde_json::Value::Object(evidence),
            message: format!(
                "{new} pieces of state were dropped to stay within the memory caps ([limits]); lookups they belonged to may be missing or unpaired"
            ),
            suppressed: 0,
        };
        alert.seal();
        Some(alert)
    }

    fn emit_alerts(&mut self, alerts: Vec<Alert>) -> Result<(), String> {
        if alerts.is_empty() {
            return Ok(());
        }
        for a in &alerts {
            tracing::warn!(target: "alert", kind = %a.kind, entry = %a.entry, querier = a.querier.as_deref().unwrap_or("-"), "{}", a.message);
        }
        if let Some(log) = self.alert_log.as_mut() {
            // Never blocks the store: a failing log keeps the lines for a
            // retry, logs the failure once and counts it (see AlertLog).
            let _ = log.write(&alerts);
        }
        self.batch.alerts.extend(alerts);
        Ok(())
    }

    /// Takes the pipeline's new lookups through pseudonymisation and the
    /// detectors into the pending batch.
    fn absorb(&mut self) {
        let mut lookups = self.pipeline.take_lookups();
        self.pseudonymise(&mut lookups);
        for l in &lookups {
            self.engine.lookup(l);
        }
        self.batch.lookups.extend(lookups);
    }

    fn pseudonymise(&self, lookups: &mut [crate::model::Lookup]) {
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

    /// Store statistics so far.
    pub fn store_stats(&self) -> WriterStats {
        self.writer.stats()
    }

    /// Alert-log counters (`None` without a log).
    pub fn alert_log_stats(&self) -> Option<crate::alert::AlertLogStats> {
        self.alert_log.as_ref().map(AlertLog::stats)
    }

    /// Reopens the alert log (SIGHUP, for logrotate).
    pub fn reopen_alert_log(&mut self) -> Result<(), String> {
        match self.alert_log.as_mut() {
            Some(log) => log
                .reopen()
                .map_err(|e| format!("reopening alert log {}: {e}", log.path().display())),
            None => Ok(()),
        }
    }

    /// Ends the input: pending queries become unanswered, everything is committed.
    pub fn finish(mut self) -> Result<Summary, String> {
        self.pipeline.flush_decoder();
        while self.pipeline.drain_pending(self.batch_size) {
            self.tick(false)?;
        }
        self.pipeline.finish();
        self.absorb();
        self.engine.finish();
        let alerts = self.engine.take_alerts();
        self.emit_alerts(alerts)?;
        self.tick(true)?;
        let p = &self.pipeline;
        let d = p.dns_stats().clone();
        let mut summary = Summary {
            packets: p.decoder.stats.packets,
            messages: d.messages,
            queries: d.queries,
            responses: d.responses,
            lookups: d.lookups,
            unanswered: d.unanswered,
            unsolicited: d.unsolicited,
            alerts: self.alerts,
            errors: p.errors_by_kind(),
            reassembled: p.decoder.stats.reassembled,
            tcp_gaps: p.decoder.tcp.gaps,
            evictions: self.evictions(),
            store: WriterStats::default(),
        };
        summary.store = self.writer.finish()?;
        if let Some(log) = self.alert_log.as_mut() {
            if let Err(e) = log.flush() {
                let st = log.stats();
                return Err(format!(
                    "alert log {}: {} alerts could not be written ({e}); {} were dropped from the log earlier; all alerts are in the database",
                    log.path().display(),
                    st.pending,
                    st.dropped
                ));
            }
            let dropped = log.stats().dropped;
            if dropped > 0 {
                return Err(format!(
                    "alert log {}: {dropped} alerts were dropped from the log while it failed; all alerts are in the database",
                    log.path().display()
                ));
            }
        }
        Ok(summary)
    }
}
