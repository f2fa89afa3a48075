//! The store writer: a thread that owns the sink and commits batches, so the
//! packet path never waits on the disk unless the queue is full.

use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::store::{Batch, Sink, StoreError};

/// Commit statistics (for metrics).
#[derive(Debug, Default, Clone)]
pub struct WriterStats {
    /// Batches committed.
    pub commits: u64,
    /// Lookups written.
    pub lookups: u64,
    /// Sum of commit latencies (µs).
    pub commit_us_total: u64,
    /// Largest batch (lookups).
    pub max_batch: u64,
    /// Batches that failed (their rows are lost; the database stays consistent).
    pub failed: u64,
}

/// Handle to the writer thread.
#[derive(Debug)]
pub struct Writer {
    keep_going: bool,
    tx: Option<SyncSender<Batch>>,
    handle: Option<JoinHandle<()>>,
    error: Arc<Mutex<Option<String>>>,
    stats: Arc<Mutex<WriterStats>>,
}

impl Writer {
    /// Starts the thread. `keep_going`: on a failed commit, log and carry on
    /// (daemon) instead of stopping (replay).
    pub fn spawn(mut sink: Box<dyn Sink>, keep_going: bool) -> Self {
        let (tx, rx) = sync_channel::<Batch>(4);
        let error = Arc::new(Mutex::new(None));
        let stats = Arc::new(Mutex::new(WriterStats::default()));
        let (err2, stats2) = (error.clone(), stats.clone());
        let handle = std::thread::Builder::new()
            .name("dnswatch-store".into())
            .spawn(move || {
                for batch in rx {
                    let t = Instant::now();
                    let res: Result<(), StoreError> = sink.write(&batch);
                    let us = t.elapsed().as_micros() as u64;
                    let mut s = stats2.lock().unwrap_or_else(|p| p.into_inner());
                    match res {
                        Ok(()) => {
                            if keep_going {
                                // The store recovered (e.g. disk space came back).
                                let mut slot = err2.lock().unwrap_or_else(|p| p.into_inner());
                                if slot.take().is_some() {
                                    tracing::info!("store writes succeed again");
                                }
                            }
                            s.commits += 1;
                            s.lookups += batch.lookups.len() as u64;
                            s.commit_us_total += us;
                            s.max_batch = s.max_batch.max(batch.lookups.len() as u64);
                        }
                        Err(e) => {
                            s.failed += 1;
                            tracing::error!(error = %e, lookups = batch.lookups.len(), "commit failed; batch dropped");
                            let mut slot = err2.lock().unwrap_or_else(|p| p.into_inner());
                            if slot.is_none() {
                                *slot = Some(e.to_string());
                            }
                            if !keep_going {
                                return;
                            }
                        }
                    }
                }
            })
            .ok();
        Self {
            keep_going,
            tx: Some(tx),
            handle,
            error,
            stats,
        }
    }

    /// Queues a batch (blocks while the writer is behind).
    pub fn send(&self, batch: Batch) -> Result<(), String> {
        if !self.keep_going {
            if let Some(e) = self.failed() {
                return Err(e);
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        match &self.tx {
            Some(tx) => tx.send(batch).map_err(|_| {
                self.failed()
                    .unwrap_or_else(|| "store writer stopped".into())
            }),
            None => Err("store writer closed".into()),
        }
    }

    /// The first commit error, if any.
    pub fn failed(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Clears the remembered error (after the store recovered).
    pub fn clear_error(&self) {
        *self.error.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Commit statistics so far.
    pub fn stats(&self) -> WriterStats {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits until everything queued is committed; returns the first error.
    pub fn finish(mut self) -> Result<WriterStats, String> {
        self.tx.take();
        if let Some(h) = self.handle.take() {
            if h.join().is_err() {
                return Err("store writer panicked".into());
            }
        }
        match self.failed() {
            Some(e) if !self.keep_going => Err(e),
            _ => Ok(self.stats()),
        }
    }
}
