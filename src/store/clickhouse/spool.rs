//! The on-disk spool: every batch for ClickHouse is written here (and
//! fsync'd) before `write` returns, and removed only after the server
//! confirmed every row of it.
//!
//! One file per batch, `<seq>.batch` (20-digit sequence number, so names
//! sort oldest first), written as `<seq>.tmp`, fsync'd, renamed and the
//! directory fsync'd: a `kill -9` or power loss leaves either the whole
//! record or a `.tmp` that is removed at the next start. A record is
//!
//! ```text
//! magic "DWCHSPL1" | payload length u32 LE | CRC-32 of payload u32 LE | payload
//! payload = batch id u64 | parts u32 | { table u8 | day i64 | rows u32 | body length u32 | RowBinary body }*
//! ```
//!
//! A record that fails its length or checksum is renamed `<seq>.corrupt`
//! (kept for inspection, counted, logged with file and offset) and skipped.
//! The directory is locked (`flock` on `lock`) so two processes never ship
//! the same batches.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use thiserror::Error;

const MAGIC: &[u8; 8] = b"DWCHSPL1";
const HEADER: usize = 16;

/// Spool failures, naming the file and (for damage) the byte offset.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SpoolError {
    /// A file operation failed.
    #[error("spool {path}: {source}")]
    Io {
        /// File or directory.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Another process uses the spool directory.
    #[error("spool {path} is in use by another dnswatch (it holds the lock); give each process its own storage.clickhouse.spool_dir")]
    Locked {
        /// Directory.
        path: PathBuf,
    },
    /// A record is damaged.
    #[error("spool record {path} is damaged at byte offset {offset}: {reason}")]
    Damaged {
        /// File.
        path: PathBuf,
        /// Byte offset of the damage.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One part of a batch: the rows of one table for one day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// Index into [`super::schema::TABLES`].
    pub table: u8,
    /// Day (µs / 86400e6) of every row.
    pub day: i64,
    /// Rows in `body`.
    pub rows: u32,
    /// RowBinary rows.
    pub body: Vec<u8>,
}

/// A batch as spooled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Batch id (written into every row's `batch_id`).
    pub batch_id: u64,
    /// Parts, in sending order.
    pub parts: Vec<Part>,
}

impl Record {
    /// Serialises the payload.
    pub fn encode(&self) -> Vec<u8> {
        let len: usize = self.parts.iter().map(|p| 17 + p.body.len()).sum();
        let mut out = Vec::with_capacity(12 + len);
        out.extend_from_slice(&self.batch_id.to_le_bytes());
        out.extend_from_slice(&(self.parts.len() as u32).to_le_bytes());
        for p in &self.parts {
            out.push(p.table);
            out.extend_from_slice(&p.day.to_le_bytes());
            out.extend_from_slice(&p.rows.to_le_bytes());
            out.extend_from_slice(&(p.body.len() as u32).to_le_bytes());
            out.extend_from_slice(&p.body);
        }
        out
    }

    /// Parses a payload; the error is (offset within the payload, reason).
    pub fn decode(b: &[u8]) -> Result<Self, (usize, &'static str)> {
        let mut r = Reader { b, at: 0 };
        let batch_id = u64::from_le_bytes(r.array::<8>()?);
        let n = u32::from_le_bytes(r.array::<4>()?);
        let mut parts = Vec::new();
        for _ in 0..n {
            let table = r.array::<1>()?[0];
            if usize::from(table) >= super::schema::TABLES.len() {
                return Err((r.at - 1, "unknown table number"));
            }
            let day = i64::from_le_bytes(r.array::<8>()?);
            let rows = u32::from_le_bytes(r.array::<4>()?);
            let len = u32::from_le_bytes(r.array::<4>()?) as usize;
            let body = r.take(len)?.to_vec();
            parts.push(Part {
                table,
                day,
                rows,
                body,
            });
        }
        if r.at != b.len() {
            return Err((r.at, "trailing bytes after the last part"));
        }
        Ok(Self { batch_id, parts })
    }

    /// Lookups in the record (rows of the `lookups` parts).
    pub fn lookups(&self) -> u64 {
        self.parts
            .iter()
            .filter(|p| usize::from(p.table) == 0)
            .map(|p| u64::from(p.rows))
            .sum()
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], (usize, &'static str)> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or((self.at, "record ends inside a field"))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], (usize, &'static str)> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
}

/// A spooled batch waiting to be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Sequence number (file name).
    pub seq: u64,
    /// File size.
    pub bytes: u64,
}

/// The spool directory (locked while this value lives).
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    next_seq: u64,
    _lock: File,
}

/// What [`Spool::open`] found.
#[derive(Debug, Default)]
pub struct Found {
    /// Batches left by an earlier run, oldest first.
    pub entries: Vec<Entry>,
    /// Unfinished `.tmp` files removed (never confirmed to the writer).
    pub removed_tmp: u64,
}

impl Spool {
    /// Opens (creating, mode 0700) and locks `dir`; lists what is in it.
    pub fn open(dir: &Path) -> Result<(Self, Found), SpoolError> {
        use std::os::unix::fs::DirBuilderExt;
        if !dir.is_dir() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io(dir))?;
        }
        let lock_path = dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        match rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => {
                return Err(SpoolError::Locked {
                    path: dir.to_path_buf(),
                })
            }
            Err(e) => return Err(io(&lock_path)(e.into())),
        }
        let mut found = Found::default();
        for item in std::fs::read_dir(dir).map_err(io(dir))? {
            let item = item.map_err(io(dir))?;
            let name = item.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(stem) = name.strip_suffix(".tmp") {
                if stem.bytes().all(|c| c.is_ascii_digit()) {
                    std::fs::remove_file(item.path()).map_err(io(&item.path()))?;
                    found.removed_tmp += 1;
                }
            } else if let Some(stem) = name.strip_suffix(".batch") {
                if let Ok(seq) = stem.parse::<u64>() {
                    let bytes = item.metadata().map_err(io(&item.path()))?.len();
                    found.entries.push(Entry { seq, bytes });
                }
            }
        }
        found.entries.sort_by_key(|e| e.seq);
        let next_seq = found.entries.last().map_or(1, |e| e.seq + 1);
        Ok((
            Self {
                dir: dir.to_path_buf(),
                next_seq,
                _lock: lock,
            },
            found,
        ))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes a record durably; returns its entry.
    pub fn append(&mut self, payload: &[u8]) -> Result<Entry, SpoolError> {
        let seq = self.next_seq;
        let tmp = self.dir.join(format!("{seq:020}.tmp"));
        let path = path_of(&self.dir, seq);
        let mut f = File::create(&tmp).map_err(io(&tmp))?;
        let mut head = [0u8; HEADER];
        head[..8].copy_from_slice(MAGIC);
        let len = u32::try_from(payload.len()).map_err(|_| SpoolError::Damaged {
            path: tmp.clone(),
            offset: 0,
            reason: "batch larger than 4 GiB",
        })?;
        head[8..12].copy_from_slice(&len.to_le_bytes());
        head[12..16].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
        let res = f
            .write_all(&head)
            .and_then(|()| f.write_all(payload))
            .and_then(|()| f.sync_all());
        if let Err(e) = res {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(&tmp)(e));
        }
        drop(f);
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        self.next_seq += 1;
        Ok(Entry {
            seq,
            bytes: (HEADER + payload.len()) as u64,
        })
    }
}

fn path_of(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.batch"))
}

/// Reads and checks a record of `dir`.
pub fn read(dir: &Path, seq: u64) -> Result<Record, SpoolError> {
    let path = path_of(dir, seq);
    let b = std::fs::read(&path).map_err(io(&path))?;
    let damaged = |offset, reason| SpoolError::Damaged {
        path: path.clone(),
        offset,
        reason,
    };
    if b.len() < HEADER || &b[..8] != MAGIC {
        return Err(damaged(0, "no spool record header"));
    }
    let mut len = [0u8; 4];
    len.copy_from_slice(&b[8..12]);
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&b[12..16]);
    let payload = &b[HEADER..];
    if payload.len() != u32::from_le_bytes(len) as usize {
        return Err(damaged(8, "length does not match the file size"));
    }
    if crc32fast::hash(payload) != u32::from_le_bytes(crc) {
        return Err(damaged(12, "checksum mismatch"));
    }
    Record::decode(payload).map_err(|(off, reason)| damaged(HEADER + off, reason))
}

/// Removes a record once the server has every row of it.
pub fn remove(dir: &Path, seq: u64) -> Result<(), SpoolError> {
    let path = path_of(dir, seq);
    std::fs::remove_file(&path).map_err(io(&path))
}

/// Moves a damaged record aside as `<seq>.corrupt`.
pub fn quarantine(dir: &Path, seq: u64) -> Result<PathBuf, SpoolError> {
    let path = path_of(dir, seq);
    let to = dir.join(format!("{seq:020}.corrupt"));
    std::fs::rename(&path, &to).map_err(io(&path))?;
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: u64) -> Record {
        Record {
            batch_id: id,
            parts: vec![
                Part {
                    table: 0,
                    day: 20_000,
                    rows: 2,
                    body: vec![1, 2, 3],
                },
                Part {
                    table: 5,
                    day: -1,
                    rows: 1,
                    body: Vec::new(),
                },
            ],
        }
    }

    #[test]
    fn append_read_remove_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("spool");
        {
            let (mut s, found) = Spool::open(&d).unwrap();
            assert!(found.entries.is_empty());
            let a = s.append(&record(7).encode()).unwrap();
            let b = s.append(&record(8).encode()).unwrap();
            assert_eq!((a.seq, b.seq), (1, 2));
            assert_eq!(read(&d, 1).unwrap(), record(7));
            // A second process cannot take the same spool.
            assert!(matches!(Spool::open(&d), Err(SpoolError::Locked { .. })));
            remove(&d, 1).unwrap();
            std::fs::write(d.join("00000000000000000009.tmp"), b"half").unwrap();
        }
        let (mut s, found) = Spool::open(&d).unwrap();
        assert_eq!(found.removed_tmp, 1);
        assert_eq!(found.entries.len(), 1);
        assert_eq!(found.entries[0].seq, 2);
        assert_eq!(read(&d, 2).unwrap(), record(8));
        assert_eq!(s.append(&record(9).encode()).unwrap().seq, 3);
    }

    #[test]
    fn damage_is_detected_with_offset() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = Spool::open(dir.path()).unwrap();
        s.append(&record(1).encode()).unwrap();
        let p = dir.path().join(format!("{:020}.batch", 1));
        let mut b = std::fs::read(&p).unwrap();
        let last = b.len() - 1;
        b[last] ^= 0xff;
        std::fs::write(&p, &b).unwrap();
        match read(dir.path(), 1) {
            Err(SpoolError::Damaged { offset, .. }) => assert_eq!(offset, 12),
            other => panic!("{other:?}"),
        }
        b.truncate(20);
        std::fs::write(&p, &b).unwrap();
        assert!(matches!(
            read(dir.path(), 1),
            Err(SpoolError::Damaged { offset: 8, .. })
        ));
        let q = quarantine(dir.path(), 1).unwrap();
        assert!(q.exists());
        assert!(Record::decode(&[0; 11]).is_err());
    }
}
