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
//!                        Expander: proto decode (prost) → map (one or two DNS
//!                        messages with endpoints) → driver → Pipeline::message
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
//! * [`Expander`] turns frames into the driver's inputs (DNS messages with
//!   endpoints, a [`Begin`] for each new peer/identity): the daemon's
//!   queue source and [`file::DnstapFile`] (merged with pcaps by `replay`)
//!   both use it, so dnstap reaches `Pipeline::message` through the same
//!   `driver::Runner` loop as captured frames.
//!
//! The sensor recorded on a lookup is the dnstap `identity` when the server
//! sends one, else the configured `capture.sensor` (or host name).

pub mod file;
pub mod frame;
pub mod listen;
pub mod map;
pub mod proto;

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rustc_hash::FxHashMap;

use crate::decode::Transport;
use map::Role;
use proto::MessageType;

/// Distinct (peer, identity, role) sub-sources at most; later identities
/// are recorded under the configured sensor.
pub const MAX_SUBSOURCES: usize = 4096;

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

/// A sub-source the driver must be told about before its first message
/// (the capture layer's `Next::Begin`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Begin {
    /// Its index.
    pub index: usize,
    /// Provenance name (the peer or file).
    pub name: String,
    /// Its sensor: the dnstap identity (with `/role` for non-client roles);
    /// `None` for the configured sensor.
    pub sensor: Option<String>,
}

/// One DNS message taken out of a dnstap frame, owning its bytes (a slice
/// of the frame, not a copy).
#[derive(Clone, Debug)]
pub struct Message {
    /// Sub-source index (announced by a [`Begin`]).
    pub source: usize,
    /// Time (µs): query_time for a query, response_time for a response.
    pub ts_us: i64,
    /// Frame number within its peer (provenance).
    pub frame: u64,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Transport.
    pub transport: Transport,
    /// The DNS message.
    pub payload: Bytes,
}

/// Turns dnstap frames into DNS messages for the driver: decode, count by
/// type, map, and give each (peer, identity, role) a sub-source of its own,
/// announced once. Shared by the daemon's queue and by dnstap files.
#[derive(Debug)]
pub struct Expander {
    all_roles: bool,
    next_index: Arc<AtomicUsize>,
    sensor: String,
    sources: FxHashMap<(usize, Bytes, bool), usize>,
    last: Option<(usize, Bytes, bool, usize)>,
    frames: FxHashMap<usize, u64>,
    begins: VecDeque<Begin>,
    messages: VecDeque<Message>,
    /// Frames that gave no DNS message because they did not decode.
    pub errors: u64,
}

impl Expander {
    /// `all_roles`: record RESOLVER_* and the other roles too
    /// (`capture.dnstap_resolver_messages`); `next_index`: where new
    /// sub-source indices come from (shared by everything that announces
    /// sub-sources to one driver); `sensor`: the configured sensor, marked
    /// with the role when a non-client message has no identity.
    pub fn new(all_roles: bool, next_index: Arc<AtomicUsize>, sensor: &str) -> Self {
        Self {
            all_roles,
            next_index,
            sensor: sensor.to_string(),
            sources: FxHashMap::default(),
            last: None,
            frames: FxHashMap::default(),
            begins: VecDeque::new(),
            messages: VecDeque::new(),
            errors: 0,
        }
    }

    /// Sub-sources to announce, in order, before any [`Self::pop`].
    pub fn take_begin(&mut self) -> Option<Begin> {
        self.begins.pop_front()
    }

    /// The next DNS message, in the order loaded.
    pub fn pop(&mut self) -> Option<Message> {
        self.messages.pop_front()
    }

    /// Nothing waiting.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.begins.is_empty()
    }

    /// Loads a chunk of consecutive data frames, each with its 32-bit
    /// length (as [`listen::DnstapFrame`] carries them).
    pub fn load_chunk(&mut self, peer: &Arc<PeerStats>, chunk: &Bytes) {
        let mut pos = 0usize;
        while let Some(len) = chunk
            .get(pos..pos + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(|b| u32::from_be_bytes(b) as usize)
        {
            let end = pos + 4 + len;
            if len == 0 || end > chunk.len() {
                break;
            }
            self.load_frame(peer, chunk.slice(pos + 4..end));
            pos = end;
        }
    }

    /// Loads one data frame (the dnstap payload). A frame that does not
    /// decode is counted (here and in the peer's counters) and skipped.
    pub fn load_frame(&mut self, peer: &Arc<PeerStats>, frame: Bytes) {
        let key = Arc::as_ptr(peer) as usize;
        let n = {
            let c = self.frames.entry(key).or_insert(0);
            *c += 1;
            *c
        };
        let d = match map::decode(frame) {
            Ok(d) => d,
            Err(e) => return self.failed(peer, n, &e),
        };
        let t = map::message_type(&d);
        PeerStats::add(&peer.by_type[t.map_or(0, |t| t as usize)], 1);
        let role = t.map_or(Role::Client, Role::of);
        if !(self.all_roles || role.recorded_by_default()) {
            return;
        }
        let marked = !role.recorded_by_default();
        let mut identity = d.identity.clone().unwrap_or_default();
        // A peer cycling through identities must not grow the sub-sources
        // without bound: past the cap, new ones get the configured sensor.
        if self.sources.len() >= MAX_SUBSOURCES
            && !self.sources.contains_key(&(key, identity.clone(), marked))
        {
            identity = Bytes::new();
        }
        let source = match &self.last {
            Some((k, id, m, s)) if *k == key && *id == identity && *m == marked => *s,
            _ => {
                let s = match self.sources.get(&(key, identity.clone(), marked)) {
                    Some(s) => *s,
                    None => {
                        let index = self.next_index.fetch_add(1, Ordering::Relaxed);
                        let mut sensor = (!identity.is_empty())
                            .then(|| String::from_utf8_lossy(&identity).into_owned());
                        if marked {
                            let mut s = sensor.unwrap_or_else(|| self.sensor.clone());
                            s.push('/');
                            s.push_str(role.as_str());
                            sensor = Some(s);
                        }
                        self.begins.push_back(Begin {
                            index,
                            name: peer.name.clone(),
                            sensor,
                        });
                        self.sources.insert((key, identity.clone(), marked), index);
                        index
                    }
                };
                self.last = Some((key, identity, marked, s));
                s
            }
        };
        let mut out = Vec::with_capacity(2);
        let r = map::map(&d, self.all_roles, &mut |m| {
            out.push((
                m.ts_us,
                m.src,
                m.dst,
                m.transport,
                m.payload.as_ptr(),
                m.payload.len(),
            ));
        });
        if let Err(e) = r {
            return self.failed(peer, n, &e);
        }
        for (ts_us, src, dst, transport, ptr, len) in out {
            // The payload is one of the two byte fields of the message.
            let payload = [&d.message]
                .into_iter()
                .flatten()
                .flat_map(|m| [m.query_message.as_ref(), m.response_message.as_ref()])
                .flatten()
                .find(|b| b.as_ptr() == ptr && b.len() == len)
                .cloned()
                .unwrap_or_default();
            self.messages.push_back(Message {
                source,
                ts_us,
                frame: n,
                src,
                dst,
                transport,
                payload,
            });
        }
    }

    fn failed(&mut self, peer: &PeerStats, n: u64, e: &map::MapError) {
        self.errors += 1;
        PeerStats::add(&peer.decode_errors, 1);
        tracing::debug!("{}#{n}: dnstap: {e}", peer.name);
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

#[cfg(test)]
mod tests {
    use super::*;
    use proto::SocketProtocol;

    fn frame(identity: &[u8], t: MessageType, q: bool) -> Bytes {
        let c: SocketAddr = "192.0.2.1:4000".parse().unwrap();
        let s: SocketAddr = "192.0.2.53:53".parse().unwrap();
        let m = (5i64, &b"dns"[..]);
        let (qm, rm) = if q { (Some(m), None) } else { (None, Some(m)) };
        Bytes::from(map::build(identity, t, SocketProtocol::Udp, c, s, qm, rm))
    }

    #[test]
    fn identities_and_roles_become_announced_sub_sources() {
        let peer = Arc::new(PeerStats::new("unix:/x"));
        let mut x = Expander::new(true, Arc::new(AtomicUsize::new(3)), "host");
        x.load_frame(&peer, frame(b"ub1", MessageType::ClientQuery, true));
        x.load_frame(&peer, frame(b"ub1", MessageType::ClientResponse, false));
        x.load_frame(&peer, frame(b"ub2", MessageType::ClientQuery, true));
        x.load_frame(&peer, frame(b"", MessageType::ResolverQuery, true));
        x.load_frame(&peer, Bytes::from_static(b"\xff\xff"));
        let begins: Vec<Begin> = std::iter::from_fn(|| x.take_begin()).collect();
        let sensors: Vec<(usize, Option<&str>)> = begins
            .iter()
            .map(|b| (b.index, b.sensor.as_deref()))
            .collect();
        assert_eq!(
            sensors,
            vec![
                (3, Some("ub1")),
                (4, Some("ub2")),
                (5, Some("host/resolver"))
            ]
        );
        let msgs: Vec<Message> = std::iter::from_fn(|| x.pop()).collect();
        let src: Vec<(usize, u64)> = msgs.iter().map(|m| (m.source, m.frame)).collect();
        assert_eq!(src, vec![(3, 1), (3, 2), (4, 3), (5, 4)]);
        assert_eq!(&msgs[0].payload[..], b"dns");
        // The response goes server → client.
        assert_eq!(msgs[1].src.port(), 53);
        assert_eq!(x.errors, 1);
        assert_eq!(peer.decode_errors.load(Ordering::Relaxed), 1);
        assert_eq!(
            peer.by_type[MessageType::ClientQuery as usize].load(Ordering::Relaxed),
            2
        );
    }

    #[test]
    fn resolver_messages_are_only_counted_by_default() {
        let peer = Arc::new(PeerStats::new("p"));
        let mut x = Expander::new(false, Arc::new(AtomicUsize::new(0)), "host");
        x.load_frame(&peer, frame(b"ub1", MessageType::ResolverResponse, false));
        assert!(x.is_empty());
        assert_eq!(
            peer.by_type[MessageType::ResolverResponse as usize].load(Ordering::Relaxed),
            1
        );
    }
}
