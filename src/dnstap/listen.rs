//! dnstap listeners: unix sockets and TCP, the receiving end of the
//! bidirectional Frame Streams handshake, any number of peers at once.
//!
//! A task per connection reads into a buffer, cuts whole frames out of it
//! (zero-copy `Bytes`) and hands data frames to a non-blocking `push`
//! (the daemon's bounded queue): when that is full the frame is dropped and
//! counted, so the resolver never waits on dnswatch. A peer that breaks the
//! protocol (a 4 GiB frame, a control frame out of order, another content
//! type, a handshake that never comes) is logged with its byte offset,
//! counted and disconnected; listeners and other peers go on.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};

use super::frame::{self, Frame, Malformed, Session, Step};
use super::{count_frames, DnstapStats, PeerStats};

/// Bytes read at a time per connection.
const READ_BUFFER: usize = 256 << 10;

/// Hands the `run` data frames at the front of `buf` (`pos` bytes) to the
/// pipeline as one chunk.
fn flush(buf: &mut BytesMut, pos: &mut usize, run: &mut usize, peer: &Arc<PeerStats>, push: &Push) {
    if *run == 0 {
        return;
    }
    let data = buf.split_to(*pos).freeze();
    count_frames(peer, *run, data.len() - 4 * *run);
    let frames = *run;
    if !push(DnstapFrame {
        peer: peer.clone(),
        data,
        frames,
    }) {
        peer.drops.fetch_add(frames as u64, Ordering::Relaxed);
    }
    *pos = 0;
    *run = 0;
}

/// How long a new connection may take to send READY and START.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Consecutive data frames of a peer (as many as one read brought in
/// whole), for the pipeline thread: one queue operation per read, not per
/// message.
#[derive(Debug)]
pub struct DnstapFrame {
    /// Whose they are (counters are updated through it).
    pub peer: Arc<PeerStats>,
    /// Data frames, each with its 32-bit length (see [`super::Expander::load_chunk`]).
    pub data: Bytes,
    /// How many frames `data` holds.
    pub frames: usize,
}

/// Non-blocking hand-over of frames; false when the queue is full (they
/// are then dropped and counted).
pub type Push = Arc<dyn Fn(DnstapFrame) -> bool + Send + Sync>;

/// Bounds the dnstap frames waiting in a queue whose items hold several:
/// the push side acquires, the pipeline side releases after feeding.
#[derive(Debug)]
pub struct QueueGate {
    queued: std::sync::atomic::AtomicUsize,
    cap: usize,
}

impl QueueGate {
    /// At most `cap` frames waiting.
    pub fn new(cap: usize) -> Self {
        Self {
            queued: std::sync::atomic::AtomicUsize::new(0),
            cap,
        }
    }

    /// Takes room for `n` frames; false (nothing taken) when there is none
    /// (an empty queue always takes a chunk, however large).
    pub fn try_acquire(&self, n: usize) -> bool {
        self.queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                (q == 0 || q + n <= self.cap).then_some(q + n)
            })
            .is_ok()
    }

    /// Gives back room for `n` frames.
    pub fn release(&self, n: usize) {
        let _ = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                Some(q.saturating_sub(n))
            });
    }

    /// Frames waiting.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

/// Listener failures (at start-up only: nothing a peer does is one).
#[derive(Debug, Error)]
pub enum ListenError {
    /// A unix socket could not be created.
    #[error("dnstap socket {path}: {source}")]
    Unix {
        /// Socket path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A path exists that is not a socket (never removed).
    #[error("dnstap socket {0}: exists and is not a socket; not replacing it")]
    NotSocket(PathBuf),
    /// A TCP address could not be bound.
    #[error("dnstap TCP listener {addr}: {source}")]
    Tcp {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
}

/// What to listen on.
#[derive(Clone, Debug)]
pub struct ListenConfig {
    /// Unix socket paths.
    pub unix: Vec<PathBuf>,
    /// Permissions of the unix sockets (so the resolver's user can connect).
    pub unix_mode: u32,
    /// TCP addresses.
    pub tcp: Vec<SocketAddr>,
    /// Bound on a data frame.
    pub max_frame: usize,
}

impl Default for ListenConfig {
    fn default() -> Self {
        Self {
            unix: Vec::new(),
            unix_mode: 0o660,
            tcp: Vec::new(),
            max_frame: frame::DEFAULT_MAX_FRAME,
        }
    }
}

/// Bound listeners, ready to serve.
#[derive(Debug)]
pub struct Listeners {
    unix: Vec<(PathBuf, UnixListener)>,
    tcp: Vec<(SocketAddr, TcpListener)>,
    max_frame: usize,
}

impl Listeners {
    /// Binds every socket (inside a tokio runtime). A stale unix socket
    /// file left by an earlier run is replaced; any other file is not.
    pub fn bind(cfg: &ListenConfig) -> Result<Self, ListenError> {
        let mut unix = Vec::new();
        for path in &cfg.unix {
            unix.push((path.clone(), bind_unix(path, cfg.unix_mode)?));
        }
        let mut tcp = Vec::new();
        for addr in &cfg.tcp {
            let l = std::net::TcpListener::bind(addr)
                .and_then(|l| {
                    l.set_nonblocking(true)?;
                    TcpListener::from_std(l)
                })
                .map_err(|source| ListenError::Tcp {
                    addr: *addr,
                    source,
                })?;
            let local = l.local_addr().unwrap_or(*addr);
            tcp.push((local, l));
        }
        Ok(Self {
            unix,
            tcp,
            max_frame: cfg.max_frame,
        })
    }

    /// Bound TCP addresses (the real port when 0 was asked for).
    pub fn tcp_addrs(&self) -> Vec<SocketAddr> {
        self.tcp.iter().map(|(a, _)| *a).collect()
    }

    /// Whether nothing is bound.
    pub fn is_empty(&self) -> bool {
        self.unix.is_empty() && self.tcp.is_empty()
    }

    /// Serves every listener on the current runtime until the tasks are
    /// aborted (or the runtime ends).
    pub fn spawn(self, stats: Arc<DnstapStats>, push: Push) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        let max = self.max_frame;
        for (path, l) in self.unix {
            let (stats, push) = (stats.clone(), push.clone());
            tasks.push(tokio::spawn(async move {
                tracing::info!(socket = %path.display(), "dnstap: listening");
                loop {
                    match l.accept().await {
                        Ok((s, _)) => {
                            let uid = s.peer_cred().map(|c| c.uid()).ok();
                            let name = match uid {
                                Some(u) => format!("unix:{} uid={u}", path.display()),
                                None => format!("unix:{}", path.display()),
                            };
                            let peer = stats.peer(&name);
                            tokio::spawn(serve(s, peer, push.clone(), max));
                        }
                        Err(e) => {
                            tracing::warn!(socket = %path.display(), "dnstap: accept: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            }));
        }
        for (addr, l) in self.tcp {
            let (stats, push) = (stats.clone(), push.clone());
            tasks.push(tokio::spawn(async move {
                tracing::info!(%addr, "dnstap: listening on TCP");
                loop {
                    match l.accept().await {
                        Ok((s, from)) => {
                            let _ = s.set_nodelay(true);
                            let peer = stats.peer(&format!("tcp:{}", from.ip()));
                            tokio::spawn(serve(s, peer, push.clone(), max));
                        }
                        Err(e) => {
                            tracing::warn!(%addr, "dnstap: accept: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            }));
        }
        tasks
    }
}

fn bind_unix(path: &Path, mode: u32) -> Result<UnixListener, ListenError> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let err = |source| ListenError::Unix {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path).map_err(err)?,
        Ok(_) => return Err(ListenError::NotSocket(path.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    let l = UnixListener::bind(path).map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(err)?;
    Ok(l)
}

/// Serves one connection to its end, counting what happens.
pub async fn serve<S>(s: S, peer: Arc<PeerStats>, push: Push, max_frame: usize)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    peer.connected.fetch_add(1, Ordering::Relaxed);
    peer.connections.fetch_add(1, Ordering::Relaxed);
    tracing::info!(peer = %peer.name, "dnstap: peer connected");
    match stream(s, &peer, &push, max_frame).await {
        Ok(End::Finished) => tracing::info!(peer = %peer.name, "dnstap: stream finished"),
        Ok(End::Closed) => tracing::info!(peer = %peer.name, "dnstap: peer disconnected"),
        Err(e) => {
            peer.stream_errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!("dnstap: dropping peer: {e}");
        }
    }
    peer.connected.fetch_sub(1, Ordering::Relaxed);
}

enum End {
    /// STOP received, FINISH sent.
    Finished,
    /// The peer closed between frames.
    Closed,
}

#[derive(Debug, Error)]
enum StreamError {
    #[error(transparent)]
    Frame(#[from] frame::FrameError),
    #[error("{peer}: byte offset {offset}: {source}")]
    Io {
        peer: String,
        offset: u64,
        source: std::io::Error,
    },
    #[error("{peer}: no READY and START within {secs} s")]
    Handshake { peer: String, secs: u64 },
}

async fn stream<S>(
    mut s: S,
    peer: &Arc<PeerStats>,
    push: &Push,
    max_frame: usize,
) -> Result<End, StreamError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut session = Session::bidirectional();
    let mut buf = BytesMut::with_capacity(READ_BUFFER);
    let mut offset = 0u64;
    let deadline = tokio::time::Instant::now() + HANDSHAKE_TIMEOUT;
    let bad = |offset: u64, kind: Malformed| frame::FrameError {
        origin: peer.name.clone(),
        offset,
        kind,
    };
    loop {
        // Every whole frame in the buffer: runs of data frames go out as
        // one chunk, control frames are answered in between.
        let mut pos = 0usize;
        let mut run = 0usize;
        loop {
            let parsed = frame::parse(&buf[pos..], max_frame);
            let control = match parsed {
                Err(kind) => {
                    flush(&mut buf, &mut pos, &mut run, peer, push);
                    return Err(bad(offset, kind).into());
                }
                Ok(None) => break,
                Ok(Some((Frame::Data(_), used))) => {
                    // Checks the state (data only between START and STOP).
                    if let Err(k) = session.step(Frame::Data(&[])) {
                        flush(&mut buf, &mut pos, &mut run, peer, push);
                        return Err(bad(offset, k).into());
                    }
                    pos += used;
                    run += 1;
                    offset += used as u64;
                    continue;
                }
                Ok(Some((Frame::Control(c), used))) => (c, used),
            };
            flush(&mut buf, &mut pos, &mut run, peer, push);
            let (c, used) = control;
            let _ = buf.split_to(used);
            let at = offset;
            offset += used as u64;
            match session.step(Frame::Control(c)).map_err(|k| bad(at, k))? {
                Step::Reply(r) => {
                    let finish = r.kind == frame::ControlType::Finish;
                    s.write_all(&r.encode())
                        .await
                        .map_err(|source| StreamError::Io {
                            peer: peer.name.clone(),
                            offset: at,
                            source,
                        })?;
                    if finish {
                        let _ = s.shutdown().await;
                        return Ok(End::Finished);
                    }
                }
                Step::Stopped => return Ok(End::Finished),
                Step::Data(_) | Step::Continue => {}
            }
        }
        flush(&mut buf, &mut pos, &mut run, peer, push);
        // Room for the next frame (its length is bounded by now).
        let want = frame::needed(&buf).unwrap_or(8);
        if buf.capacity() - buf.len() < want.saturating_sub(buf.len()).max(4096) {
            buf.reserve(want.max(READ_BUFFER));
        }
        let read = if session.state == frame::State::Data {
            s.read_buf(&mut buf).await
        } else {
            match tokio::time::timeout_at(deadline, s.read_buf(&mut buf)).await {
                Ok(r) => r,
                Err(_) => {
                    return Err(StreamError::Handshake {
                        peer: peer.name.clone(),
                        secs: HANDSHAKE_TIMEOUT.as_secs(),
                    })
                }
            }
        };
        match read {
            Ok(0) => {
                if buf.is_empty() {
                    return Ok(End::Closed);
                }
                let need = frame::needed(&buf).unwrap_or(8) as u64;
                return Err(bad(
                    offset,
                    Malformed::Truncated {
                        missing: need.saturating_sub(buf.len() as u64),
                    },
                )
                .into());
            }
            Ok(_) => {}
            Err(source) => {
                return Err(StreamError::Io {
                    peer: peer.name.clone(),
                    offset,
                    source,
                })
            }
        }
    }
}
