//! The store writer: a thread that owns the sink and commits batches, so the
//! packet path never waits on the disk unless the queue is full.
//!
//! In the daemon (`keep_going`) a batch that fails for a passing reason
//! (another process holds the write lock, the disk is full) is kept and
//! retried, oldest first, until it commits. Kept batches are bounded by a
//! memory cap (`storage.max_pending_mb`); only beyond it are the oldest
//! dropped, whole, and counted. Each attempt waits at most [`LOCK_WAIT`] for
//! the lock, so the writer keeps taking new batches off the queue and the
//! pipeline is never held up by a lock held elsewhere.

use std::collections::VecDeque;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::store::{Batch, Sink, StoreError};

/// How long one commit attempt of the daemon waits for the write lock.
pub const LOCK_WAIT: Duration = Duration::from_millis(250);
/// Pause between attempts while kept batches fail.
const RETRY_PAUSE: Duration = Duration::from_millis(250);
/// At shutdown, how long kept batches are still retried before they are
/// dropped (and counted).
const SHUTDOWN_RETRY: Duration = Duration::from_secs(20);
/// Default cap on kept batches (`storage.max_pending_mb`).
pub const DEFAULT_MAX_PENDING_BYTES: usize = 128 << 20;
/// Group commit: batches found waiting when the writer is ready are
/// committed together, up to this many lookups. A commit's cost is mostly
/// the index pages it dirties, and a bigger one dirties few more pages:
/// bare SQLite took 1 M lookups of the lean layout in 8.6 CPU s in
/// transactions of 4,096, 4.4 s of 16,384 and 3.9 s of 65,536
/// (`examples/store_ceiling.rs`). A writer that keeps up commits each
/// batch alone, as before.
const GROUP_MAX_LOOKUPS: usize = 65_536;

/// Store-writer failures.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum WriterError {
    /// A batch could not be committed (the first such error of a run that
    /// stops on failure: `replay`).
    #[error("{0}")]
    Commit(String),
    /// The writer thread is gone.
    #[error("store writer stopped")]
    Stopped,
    /// The writer thread panicked.
    #[error("store writer panicked")]
    Panicked,
    /// The writer thread could not be started.
    #[error("cannot start the store writer thread: {0}")]
    Spawn(String),
}

/// Commit statistics (for metrics).
#[derive(Debug, Default, Clone)]
pub struct WriterStats {
    /// Transactions committed (batches that queued up share one: group
    /// commit).
    pub commits: u64,
    /// Batches committed.
    pub batches: u64,
    /// Lookups written.
    pub lookups: u64,
    /// Sum of commit latencies (µs).
    pub commit_us_total: u64,
    /// Largest batch (lookups).
    pub max_batch: u64,
    /// Commit attempts that failed (a kept batch fails again at each retry).
    pub failed: u64,
    /// Batches given up on (failed for good, or beyond the memory cap).
    pub dropped_batches: u64,
    /// Lookups in those batches.
    pub dropped_lookups: u64,
    /// Batches kept for a retry now.
    pub pending_batches: u64,
    /// Approximate bytes of those batches.
    pub pending_bytes: u64,
    /// Wall-clock time (µs since the epoch) of the last successful commit,
    /// or of the writer's start until the first.
    pub last_commit_unix_us: i64,
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

/// The thread's state.
struct Worker {
    sink: Box<dyn Sink>,
    keep_going: bool,
    max_pending_bytes: usize,
    kept: VecDeque<(Batch, usize)>,
    kept_bytes: usize,
    error: Arc<Mutex<Option<String>>>,
    stats: Arc<Mutex<WriterStats>>,
    /// A failure is being reported (logged once until the store recovers).
    failing: bool,
    /// Writes still to be made one batch at a time, after a group failed
    /// for good (so only the batch that fails is dropped).
    ungroup: usize,
}

impl Worker {
    fn stats(&self) -> std::sync::MutexGuard<'_, WriterStats> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn remember(&self, e: &StoreError) {
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(e.to_string());
        }
    }

    fn drop_batch(&mut self, batch: &Batch, why: &str) {
        let mut s = self.stats();
        s.dropped_batches += 1;
        s.dropped_lookups += batch.lookups.len() as u64;
        drop(s);
        tracing::error!(
            lookups = batch.lookups.len(),
            alerts = batch.alerts.len(),
            "batch dropped: {why} (dnswatch_store_dropped_lookups_total)"
        );
    }

    fn keep(&mut self, batch: Batch) {
        let bytes = batch.approx_bytes();
        self.kept_bytes += bytes;
        self.kept.push_back((batch, bytes));
        // Beyond the cap the oldest go, but never the newest: one batch is
        // always kept whatever its size.
        while self.kept_bytes > self.max_pending_bytes && self.kept.len() > 1 {
            if let Some((old, b)) = self.kept.pop_front() {
                self.kept_bytes -= b;
                self.drop_batch(&old, "unwritten batches exceed storage.max_pending_mb");
            }
        }
        self.publish();
    }

    fn publish(&self) {
        let (n, b) = (self.kept.len() as u64, self.kept_bytes as u64);
        let mut s = self.stats();
        s.pending_batches = n;
        s.pending_bytes = b;
    }

    /// How many of the oldest kept batches go in the next commit: those
    /// that fit in [`GROUP_MAX_LOOKUPS`] (at least one, at most what the
    /// sink takes), ending at the first that asks for retention or
    /// scrubbing (they run after its commit). While writes fail, one at a
    /// time: a batch kept for retrying stays alone.
    fn group_len(&self) -> usize {
        let max = if self.failing || self.ungroup > 0 {
            1
        } else {
            self.sink.max_group()
        };
        let mut n = 0;
        let mut lookups = 0;
        for (b, _) in &self.kept {
            if n > 0 && (n == max || lookups + b.lookup_count() > GROUP_MAX_LOOKUPS) {
                break;
            }
            n += 1;
            lookups += b.lookup_count();
            if b.prune_before.is_some() || b.scrub_before.is_some() {
                break;
            }
        }
        n
    }

    /// Writes kept batches oldest first; stops at the first failure.
    /// False when the writer must stop (replay after an error).
    fn drain(&mut self) -> bool {
        loop {
            let n = self.group_len();
            if n == 0 {
                break;
            }
            let t = Instant::now();
            let res = {
                let group: Vec<&Batch> = self.kept.iter().take(n).map(|(b, _)| b).collect();
                self.sink.write_group(&group)
            };
            let us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.ungroup = self.ungroup.saturating_sub(1);
            match res {
                Ok(()) => {
                    if self.failing {
                        self.failing = false;
                        tracing::info!("store writes succeed again");
                    }
                    if self.keep_going {
                        // The store recovered (the lock was released, space came back).
                        *self.error.lock().unwrap_or_else(|p| p.into_inner()) = None;
                    }
                    let (mut batches, mut lookups, mut largest) = (0, 0, 0);
                    for _ in 0..n {
                        if let Some((b, bytes)) = self.kept.pop_front() {
                            self.kept_bytes -= bytes;
                            batches += 1;
                            lookups += b.lookups.len() as u64;
                            largest = largest.max(b.lookups.len() as u64);
                        }
                    }
                    let mut s = self.stats();
                    s.commits += 1;
                    s.batches += batches;
                    s.lookups += lookups;
                    s.max_batch = s.max_batch.max(largest);
                    s.commit_us_total += us;
                    s.last_commit_unix_us = crate::time::wall_clock_us();
                }
                Err(e) => {
                    self.stats().failed += 1;
                    self.remember(&e);
                    if !self.keep_going {
                        tracing::error!(error = %e, batches = n, "commit failed");
                        self.publish();
                        return false;
                    }
                    if e.is_transient() {
                        if !self.failing {
                            self.failing = true;
                            tracing::error!(error = %e, "commit failed; keeping the batch and retrying (dnswatch_store_pending_batches)");
                        }
                        break;
                    }
                    if n > 1 {
                        // Which of them fails for good: one at a time.
                        self.ungroup = n;
                        continue;
                    }
                    if let Some((b, bytes)) = self.kept.pop_front() {
                        self.kept_bytes -= bytes;
                        self.drop_batch(&b, &format!("commit failed for good: {e}"));
                    }
                }
            }
        }
        self.publish();
        true
    }

    fn run(mut self, rx: &Receiver<Batch>) {
        self.work(rx);
        if let Err(e) = self.sink.close() {
            tracing::error!("{e}");
            self.remember(&e);
        }
    }

    fn work(&mut self, rx: &Receiver<Batch>) {
        let mut closed_at: Option<Instant> = None;
        loop {
            if self.kept.is_empty() {
                match rx.recv() {
                    Ok(b) => self.keep(b),
                    Err(_) => return,
                }
            } else if closed_at.is_none() {
                match rx.recv_timeout(RETRY_PAUSE) {
                    Ok(b) => self.keep(b),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => closed_at = Some(Instant::now()),
                }
            } else {
                std::thread::sleep(RETRY_PAUSE);
            }
            // Take everything queued before writing, so senders never wait
            // on a failing store.
            while let Ok(b) = rx.try_recv() {
                self.keep(b);
            }
            if !self.drain() {
                return;
            }
            if closed_at.is_some_and(|t| t.elapsed() >= SHUTDOWN_RETRY) {
                while let Some((b, _)) = self.kept.pop_front() {
                    self.drop_batch(&b, "the store still fails at shutdown");
                }
                self.kept_bytes = 0;
                self.publish();
                return;
            }
        }
    }
}

impl Writer {
    /// Starts the thread. `keep_going`: on a failed commit, keep the batch
    /// and retry (daemon) instead of stopping (replay); kept batches are
    /// capped at [`DEFAULT_MAX_PENDING_BYTES`].
    pub fn spawn(sink: Box<dyn Sink>, keep_going: bool) -> Result<Self, WriterError> {
        Self::spawn_capped(sink, keep_going, DEFAULT_MAX_PENDING_BYTES)
    }

    /// [`Writer::spawn`] with a cap on the bytes of kept batches.
    pub fn spawn_capped(
        mut sink: Box<dyn Sink>,
        keep_going: bool,
        max_pending_bytes: usize,
    ) -> Result<Self, WriterError> {
        let (tx, rx) = sync_channel::<Batch>(4);
        let error = Arc::new(Mutex::new(None));
        let stats = Arc::new(Mutex::new(WriterStats {
            last_commit_unix_us: crate::time::wall_clock_us(),
            ..WriterStats::default()
        }));
        if keep_going {
            sink.set_lock_wait(LOCK_WAIT);
        }
        let worker = Worker {
            sink,
            keep_going,
            max_pending_bytes,
            kept: VecDeque::new(),
            kept_bytes: 0,
            error: error.clone(),
            stats: stats.clone(),
            failing: false,
            ungroup: 0,
        };
        let handle = std::thread::Builder::new()
            .name("dnswatch-store".into())
            .spawn(move || worker.run(&rx))
            .map_err(|e| WriterError::Spawn(e.to_string()))?;
        Ok(Self {
            keep_going,
            tx: Some(tx),
            handle: Some(handle),
            error,
            stats,
        })
    }

    /// Queues a batch (blocks only while the writer thread is busy taking it).
    pub fn send(&self, batch: Batch) -> Result<(), WriterError> {
        if !self.keep_going {
            if let Some(e) = self.failed() {
                return Err(WriterError::Commit(e));
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        match &self.tx {
            Some(tx) => tx.send(batch).map_err(|_| {
                self.failed()
                    .map_or(WriterError::Stopped, WriterError::Commit)
            }),
            None => Err(WriterError::Stopped),
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
    pub fn finish(mut self) -> Result<WriterStats, WriterError> {
        self.tx.take();
        if let Some(h) = self.handle.take() {
            if h.join().is_err() {
                return Err(WriterError::Panicked);
            }
        }
        match self.failed() {
            Some(e) if !self.keep_going => Err(WriterError::Commit(e)),
            _ => Ok(self.stats()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::{channel, Receiver, Sender};

    use super::*;
    use crate::model::Lookup;

    /// A batch of `n` lookups whose first lookup's time is `id`.
    fn batch(id: i64, n: usize) -> Batch {
        Batch {
            lookups: (0..n)
                .map(|i| Lookup {
                    ts_us: id + i as i64,
                    ..Lookup::default()
                })
                .collect(),
            ..Batch::default()
        }
    }

    /// Records the ids of each write (one inner list per commit); the first
    /// write waits for `gate`, so later batches queue up meanwhile; a write
    /// holding batch `bad` fails for good.
    /// The ids of each commit's batches, one list per commit.
    type Commits = Arc<Mutex<Vec<Vec<i64>>>>;

    struct Fake {
        commits: Commits,
        gate: Option<(Sender<()>, Receiver<()>)>,
        bad: i64,
    }

    impl Sink for Fake {
        fn write(&mut self, batch: &Batch) -> Result<(), StoreError> {
            self.write_group(&[batch])
        }
        fn max_group(&self) -> usize {
            64
        }
        fn write_group(&mut self, batches: &[&Batch]) -> Result<(), StoreError> {
            if let Some((entered, gate)) = self.gate.take() {
                let _ = entered.send(());
                let _ = gate.recv();
            }
            let ids: Vec<i64> = batches.iter().map(|b| b.lookups[0].ts_us).collect();
            if ids.contains(&self.bad) {
                return Err(StoreError::Group(0));
            }
            self.commits.lock().unwrap().push(ids);
            Ok(())
        }
    }

    /// A writer over a [`Fake`] that has started writing batch 0 and
    /// waits for the returned gate.
    fn writer(bad: i64) -> (Writer, Sender<()>, Commits) {
        let (gate_tx, gate_rx) = channel();
        let (entered_tx, entered_rx) = channel();
        let commits = Arc::new(Mutex::new(Vec::new()));
        let sink = Fake {
            commits: commits.clone(),
            gate: Some((entered_tx, gate_rx)),
            bad,
        };
        let w = Writer::spawn(Box::new(sink), true).unwrap();
        w.send(batch(0, 1)).unwrap();
        entered_rx.recv().unwrap();
        (w, gate_tx, commits)
    }

    #[test]
    fn batches_that_queue_up_share_one_commit_in_order() {
        let (w, gate, commits) = writer(-1);
        // The first commit is held: these four queue (the channel holds 4).
        for id in 1..=4 {
            w.send(batch(id * 100, 10)).unwrap();
        }
        gate.send(()).unwrap();
        let stats = w.finish().unwrap();
        assert_eq!(
            *commits.lock().unwrap(),
            vec![vec![0], vec![100, 200, 300, 400]]
        );
        assert_eq!((stats.commits, stats.batches, stats.lookups), (2, 5, 41));
        assert_eq!(stats.max_batch, 10);
    }

    #[test]
    fn a_group_is_capped_by_lookups() {
        let (w, gate, commits) = writer(-1);
        for id in 1..=4 {
            w.send(batch(id * 100_000, GROUP_MAX_LOOKUPS / 3)).unwrap();
        }
        gate.send(()).unwrap();
        let stats = w.finish().unwrap();
        let got = commits.lock().unwrap().clone();
        assert_eq!(
            got,
            vec![vec![0], vec![100_000, 200_000, 300_000], vec![400_000]]
        );
        assert_eq!(stats.batches, 5);
    }

    #[test]
    fn a_group_failing_for_good_drops_only_the_batch_that_fails() {
        let (w, gate, commits) = writer(300);
        for id in 1..=4 {
            w.send(batch(id * 100, 10)).unwrap();
        }
        gate.send(()).unwrap();
        let stats = w.finish().unwrap();
        assert_eq!(
            *commits.lock().unwrap(),
            vec![vec![0], vec![100], vec![200], vec![400]]
        );
        assert_eq!((stats.dropped_batches, stats.dropped_lookups), (1, 10));
        assert_eq!(stats.batches, 4);
    }

    #[test]
    fn retention_ends_a_group() {
        let (w, gate, commits) = writer(-1);
        w.send(batch(100, 1)).unwrap();
        let mut pruning = batch(200, 1);
        pruning.prune_before = Some(5);
        w.send(pruning).unwrap();
        w.send(batch(300, 1)).unwrap();
        w.send(batch(400, 1)).unwrap();
        gate.send(()).unwrap();
        w.finish().unwrap();
        assert_eq!(
            *commits.lock().unwrap(),
            vec![vec![0], vec![100, 200], vec![300, 400]]
        );
    }
}
