//! Frame Streams (the transport of dnstap): a sans-I/O frame parser, the
//! state machines of a unidirectional reader (files) and of the receiving
//! end of a bidirectional stream (sockets), and a file reader.
//!
//! Wire format: a data frame is a 32-bit big-endian length (non-zero) and
//! that many bytes. A control frame is an escape (32 zero bits), a 32-bit
//! length, then a 32-bit control type and fields (32-bit type, 32-bit
//! length, bytes); the only field is CONTENT_TYPE.

use std::io::Read;
use std::path::Path;

use thiserror::Error;

/// The content type dnstap uses.
pub const CONTENT_TYPE: &[u8] = b"protobuf:dnstap.Dnstap";
/// Default bound on a data frame (a DNS message is at most 64 KiB, so a
/// dnstap message carrying two is well below).
pub const DEFAULT_MAX_FRAME: usize = 1 << 20;
/// Bound on a control frame (the Frame Streams specification's 512 bytes).
pub const MAX_CONTROL: usize = 512;

const FIELD_CONTENT_TYPE: u32 = 1;

/// Control frame types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlType {
    /// Receiver → sender: content type accepted.
    Accept,
    /// Sender: data frames follow.
    Start,
    /// Sender: no more data frames.
    Stop,
    /// Sender → receiver: offers content types.
    Ready,
    /// Receiver → sender: stream finished.
    Finish,
}

impl ControlType {
    fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            1 => Self::Accept,
            2 => Self::Start,
            3 => Self::Stop,
            4 => Self::Ready,
            5 => Self::Finish,
            _ => return None,
        })
    }

    fn to_u32(self) -> u32 {
        match self {
            Self::Accept => 1,
            Self::Start => 2,
            Self::Stop => 3,
            Self::Ready => 4,
            Self::Finish => 5,
        }
    }

    /// Upper-case name as in the specification.
    pub fn name(self) -> &'static str {
        match self {
            Self::Accept => "ACCEPT",
            Self::Start => "START",
            Self::Stop => "STOP",
            Self::Ready => "READY",
            Self::Finish => "FINISH",
        }
    }
}

/// A decoded control frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Control {
    /// Its type.
    pub kind: ControlType,
    /// CONTENT_TYPE fields, in order.
    pub content_types: Vec<Vec<u8>>,
}

impl Control {
    /// Whether it offers (or names) the dnstap content type; a control
    /// frame without any content type matches everything.
    pub fn offers_dnstap(&self) -> bool {
        self.content_types.is_empty() || self.content_types.iter().any(|c| c == CONTENT_TYPE)
    }

    /// Encodes it (escape, length, type, fields).
    pub fn encode(&self) -> Vec<u8> {
        let body_len: usize = 4 + self
            .content_types
            .iter()
            .map(|c| 8 + c.len())
            .sum::<usize>();
        let mut out = Vec::with_capacity(8 + body_len);
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&(body_len as u32).to_be_bytes());
        out.extend_from_slice(&self.kind.to_u32().to_be_bytes());
        for c in &self.content_types {
            out.extend_from_slice(&FIELD_CONTENT_TYPE.to_be_bytes());
            out.extend_from_slice(&(c.len() as u32).to_be_bytes());
            out.extend_from_slice(c);
        }
        out
    }

    /// A control frame of `kind` carrying the dnstap content type.
    pub fn dnstap(kind: ControlType) -> Self {
        Self {
            kind,
            content_types: vec![CONTENT_TYPE.to_vec()],
        }
    }
}

/// Encodes a data frame (length and payload).
pub fn encode_data(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

/// One frame found in a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A data frame's payload.
    Data(&'a [u8]),
    /// A control frame.
    Control(Control),
}

/// What is wrong with a stream (without where: see [`FrameError`]).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum Malformed {
    /// A data frame longer than the bound.
    #[error("data frame of {len} bytes exceeds the bound of {max} bytes")]
    TooLarge {
        /// Announced length.
        len: u64,
        /// Bound.
        max: usize,
    },
    /// A control frame longer than 512 bytes or shorter than its type.
    #[error("control frame length {0} is outside 4 to 512 bytes")]
    ControlLength(u32),
    /// A control type the specification does not define.
    #[error("unknown control frame type {0}")]
    ControlType(u32),
    /// A control field that overruns its frame, or of an unknown type.
    #[error("bad control frame field: {0}")]
    ControlField(&'static str),
    /// A control frame that is not allowed in the current state.
    #[error("control frame {got} not allowed {state}")]
    State {
        /// The frame received.
        got: &'static str,
        /// Where in the handshake the stream was.
        state: &'static str,
    },
    /// A data frame before START or after STOP.
    #[error("data frame {0}")]
    DataOutOfState(&'static str),
    /// The stream does not carry dnstap.
    #[error("content type is not protobuf:dnstap.Dnstap")]
    ContentType,
    /// The stream ends inside a frame.
    #[error("stream ends inside a frame ({missing} more bytes expected)")]
    Truncated {
        /// Bytes missing.
        missing: u64,
    },
}

/// A stream error, naming the file or peer and the byte offset of the frame.
#[derive(Debug, Error)]
#[error("{origin}: byte offset {offset}: {kind}")]
pub struct FrameError {
    /// File path or peer.
    pub origin: String,
    /// Byte offset of the frame at fault.
    pub offset: u64,
    /// What is wrong.
    pub kind: Malformed,
}

/// A read failure of a dnstap file.
#[derive(Debug, Error)]
pub enum FileError {
    /// The file could not be opened or read.
    #[error("{path}: read error at byte offset {offset}: {source}")]
    Io {
        /// File.
        path: String,
        /// Offset reached.
        offset: u64,
        /// Cause.
        source: std::io::Error,
    },
    /// The stream is malformed.
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// Parses one frame at the start of `buf`: `Ok(None)` when more bytes are
/// needed, else the frame and the bytes it takes.
pub fn parse(buf: &[u8], max_frame: usize) -> Result<Option<(Frame<'_>, usize)>, Malformed> {
    let Some(len) = be32(buf, 0) else {
        return Ok(None);
    };
    if len != 0 {
        if len as usize > max_frame {
            return Err(Malformed::TooLarge {
                len: u64::from(len),
                max: max_frame,
            });
        }
        let end = 4 + len as usize;
        return Ok(buf.get(4..end).map(|d| (Frame::Data(d), end)));
    }
    let Some(clen) = be32(buf, 4) else {
        return Ok(None);
    };
    if !(4..=MAX_CONTROL as u32).contains(&clen) {
        return Err(Malformed::ControlLength(clen));
    }
    let end = 8 + clen as usize;
    let Some(body) = buf.get(8..end) else {
        return Ok(None);
    };
    Ok(Some((Frame::Control(parse_control(body)?), end)))
}

/// Bytes a frame at the start of `buf` needs in all, when its header is there.
pub fn needed(buf: &[u8]) -> Option<usize> {
    match be32(buf, 0)? {
        0 => be32(buf, 4).map(|l| 8 + l as usize),
        l => Some(4 + l as usize),
    }
}

fn be32(buf: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

fn parse_control(body: &[u8]) -> Result<Control, Malformed> {
    let t = be32(body, 0).ok_or(Malformed::ControlField("no type"))?;
    let kind = ControlType::from_u32(t).ok_or(Malformed::ControlType(t))?;
    let mut content_types = Vec::new();
    let mut at = 4;
    while at < body.len() {
        let ft = be32(body, at).ok_or(Malformed::ControlField("field header cut short"))?;
        let fl = be32(body, at + 4).ok_or(Malformed::ControlField("field header cut short"))?;
        if ft != FIELD_CONTENT_TYPE {
            return Err(Malformed::ControlField("unknown field type"));
        }
        let start = at + 8;
        let end = start
            .checked_add(fl as usize)
            .ok_or(Malformed::ControlField("field overruns the frame"))?;
        let v = body
            .get(start..end)
            .ok_or(Malformed::ControlField("field overruns the frame"))?;
        content_types.push(v.to_vec());
        at = end;
    }
    Ok(Control {
        kind,
        content_types,
    })
}

/// Where a stream is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Bidirectional, before READY.
    AwaitReady,
    /// Before START (after ACCEPT was sent, or at the start of a file).
    AwaitStart,
    /// Between START and STOP.
    Data,
    /// After STOP.
    Stopped,
}

impl State {
    fn describe(self) -> &'static str {
        match self {
            Self::AwaitReady => "before READY",
            Self::AwaitStart => "before START",
            Self::Data => "between START and STOP",
            Self::Stopped => "after STOP",
        }
    }
}

/// What the owner of a stream must do after a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// A dnstap payload.
    Data(&'a [u8]),
    /// Send this control frame back (ACCEPT after READY, FINISH after STOP).
    Reply(Control),
    /// Nothing to do.
    Continue,
    /// The stream ended cleanly (STOP).
    Stopped,
}

/// The Frame Streams state machine of a receiver.
#[derive(Debug)]
pub struct Session {
    /// Current state.
    pub state: State,
    bidirectional: bool,
}

impl Session {
    /// Reading a file (START, data, STOP).
    pub fn unidirectional() -> Self {
        Self {
            state: State::AwaitStart,
            bidirectional: false,
        }
    }

    /// The server side of a socket (READY → ACCEPT, START, data, STOP → FINISH).
    pub fn bidirectional() -> Self {
        Self {
            state: State::AwaitReady,
            bidirectional: true,
        }
    }

    /// Feeds one frame.
    pub fn step<'a>(&mut self, frame: Frame<'a>) -> Result<Step<'a>, Malformed> {
        let c = match frame {
            Frame::Data(d) => {
                return if self.state == State::Data {
                    Ok(Step::Data(d))
                } else {
                    Err(Malformed::DataOutOfState(self.state.describe()))
                };
            }
            Frame::Control(c) => c,
        };
        let bad = |s: State| Malformed::State {
            got: c.kind.name(),
            state: s.describe(),
        };
        match (self.state, c.kind) {
            (State::AwaitReady, ControlType::Ready) => {
                if !c.offers_dnstap() {
                    return Err(Malformed::ContentType);
                }
                self.state = State::AwaitStart;
                Ok(Step::Reply(Control::dnstap(ControlType::Accept)))
            }
            (State::AwaitStart, ControlType::Start) => {
                if !c.offers_dnstap() || c.content_types.len() > 1 {
                    return Err(Malformed::ContentType);
                }
                self.state = State::Data;
                Ok(Step::Continue)
            }
            (State::Data, ControlType::Stop) => {
                self.state = State::Stopped;
                if self.bidirectional {
                    Ok(Step::Reply(Control {
                        kind: ControlType::Finish,
                        content_types: Vec::new(),
                    }))
                } else {
                    Ok(Step::Stopped)
                }
            }
            // A file may hold several streams one after the other.
            (State::Stopped, ControlType::Start) if !self.bidirectional => {
                self.state = State::Data;
                Ok(Step::Continue)
            }
            (s, _) => Err(bad(s)),
        }
    }
}

/// Whether `head` (the first bytes of a file) starts a Frame Streams file:
/// an escape, a control length, and START.
pub fn is_frame_stream(head: &[u8]) -> bool {
    matches!(
        (be32(head, 0), be32(head, 4), be32(head, 8)),
        (Some(0), Some(l), Some(2)) if (4..=MAX_CONTROL as u32).contains(&l)
    )
}

/// Reads the dnstap payloads of a Frame Streams file, one at a time.
pub struct FileReader<R: Read> {
    inner: R,
    path: String,
    buf: Vec<u8>,
    start: usize,
    /// Byte offset of `buf[start]` in the file.
    offset: u64,
    eof: bool,
    session: Session,
    max_frame: usize,
    /// Data frames read.
    pub frames: u64,
}

impl FileReader<std::io::BufReader<std::fs::File>> {
    /// Opens a file.
    pub fn open(path: &Path, max_frame: usize) -> Result<Self, FileError> {
        let f = std::fs::File::open(path).map_err(|source| FileError::Io {
            path: path.display().to_string(),
            offset: 0,
            source,
        })?;
        Ok(Self::new(
            std::io::BufReader::with_capacity(1 << 16, f),
            &path.display().to_string(),
            max_frame,
        ))
    }
}

impl<R: Read> FileReader<R> {
    /// Reads Frame Streams from `inner`; `name` is used in errors.
    pub fn new(inner: R, name: &str, max_frame: usize) -> Self {
        Self {
            inner,
            path: name.to_string(),
            buf: Vec::with_capacity(1 << 16),
            start: 0,
            offset: 0,
            eof: false,
            session: Session::unidirectional(),
            max_frame,
            frames: 0,
        }
    }

    /// Name used in errors.
    pub fn name(&self) -> &str {
        &self.path
    }

    /// Byte offset of the next frame.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next dnstap payload; `Ok(None)` at a clean end of the file.
    pub fn next_payload(&mut self) -> Result<Option<&[u8]>, FileError> {
        loop {
            let avail = &self.buf[self.start..];
            let parsed = parse(avail, self.max_frame).map_err(|kind| self.err(kind))?;
            match parsed {
                Some((frame, used)) => {
                    let at = self.start;
                    self.start += used;
                    let frame_offset = self.offset;
                    self.offset += used as u64;
                    let step = self.session.step(frame).map_err(|kind| FrameError {
                        origin: self.path.clone(),
                        offset: frame_offset,
                        kind,
                    })?;
                    match step {
                        Step::Data(_) => {
                            self.frames += 1;
                            return Ok(self.buf.get(at + 4..at + used));
                        }
                        Step::Stopped | Step::Continue | Step::Reply(_) => continue,
                    }
                }
                None => {
                    if self.eof {
                        let left = (self.buf.len() - self.start) as u64;
                        if left == 0 {
                            return Ok(None);
                        }
                        let need = needed(&self.buf[self.start..]).map_or(8, |n| n as u64);
                        return Err(self
                            .err(Malformed::Truncated {
                                missing: need.saturating_sub(left),
                            })
                            .into());
                    }
                    self.fill()?;
                }
            }
        }
    }

    fn err(&self, kind: Malformed) -> FrameError {
        FrameError {
            origin: self.path.clone(),
            offset: self.offset,
            kind,
        }
    }

    fn fill(&mut self) -> Result<(), FileError> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        // At least the rest of the frame at hand (bounded by the parser),
        // else 64 KiB; appended without zeroing the buffer first.
        let have = self.buf.len();
        let room = needed(&self.buf)
            .unwrap_or(8)
            .saturating_sub(have)
            .max(1 << 16);
        let mut limited = std::io::Read::by_ref(&mut self.inner).take(room as u64);
        loop {
            match limited.read_to_end(&mut self.buf) {
                Ok(n) => {
                    if (n as u64) < room as u64 {
                        self.eof = true;
                    }
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(FileError::Io {
                        path: self.path.clone(),
                        offset: self.offset + self.buf.len() as u64,
                        source,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(frames: &[&[u8]]) -> Vec<u8> {
        let mut out = Control::dnstap(ControlType::Start).encode();
        for f in frames {
            encode_data(f, &mut out);
        }
        out.extend(
            Control {
                kind: ControlType::Stop,
                content_types: vec![],
            }
            .encode(),
        );
        out
    }

    fn read_all(bytes: &[u8]) -> (Vec<Vec<u8>>, Option<FileError>) {
        let mut r = FileReader::new(bytes, "t.fstrm", DEFAULT_MAX_FRAME);
        let mut out = Vec::new();
        loop {
            match r.next_payload() {
                Ok(Some(p)) => out.push(p.to_vec()),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[test]
    fn a_file_round_trips_and_is_recognised() {
        let f = file(&[b"one", b"two two"]);
        assert!(is_frame_stream(&f));
        assert!(!is_frame_stream(
            b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00"
        ));
        let (frames, err) = read_all(&f);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(frames, vec![b"one".to_vec(), b"two two".to_vec()]);
    }

    #[test]
    fn a_truncated_file_names_the_offset() {
        let f = file(&[b"one", b"two two"]);
        // Cut inside the second data frame: START is 8+4+8+22 = 42 bytes,
        // the first frame 7, so the second starts at 49.
        let (frames, err) = read_all(&f[..55]);
        assert_eq!(frames.len(), 1);
        let e = err.expect("an error");
        let text = e.to_string();
        assert!(text.contains("t.fstrm: byte offset 49"), "{text}");
        assert!(text.contains("5 more bytes expected"), "{text}");
    }

    #[test]
    fn a_4_gib_frame_is_refused_before_any_allocation() {
        let mut f = Control::dnstap(ControlType::Start).encode();
        f.extend_from_slice(&u32::MAX.to_be_bytes());
        let (_, err) = read_all(&f);
        let e = err.expect("an error");
        assert!(
            e.to_string().contains("4294967295 bytes exceeds the bound"),
            "{e}"
        );
    }

    #[test]
    fn the_bidirectional_handshake_replies_accept_then_finish() {
        let mut s = Session::bidirectional();
        let ready = Control::dnstap(ControlType::Ready);
        assert_eq!(
            s.step(Frame::Control(ready)).unwrap(),
            Step::Reply(Control::dnstap(ControlType::Accept))
        );
        // Data before START is refused.
        assert!(matches!(
            s.step(Frame::Data(b"x")),
            Err(Malformed::DataOutOfState(_))
        ));
        s.step(Frame::Control(Control::dnstap(ControlType::Start)))
            .unwrap();
        assert_eq!(s.step(Frame::Data(b"x")).unwrap(), Step::Data(b"x"));
        // A second START is a control frame in the wrong state.
        let mut s2 = Session {
            state: State::Data,
            bidirectional: true,
        };
        assert!(matches!(
            s2.step(Frame::Control(Control::dnstap(ControlType::Start))),
            Err(Malformed::State { got: "START", .. })
        ));
        let stop = Control {
            kind: ControlType::Stop,
            content_types: vec![],
        };
        match s.step(Frame::Control(stop)).unwrap() {
            Step::Reply(c) => assert_eq!(c.kind, ControlType::Finish),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn another_content_type_is_refused() {
        let mut s = Session::bidirectional();
        let ready = Control {
            kind: ControlType::Ready,
            content_types: vec![b"protobuf:other.Thing".to_vec()],
        };
        assert_eq!(s.step(Frame::Control(ready)), Err(Malformed::ContentType));
    }

    #[test]
    fn control_frames_out_of_bounds_are_errors_not_panics() {
        // Control length 3, 600, and a field overrunning its frame.
        assert_eq!(
            parse(b"\0\0\0\0\0\0\0\x03abc", 100).unwrap_err(),
            Malformed::ControlLength(3)
        );
        assert!(parse(b"\0\0\0\0\0\0\x02\x58", 100).is_err());
        let bad = b"\0\0\0\0\0\0\0\x0c\0\0\0\x02\0\0\0\x01\0\0\0\x09";
        assert!(matches!(parse(bad, 100), Err(Malformed::ControlField(_))));
    }
}
