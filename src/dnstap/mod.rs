//! dnstap input: the resolver's own view of its clients (including DoT,
//! DoH and DoQ clients that no packet capture can read).
//!
//! # Design
//!
//! ```text
//! unix / TCP socket ──► listen (tokio task per peer: Frame Streams handshake,
//!   (resolvers)          read frames, try-push into the daemon's bounded
//!                        queue; full queue → frame dropped and counted)
//! file (fstrm_capture) ─► frame::FileReader
//!                              │  data frame (Bytes, zero-copy)
//!                              ▼
//!                        Feeder: proto decode (prost) → map (one or two DNS
//!                        messages with endpoints) → Pipeline::message
//! ```
//!
//! * [`frame`] is sans-I/O: a parser over a byte buffer and a state machine
//!   per stream (unidirectional for files, the receiving end of the
//!   bidirectional handshake for sockets). Every length is bounded before
//!   anything is allocated (data frames by `max_frame`, 1 MiB by default;
//!   control frames by 512 bytes) and every error names the file or peer and
//!   the byte offset of the frame.
//! * [`proto`] is dnstap.proto as hand-written `prost` derives (no protoc,
//!   no build script).
//! * [`map`] turns a dnstap message into DNS messages: the query side to the
//!   response side at `query_time` for a query, back at `response_time` for
//!   a response; the pipeline pairs them as it pairs captured packets. The
//!   dnstap times are the only clock, so a file replays to the same lookups
//!   and alerts every time. CLIENT_* and AUTH_* are recorded; RESOLVER_*
//!   and the other roles are counted by type and recorded only with
//!   `capture.dnstap_resolver_messages`, with the role appended to the
//!   sensor (`ub1/resolver`).
//! * [`listen`] never makes a resolver wait on dnswatch: a reader task per
//!   peer only parses frame boundaries and hands whole frames to a
//!   non-blocking push; decoding happens on the pipeline thread. A peer that
//!   breaks the protocol is logged, counted and disconnected; the others
//!   are unaffected.
//! * [`Feeder`] is the only piece that touches the [`Pipeline`]: the daemon
//!   and `replay` each call [`Feeder::feed`] per frame.
//!
//! The sensor recorded on a lookup is the dnstap `identity` when the server
//! sends one, else the configured `capture.sensor` (or host name).

pub mod file;
pub mod frame;
pub mod listen;
pub mod map;
pub mod proto;

use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rustc_hash::FxHashMap;

use crate::pipeline::Pipeline;
use map::Role;
use proto::MessageType;

/// Peers listed in the metrics at most (more fold into `other`).
pub const MAX_PEERS: usize = 256;

/// Counters of one dnstap peer (a socket's client, or a file), shared
/// between its reader task and the pipeline thread.
#[derive(Debug, Default)]
pub struct PeerStats {
    /// `unix:PATH uid=N`, `tcp:ADDRESS` or the file path.
    pub name: String,
    /// Data frames read.
    pub frames: AtomicU64,
    /// Bytes of data frames read.
    pub bytes: AtomicU64,
    /// dnstap messages by `Message.Type` (index 0: unknown).
    pub by_type: [AtomicU64; MessageType::COUNT],
    /// Frames that are not a usable dnstap message (protobuf errors,
    /// another schema, bad addresses).
    pub decode_errors: AtomicU64,
    /// Streams ended for breaking the Frame Streams protocol.
    pub stream_errors: AtomicU64,
    /// Frames dropped because the pipeline queue was full.
    pub drops: AtomicU64,
    /// Connections now open.
    pub connected: AtomicU64,
    /// Connections accepted in all.
    pub connections: AtomicU64,
}

impl PeerStats {
    /// Fresh counters for `name`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            ..Self::default()
        }
    }

    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// All peers' counters.
#[derive(Debug, Default)]
pub struct DnstapStats {
    peers: Mutex<Vec<Arc<PeerStats>>>,
}

impl DnstapStats {
    /// The counters of `name`, created at first use (after [`MAX_PEERS`]
    /// names, every new one shares `other`).
    pub fn peer(&self, name: &str) -> Arc<PeerStats> {
        let Ok(mut peers) = self.peers.lock() else {
            return Arc::new(PeerStats::new(name));
        };
        if let Some(p) = peers.iter().find(|p| p.name == name) {
            return p.clone();
        }
        let name = if peers.len() >= MAX_PEERS {
            "other"
        } else {
            name
        };
        if let Some(p) = peers.iter().find(|p| p.name == name) {
            return p.clone();
        }
        let p = Arc::new(PeerStats::new(name));
        peers.push(p.clone());
        p
    }

    /// A snapshot of the peers.
    pub fn peers(&self) -> Vec<Arc<PeerStats>> {
        self.peers.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// Connections open over all peers.
    pub fn connected(&self) -> u64 {
        self.peers()
            .iter()
            .map(|p| p.connected.load(Ordering::Relaxed))
            .sum()
    }

    /// Prometheus text of the per-peer counters.
    pub fn render(&self, out: &mut String) {
        let peers = self.peers();
        if peers.is_empty() {
            return;
        }
        let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let mut metric = |name: &str, kind: &str, help: &str, f: &dyn Fn(&PeerStats) -> u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for p in &peers {
                let _ = writeln!(out, "{name}{{peer=\"{}\"}} {}", esc(&p.name), f(p));
            }
        };
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        metric(
            "dnswatch_dnstap_frames_total",
            "counter",
            "dnstap data frames read per peer.",
            &|p| load(&p.frames),
        );
        metric(
            "dnswatch_dnstap_decode_errors_total",
            "counter",
            "dnstap frames that are not a usable dnstap message, per peer.",
            &|p| load(&p.decode_errors),
        );
        metric(
            "dnswatch_dnstap_stream_errors_total",
            "counter",
            "dnstap streams ended for breaking the Frame Streams protocol, per peer.",
            &|p| load(&p.stream_errors),
        );
        metric(
            "dnswatch_dnstap_drops_total",
            "counter",
            "dnstap frames dropped because the pipeline queue was full, per peer.",
            &|p| load(&p.drops),
        );
        metric(
            "dnswatch_dnstap_connected_peers",
            "gauge",
            "dnstap connections open per peer.",
            &|p| load(&p.connected),
        );
        let name = "dnswatch_dnstap_messages_total";
        let _ = writeln!(
            out,
            "# HELP {name} dnstap messages per peer and message type.\n# TYPE {name} counter"
        );
        for p in &peers {
            for (i, c) in p.by_type.iter().enumerate() {
                let n = load(c);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "{name}{{peer=\"{}\",type=\"{}\"}} {n}",
                        esc(&p.name),
                        MessageType::label(i)
                    );
                }
            }
        }
    }
}

/// Feeds dnstap frames into a [`Pipeline`]: decode, map, one
/// [`Pipeline::message`] call per DNS message. Each (peer, identity, role)
/// is a pipeline source of its own, named after the peer (provenance
/// `PEER#frame`) with the identity as sensor.
#[derive(Debug, Default)]
pub struct Feeder {
    all_roles: bool,
    sources: FxHashMap<(usize, Bytes, bool), u32>,
    last: Option<(usize, Bytes, bool, u32)>,
    /// Frames fed.
    pub frames: u64,
    /// Frames that gave no DNS message because they did not decode.
    pub errors: u64,
}

impl Feeder {
    /// `all_roles`: record RESOLVER_* and the other roles too
    /// (`capture.dnstap_resolver_messages`).
    pub fn new(all_roles: bool) -> Self {
        Self {
            all_roles,
            ..Self::default()
        }
    }

    /// Feeds a chunk of consecutive data frames (each with its 32-bit
    /// length, as [`listen::DnstapFrame`] carries them); returns the frames
    /// that did not decode (counted; the first error is logged at debug).
    pub fn feed_chunk(
        &mut self,
        pipeline: &mut Pipeline,
        peer: &Arc<PeerStats>,
        chunk: &Bytes,
    ) -> u64 {
        let mut pos = 0usize;
        let mut bad = 0u64;
        while let Some(len) = chunk
            .get(pos..pos + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(|b| u32::from_be_bytes(b) as usize)
        {
            let end = pos + 4 + len;
            if len == 0 || end > chunk.len() {
                break;
            }
            if let Err(e) = self.feed(pipeline, peer, chunk.slice(pos + 4..end)) {
                if bad == 0 {
                    tracing::debug!(peer = %peer.name, "dnstap: {e}");
                }
                bad += 1;
            }
            pos = end;
        }
        bad
    }

    /// Decodes one data frame of `peer` and feeds its DNS messages.
    /// Returns the decode error, already counted, for the caller to log.
    pub fn feed(
        &mut self,
        pipeline: &mut Pipeline,
        peer: &Arc<PeerStats>,
        frame: Bytes,
    ) -> Result<(), map::MapError> {
        let d = match map::decode(frame) {
            Ok(d) => d,
            Err(e) => {
                self.frames += 1;
                return Err(self.failed(peer, e));
            }
        };
        let n = self.frames + 1;
        self.feed_decoded(pipeline, peer, &d, n)
    }

    /// Feeds the DNS messages of a decoded dnstap message; `n` is its frame
    /// number in provenance (`PEER#n`).
    pub fn feed_decoded(
        &mut self,
        pipeline: &mut Pipeline,
        peer: &Arc<PeerStats>,
        d: &proto::Dnstap,
        n: u64,
    ) -> Result<(), map::MapError> {
        self.frames += 1;
        let t = map::message_type(d);
        PeerStats::add(&peer.by_type[t.map_or(0, |t| t as usize)], 1);
        let role = t.map_or(Role::Client, Role::of);
        let identity = d.identity.clone().unwrap_or_default();
        let key = Arc::as_ptr(peer) as usize;
        let marked = !role.recorded_by_default();
        let source = match &self.last {
            Some((k, id, m, s)) if *k == key && *id == identity && *m == marked => *s,
            _ => {
                let s = match self.sources.get(&(key, identity.clone(), marked)) {
                    Some(s) => *s,
                    None => {
                        let s = pipeline.begin_source(&peer.name);
                        if !identity.is_empty() || marked {
                            let mut sensor = String::from_utf8_lossy(&identity).into_owned();
                            if sensor.is_empty() {
                                sensor = pipeline.sensor().to_string();
                            }
                            if marked {
                                sensor.push('/');
                                sensor.push_str(role.as_str());
                            }
                            pipeline.set_source_sensor(s, &sensor);
                        }
                        self.sources.insert((key, identity.clone(), marked), s);
                        s
                    }
                };
                self.last = Some((key, identity, marked, s));
                s
            }
        };
        pipeline.select_source(source);
        let r = map::map(d, self.all_roles, &mut |m| {
            pipeline.message(m.ts_us, n, m.src, m.dst, m.transport, m.payload);
        });
        match r {
            Ok(_) => Ok(()),
            Err(e) => Err(self.failed(peer, e)),
        }
    }

    fn failed(&mut self, peer: &PeerStats, e: map::MapError) -> map::MapError {
        self.errors += 1;
        PeerStats::add(&peer.decode_errors, 1);
        e
    }
}

/// Whether the file at `path` is a Frame Streams file (by content).
pub fn is_dnstap_file(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 12];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| frame::is_frame_stream(&head))
}

/// Registers a file's counters (read errors of a file count as its
/// stream errors).
pub fn file_peer(stats: &DnstapStats, path: &Path) -> Arc<PeerStats> {
    let p = stats.peer(&path.display().to_string());
    PeerStats::add(&p.connections, 1);
    p
}

/// Counts a data frame read from `peer`.
pub fn count_frame(peer: &PeerStats, len: usize) {
    count_frames(peer, 1, len);
}

/// Counts `n` data frames of `len` payload bytes in all.
pub fn count_frames(peer: &PeerStats, n: usize, len: usize) {
    PeerStats::add(&peer.frames, n as u64);
    PeerStats::add(&peer.bytes, len as u64);
}
