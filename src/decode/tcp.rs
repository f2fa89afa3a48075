//! DNS over TCP: stream reassembly and RFC 1035 4.2.2 length-prefix framing.
//!
//! One [`Stream`] per direction of a connection. Segments in order are
//! appended; retransmitted bytes are trimmed; segments ahead of a hole wait
//! until the hole is filled, or until the hole is known to be lost (the peer
//! acknowledged past it, too much data waits, the stream ends or goes idle),
//! at which point the partial message before the hole is dropped and framing
//! restarts at the next segment. A stream picked up mid-way starts framing at
//! its first segment. Everything expires on packet time and is capped.

use std::net::SocketAddr;

use rustc_hash::FxHashMap;

/// A direction of a TCP connection: (sender, receiver).
pub type StreamKey = (SocketAddr, SocketAddr);

/// Segments that may wait ahead of a hole before the hole is declared lost.
const MAX_WAITING_SEGMENTS: usize = 32;
/// Bytes that may wait ahead of a hole.
const MAX_WAITING_BYTES: usize = 256 * 1024;

/// `a - b` on the 32-bit sequence circle.
fn seq_diff(a: u32, b: u32) -> i64 {
    i64::from(a.wrapping_sub(b) as i32)
}

#[derive(Debug)]
struct Stream {
    next: u32,
    buf: Vec<u8>,
    waiting: Vec<(u32, i64, Vec<u8>)>,
    waiting_bytes: usize,
    last_ts: i64,
}

/// Receives each framed message: its stream, the packet time of the segment
/// that completed it, and the message without its length prefix.
pub type TcpEmit<'e> = dyn FnMut(StreamKey, i64, &[u8]) + 'e;

/// Reassembly state for all streams.
#[derive(Debug)]
pub struct Reassembler {
    streams: FxHashMap<StreamKey, Stream>,
    max_streams: usize,
    max_bytes: usize,
    bytes: usize,
    timeout_us: i64,
    last_sweep: i64,
    /// Holes declared lost (a partial message may have been dropped).
    pub gaps: u64,
    /// Streams dropped to stay under `max_streams`.
    pub evicted: u64,
    /// Streams that went idle with data pending.
    pub expired: u64,
    /// Zero-length frames skipped.
    pub empty_frames: u64,
}

/// TCP flags the reassembler looks at.
#[derive(Clone, Copy, Debug, Default)]
pub struct SegFlags {
    /// SYN.
    pub syn: bool,
    /// FIN.
    pub fin: bool,
    /// RST.
    pub rst: bool,
    /// ACK (the ack number is valid).
    pub ack: bool,
}

impl Reassembler {
    /// `max_streams` bounds the state; `timeout_us` is the idle timeout.
    pub fn new(max_streams: usize, timeout_us: i64) -> Self {
        Self::with_memory(max_streams, usize::MAX, timeout_us)
    }

    /// Like [`Self::new`], also capping the bytes buffered over all streams.
    pub fn with_memory(max_streams: usize, max_bytes: usize, timeout_us: i64) -> Self {
        Self {
            streams: FxHashMap::default(),
            max_streams: max_streams.max(1),
            max_bytes,
            bytes: 0,
            timeout_us,
            last_sweep: i64::MIN,
            gaps: 0,
            evicted: 0,
            expired: 0,
            empty_frames: 0,
        }
    }

    /// Streams with state.
    pub fn in_use(&self) -> usize {
        self.streams.len()
    }

    /// Bytes buffered over all streams.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn footprint(s: &Stream) -> usize {
        s.buf.capacity() + s.waiting_bytes
    }

    /// Applies a change of one stream's footprint and enforces the memory cap.
    fn account(&mut self, before: usize, after: usize) {
        self.bytes = (self.bytes + after).saturating_sub(before);
        while self.bytes > self.max_bytes && !self.streams.is_empty() {
            self.evict_oldest();
        }
    }

    /// Feeds one segment; `emit` gets each complete DNS message.
    #[allow(clippy::too_many_arguments)]
    pub fn segment(
        &mut self,
        ts: i64,
        key: StreamKey,
        seq: u32,
        ack_no: u32,
        flags: SegFlags,
        payload: &[u8],
        emit: &mut TcpEmit<'_>,
    ) {
        self.sweep(ts, emit);
        // The peer acknowledging past a hole in the reverse stream means the
        // missing bytes were sent and not captured: stop waiting for them.
        if flags.ack {
            let reverse = (key.1, key.0);
            let mut change = None;
            if let Some(r) = self.streams.get_mut(&reverse) {
                let before = Self::footprint(r);
                if !r.waiting.is_empty() && seq_diff(ack_no, r.next) > 0 {
                    let first = r
                        .waiting
                        .iter()
                        .map(|w| w.0)
                        .min_by(|a, b| seq_diff(*a, *b).cmp(&0));
                    if first.is_some_and(|f| seq_diff(ack_no, f) > 0) {
                        self.gaps += 1;
                        Self::skip_hole(reverse, r, &mut self.empty_frames, emit);
                    }
                }
                change = Some((before, Self::footprint(r)));
            }
            if let Some((b, a)) = change {
                self.account(b, a);
            }
        }
        let data_seq = if flags.syn { seq.wrapping_add(1) } else { seq };
        if flags.syn {
            // A new connection on a reused tuple replaces the old state.
            if self.streams.get(&key).is_some_and(|s| s.next != data_seq) {
                if let Some(old) = self.streams.remove(&key) {
                    self.account(Self::footprint(&old), 0);
                }
            }
        }
        if !self.streams.contains_key(&key) {
            if payload.is_empty() && !flags.syn {
                return;
            }
            if self.streams.len() >= self.max_streams {
                self.evict_oldest();
            }
            self.streams.insert(
                key,
                Stream {
                    next: data_seq,
                    buf: Vec::new(),
                    waiting: Vec::new(),
                    waiting_bytes: 0,
                    last_ts: ts,
                },
            );
        }
        let Some(stream) = self.streams.get_mut(&key) else {
            return;
        };
        let before = Self::footprint(stream);
        stream.last_ts = ts;
        if !payload.is_empty() {
            let diff = seq_diff(data_seq, stream.next);
            if diff <= 0 {
                let skip = usize::try_from(-diff).unwrap_or(usize::MAX);
                if skip < payload.len() {
                    Self::append(
                        key,
                        stream,
                        ts,
                        &payload[skip..],
                        &mut self.empty_frames,
                        emit,
                    );
                    Self::drain_waiting(key, stream, &mut self.empty_frames, emit);
                }
            } else {
                stream.waiting_bytes += payload.len();
                stream.waiting.push((data_seq, ts, payload.to_vec()));
                if stream.waiting.len() > MAX_WAITING_SEGMENTS
                    || stream.waiting_bytes > MAX_WAITING_BYTES
                {
                    self.gaps += 1;
                    Self::skip_hole(key, stream, &mut self.empty_frames, emit);
                }
            }
        }
        if stream.buf.is_empty() && stream.buf.capacity() > 4096 {
            stream.buf = Vec::new();
        }
        let after = Self::footprint(stream);
        if flags.fin || flags.rst {
            if let Some(mut s) = self.streams.remove(&key) {
                if !s.waiting.is_empty() {
                    self.gaps += 1;
                    Self::skip_hole(key, &mut s, &mut self.empty_frames, emit);
                }
            }
            self.account(before, 0);
        } else {
            self.account(before, after);
        }
    }

    fn append(
        key: StreamKey,
        stream: &mut Stream,
        ts: i64,
        data: &[u8],
        empty: &mut u64,
        emit: &mut TcpEmit<'_>,
    ) {
        stream.next = stream.next.wrapping_add(data.len() as u32);
        stream.buf.extend_from_slice(data);
        let mut pos = 0;
        while let Some(len) = stream
            .buf
            .get(pos..pos + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        {
            if len == 0 {
                *empty += 1;
                pos += 2;
                continue;
            }
            let Some(msg) = stream.buf.get(pos + 2..pos + 2 + len) else {
                break;
            };
            emit(key, ts, msg);
            pos += 2 + len;
        }
        stream.buf.drain(..pos);
    }

    fn drain_waiting(key: StreamKey, stream: &mut Stream, empty: &mut u64, emit: &mut TcpEmit<'_>) {
        loop {
            let next = stream.next;
            // A waiting segment that now starts at or before `next` can be used.
            let Some(i) = stream
                .waiting
                .iter()
                .position(|(s, _, _)| seq_diff(*s, next) <= 0)
            else {
                return;
            };
            let (s, ts, data) = stream.waiting.swap_remove(i);
            stream.waiting_bytes -= data.len();
            let skip = usize::try_from(seq_diff(next, s)).unwrap_or(usize::MAX);
            if skip < data.len() {
                Self::append(key, stream, ts, &data[skip..], empty, emit);
            }
        }
    }

    /// Gives up on the hole before the earliest waiting segment: the partial
    /// message in `buf` is dropped and framing restarts there.
    fn skip_hole(key: StreamKey, stream: &mut Stream, empty: &mut u64, emit: &mut TcpEmit<'_>) {
        let Some(first) = stream
            .waiting
            .iter()
            .map(|w| w.0)
            .min_by(|a, b| seq_diff(*a, *b).cmp(&0))
        else {
            return;
        };
        stream.buf.clear();
        stream.next = first;
        Self::drain_waiting(key, stream, empty, emit);
    }

    fn evict_oldest(&mut self) {
        if let Some(oldest) = self
            .streams
            .iter()
            .min_by_key(|(_, s)| s.last_ts)
            .map(|(k, _)| *k)
        {
            if let Some(s) = self.streams.remove(&oldest) {
                self.bytes = self.bytes.saturating_sub(Self::footprint(&s));
            }
            self.evicted += 1;
        }
    }

    /// Expires idle streams; waiting data is framed first.
    pub fn sweep(&mut self, now: i64, emit: &mut TcpEmit<'_>) {
        if self.streams.is_empty() || now.saturating_sub(self.last_sweep) < self.timeout_us / 4 {
            return;
        }
        self.last_sweep = now;
        let timeout = self.timeout_us;
        let idle: Vec<StreamKey> = self
            .streams
            .iter()
            .filter(|(_, s)| now.saturating_sub(s.last_ts) > timeout)
            .map(|(k, _)| *k)
            .collect();
        for k in idle {
            if let Some(mut s) = self.streams.remove(&k) {
                self.bytes = self.bytes.saturating_sub(Self::footprint(&s));
                if !s.waiting.is_empty() {
                    self.gaps += 1;
                    Self::skip_hole(k, &mut s, &mut self.empty_frames, emit);
                }
                if !s.buf.is_empty() || !s.waiting.is_empty() {
                    self.expired += 1;
                }
            }
        }
    }

    /// End of input: frame what can be framed after declaring holes lost.
    pub fn flush(&mut self, emit: &mut TcpEmit<'_>) {
        let mut keys: Vec<StreamKey> = self.streams.keys().copied().collect();
        keys.sort_by_key(|k| self.streams.get(k).map_or(0, |s| s.last_ts));
        self.bytes = 0;
        for k in keys {
            if let Some(mut s) = self.streams.remove(&k) {
                if !s.waiting.is_empty() {
                    self.gaps += 1;
                    Self::skip_hole(k, &mut s, &mut self.empty_frames, emit);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> StreamKey {
        (
            "192.0.2.1:40000".parse().unwrap(),
            "192.0.2.53:53".parse().unwrap(),
        )
    }

    fn framed(msgs: &[Vec<u8>]) -> Vec<u8> {
        let mut s = Vec::new();
        for m in msgs {
            s.extend_from_slice(&(m.len() as u16).to_be_bytes());
            s.extend_from_slice(m);
        }
        s
    }

    fn run(r: &mut Reassembler, segs: &[(u32, Vec<u8>)], fin_at_end: bool) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for (seq, data) in segs {
            r.segment(
                0,
                key(),
                *seq,
                0,
                SegFlags::default(),
                data,
                &mut |_, _, m| out.push(m.to_vec()),
            );
        }
        if fin_at_end {
            r.flush(&mut |_, _, m| out.push(m.to_vec()));
        }
        out
    }

    #[test]
    fn several_messages_in_one_segment_and_one_split_over_many() {
        let msgs = vec![vec![1u8; 20], vec![2u8; 30], vec![3u8; 300]];
        let stream = framed(&msgs);
        let mut r = Reassembler::new(10, 60_000_000);
        let segs = vec![
            (1000u32, stream[..54].to_vec()),
            (1054, stream[54..100].to_vec()),
            (1100, stream[100..].to_vec()),
        ];
        assert_eq!(run(&mut r, &segs, false), msgs);
    }

    #[test]
    fn retransmission_and_overlap_are_trimmed() {
        let msgs = vec![vec![7u8; 40], vec![8u8; 40]];
        let stream = framed(&msgs);
        let mut r = Reassembler::new(10, 60_000_000);
        let segs = vec![
            (5u32, stream[..30].to_vec()),
            (5, stream[..30].to_vec()),
            (20, stream[15..60].to_vec()),
            (35, stream[30..].to_vec()),
        ];
        assert_eq!(run(&mut r, &segs, false), msgs);
    }

    #[test]
    fn lost_segment_resyncs_at_next_message() {
        let msgs = vec![vec![1u8; 20], vec![2u8; 20], vec![3u8; 20]];
        let stream = framed(&msgs);
        let mut r = Reassembler::new(10, 60_000_000);
        // second message's segment is missing
        let segs = vec![(0u32, stream[..22].to_vec()), (44, stream[44..].to_vec())];
        let out = run(&mut r, &segs, true);
        assert_eq!(out, vec![msgs[0].clone(), msgs[2].clone()]);
        assert_eq!(r.gaps, 1);
    }

    #[test]
    fn ack_past_hole_releases_waiting_data() {
        let msgs = vec![vec![1u8; 20], vec![2u8; 20], vec![3u8; 20]];
        let stream = framed(&msgs);
        let mut r = Reassembler::new(10, 60_000_000);
        let mut out = Vec::new();
        let syn = SegFlags {
            syn: true,
            ..SegFlags::default()
        };
        r.segment(0, key(), 99, 0, syn, &[], &mut |_, _, m| {
            out.push(m.to_vec())
        });
        r.segment(
            0,
            key(),
            100,
            0,
            SegFlags::default(),
            &stream[..22],
            &mut |_, _, m| out.push(m.to_vec()),
        );
        // the segment carrying the second message is lost; the third waits
        r.segment(
            0,
            key(),
            144,
            0,
            SegFlags::default(),
            &stream[44..],
            &mut |_, _, m| out.push(m.to_vec()),
        );
        assert_eq!(out, vec![msgs[0].clone()]);
        // the server acknowledges everything: the hole will never be filled
        let ack = SegFlags {
            ack: true,
            ..SegFlags::default()
        };
        r.segment(
            0,
            (key().1, key().0),
            5000,
            166,
            ack,
            &[],
            &mut |_, _, m| out.push(m.to_vec()),
        );
        assert_eq!(out, vec![msgs[0].clone(), msgs[2].clone()]);
        assert_eq!(r.gaps, 1);
    }

    #[test]
    fn memory_cap_evicts_streams_holding_partial_messages() {
        let mut r = Reassembler::with_memory(1000, 64 * 1024, 60_000_000);
        for port in 1..=200u16 {
            let k: StreamKey = (
                format!("192.0.2.1:{port}").parse().unwrap(),
                "192.0.2.53:53".parse().unwrap(),
            );
            // announces a 60,000-byte message and sends 1,000 bytes of it
            let mut seg = vec![0xea, 0x60];
            seg.extend_from_slice(&[7u8; 1000]);
            r.segment(
                i64::from(port),
                k,
                0,
                0,
                SegFlags::default(),
                &seg,
                &mut |_, _, _| {},
            );
            assert!(r.bytes() <= 64 * 1024, "{}", r.bytes());
        }
        assert!(r.evicted > 100);
        assert!(r.in_use() < 70);
    }

    #[test]
    fn stream_cap_evicts() {
        let mut r = Reassembler::new(2, 60_000_000);
        for port in 1..=5u16 {
            let k: StreamKey = (
                format!("192.0.2.1:{port}").parse().unwrap(),
                "192.0.2.53:53".parse().unwrap(),
            );
            r.segment(
                0,
                k,
                0,
                0,
                SegFlags::default(),
                &[0, 50, 1],
                &mut |_, _, _| {},
            );
        }
        assert_eq!(r.in_use(), 2);
        assert_eq!(r.evicted, 3);
    }

    proptest! {
        #[test]
        fn any_segmentation_and_reordering_gives_the_same_messages(
            sizes in proptest::collection::vec(12usize..200, 1..6),
            cuts in proptest::collection::vec(1usize..64, 1..40),
            seed in any::<u64>(),
            isn in any::<u32>(),
            dup in any::<bool>(),
        ) {
            let msgs: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, n)| vec![i as u8 + 1; *n]).collect();
            let stream = framed(&msgs);
            let mut segs = Vec::new();
            let mut pos = 0;
            let mut c = cuts.iter().cycle();
            while pos < stream.len() {
                let n = (*c.next().unwrap_or(&8)).min(stream.len() - pos);
                segs.push((isn.wrapping_add(pos as u32), stream[pos..pos + n].to_vec()));
                pos += n;
            }
            // Keep the first segment first (it anchors a stream picked up mid-way),
            // shuffle the rest a little: swap neighbours chosen by the seed.
            let mut s = seed;
            for i in 1..segs.len().saturating_sub(1) {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                if (s >> 60) & 1 == 1 {
                    segs.swap(i, i + 1);
                }
            }
            if dup && segs.len() > 1 {
                let d = segs[segs.len() / 2].clone();
                segs.push(d);
            }
            let mut r = Reassembler::new(10, 60_000_000);
            prop_assert_eq!(run(&mut r, &segs, true), msgs);
            prop_assert_eq!(r.gaps, 0);
        }
    }
}
