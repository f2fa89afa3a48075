//! Capture threads and the queue they fill: one thread per interface
//! blocks in libpcap (100 ms timeout) and copies packets into a bounded
//! queue; a full queue drops the packet and counts it, memory never grows.
//! The pipeline thread reads the queue as a [`Source`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::capture::live::{default_filter, LiveConfig, LiveSource};
use crate::capture::{Item, Next, OwnedInput, PacketSource, Source};
use crate::config::Config;

/// What travels from the input threads to the pipeline.
#[derive(Debug)]
pub enum Queued {
    /// A sub-source starts (see [`Next::Begin`]).
    Begin {
        /// Its index.
        index: usize,
        /// Provenance name.
        name: String,
        /// Its own sensor name, if any.
        sensor: Option<String>,
    },
    /// An input.
    Input(QueuedInput),
    /// dnstap frames of one peer (expanded into messages on the pipeline
    /// thread; see [`crate::dnstap::Expander`]).
    Dnstap(crate::dnstap::listen::DnstapFrame),
}

/// One input on its way from an input thread to the pipeline.
#[derive(Debug)]
pub struct QueuedInput {
    /// Index of the sub-source (interface, dnstap peer).
    pub source: usize,
    /// Packet time (µs).
    pub ts_us: i64,
    /// The input.
    pub input: OwnedInput,
}

/// Counters of one capture thread.
#[derive(Debug, Default)]
pub struct IfaceCounters {
    pub(super) received: AtomicU64,
    pub(super) queue_drops: AtomicU64,
    pub(super) kernel_received: AtomicU64,
    pub(super) kernel_drops: AtomicU64,
    pub(super) kernel_if_drops: AtomicU64,
    /// Packets of this interface in the queue now (added by the capture
    /// thread, taken off by [`QueueSource`]).
    pub(super) queued: AtomicU64,
}

impl IfaceCounters {
    fn store_kernel(&self, k: crate::capture::live::KernelStats) {
        self.kernel_received.store(k.received, Ordering::Relaxed);
        self.kernel_drops.store(k.dropped, Ordering::Relaxed);
        self.kernel_if_drops.store(k.if_dropped, Ordering::Relaxed);
    }
}

/// libpcap settings from the config.
pub fn live_config(cfg: &Config) -> LiveConfig {
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

/// Body of a capture thread: until `stop`, packets of `src` into `tx`.
pub fn capture_thread(
    mut src: LiveSource,
    index: usize,
    tx: SyncSender<Queued>,
    stop: Arc<AtomicBool>,
    counters: Arc<IfaceCounters>,
    filter: Arc<super::reload::FilterSwap>,
) {
    let link = src.link_type();
    let mut last_stats = Instant::now();
    let mut filter_seen = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if let Some(f) = filter.changed(&mut filter_seen) {
            match src.set_filter(&f) {
                Ok(()) => tracing::info!(capture = src.name(), filter = %f, "BPF filter re-set"),
                Err(e) => tracing::error!("{e}; the previous filter stays"),
            }
        }
        match src.next_packet() {
            Ok(Some(p)) => {
                counters.received.fetch_add(1, Ordering::Relaxed);
                let item = Queued::Input(QueuedInput {
                    source: index,
                    ts_us: p.ts_us,
                    input: OwnedInput::Frame {
                        link,
                        data: p.data.to_vec(),
                    },
                });
                // Counted before the send so the reader never takes off
                // more than was put on.
                counters.queued.fetch_add(1, Ordering::Relaxed);
                match tx.try_send(item) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        counters.queued.fetch_sub(1, Ordering::Relaxed);
                        counters.queue_drops.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(TrySendError::Disconnected(_)) => {
                        counters.queued.fetch_sub(1, Ordering::Relaxed);
                        return;
                    }
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

/// The capture queue as a [`Source`]: idle after 100 ms without input, ends
/// when every input thread has stopped.
#[derive(Debug)]
pub struct QueueSource {
    rx: Receiver<Queued>,
    /// Interfaces, announced before anything is read.
    names: Vec<String>,
    announced: usize,
    frames: Vec<u64>,
    current: Option<QueuedInput>,
    /// dnstap: frames → messages, and the gate bounding queued frames.
    dnstap: Option<(
        crate::dnstap::Expander,
        Arc<crate::dnstap::listen::QueueGate>,
    )>,
    message: Option<crate::dnstap::Message>,
    /// The input threads' counters by sub-source index (queue depth).
    counters: Vec<Arc<IfaceCounters>>,
}

impl QueueSource {
    /// Reads `rx`; `names[i]` names sub-source `i` (the interfaces) in
    /// provenance; further sub-sources announce themselves on the queue.
    pub fn new(rx: Receiver<Queued>, mut names: Vec<String>) -> Self {
        names.reverse();
        Self {
            announced: 0,
            frames: Vec::new(),
            rx,
            names,
            current: None,
            dnstap: None,
            message: None,
            counters: Vec::new(),
        }
    }

    /// Expands dnstap chunks from the queue with `expander`, releasing
    /// their room in `gate` once taken off the queue.
    pub fn with_dnstap(
        mut self,
        expander: crate::dnstap::Expander,
        gate: Arc<crate::dnstap::listen::QueueGate>,
    ) -> Self {
        self.dnstap = Some((expander, gate));
        self
    }

    /// Takes each input off `counters[source].queued` as it is read, so
    /// the metrics show the queue's depth.
    pub fn with_counters(mut self, counters: Vec<Arc<IfaceCounters>>) -> Self {
        self.counters = counters;
        self
    }
}

impl Source for QueueSource {
    fn next(&mut self) -> Next<'_> {
        if let Some(name) = self.names.pop() {
            self.announced += 1;
            return Next::Begin {
                index: self.announced - 1,
                name,
                sensor: None,
            };
        }
        if let Some((x, _)) = self.dnstap.as_mut() {
            if let Some(b) = x.take_begin() {
                return Next::Begin {
                    index: b.index,
                    name: b.name,
                    sensor: b.sensor,
                };
            }
            if let Some(m) = x.pop() {
                return Next::Item(crate::capture::merge::dnstap_item(self.message.insert(m)));
            }
        }
        match self.rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Queued::Dnstap(f)) => {
                match self.dnstap.as_mut() {
                    Some((x, gate)) => {
                        gate.release(f.frames);
                        x.load_chunk(&f.peer, &f.data);
                        if !x.is_empty() {
                            // Hands out what the chunk gave (at most one level deep).
                            return self.next();
                        }
                    }
                    None => tracing::error!("dnstap frames without a dnstap expander"),
                }
                Next::Idle
            }
            Ok(Queued::Begin {
                index,
                name,
                sensor,
            }) => Next::Begin {
                index,
                name,
                sensor,
            },
            Ok(Queued::Input(q)) => {
                if self.frames.len() <= q.source {
                    self.frames.resize(q.source + 1, 0);
                }
                self.frames[q.source] += 1;
                if let Some(c) = self.counters.get(q.source) {
                    // Saturating: inputs of threads without counters.
                    let _ = c
                        .queued
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                            Some(n.saturating_sub(1))
                        });
                }
                let frame = self.frames[q.source];
                let q = self.current.insert(q);
                Next::Item(Item {
                    source: q.source,
                    ts_us: q.ts_us,
                    frame,
                    input: q.input.as_input(),
                })
            }
            Err(RecvTimeoutError::Timeout) => Next::Idle,
            Err(RecvTimeoutError::Disconnected) => Next::End,
        }
    }
}
