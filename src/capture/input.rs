//! What `replay` reads: its arguments expanded (`-` for stdin, directories
//! listed in name order, descended with `--recursive`), each input opened
//! through gzip or zstd when its first bytes say it is compressed, and
//! recognised by content as pcap, pcapng or dnstap; plus the BPF filter
//! applied to file packets (libpcap's compiler and interpreter).

use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};

use crate::decode::LinkType;

/// The name `-` (standard input) gets in messages and provenance.
pub const STDIN_NAME: &str = "(stdin)";

/// Why an input could not be opened or listed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The operating system refused to open, list or read it.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// `-` given more than once.
    #[error("`-` (standard input) given more than once")]
    StdinTwice,
}

/// One capture to read, from the command line or found in a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputArg {
    /// Standard input (`-`).
    Stdin,
    /// A file; `listed` when it was found in a directory (a file that is
    /// not a capture is then skipped with a note instead of failing the run).
    File {
        /// Its path.
        path: PathBuf,
        /// Found by listing a directory.
        listed: bool,
    },
}

/// Expands the arguments of `replay`: files as given, `-` as stdin, the
/// files of a directory sorted by name (its subdirectories too, sorted,
/// with `recursive`; otherwise they are noted and skipped).
pub fn expand(
    args: &[PathBuf],
    recursive: bool,
) -> Result<(Vec<InputArg>, Vec<String>), InputError> {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let mut stdin = false;
    for a in args {
        if a.as_os_str() == "-" {
            if stdin {
                return Err(InputError::StdinTwice);
            }
            stdin = true;
            out.push(InputArg::Stdin);
        } else if a.is_dir() {
            list_dir(a, recursive, &mut out, &mut notes)?;
        } else {
            out.push(InputArg::File {
                path: a.clone(),
                listed: false,
            });
        }
    }
    Ok((out, notes))
}

fn list_dir(
    dir: &Path,
    recursive: bool,
    out: &mut Vec<InputArg>,
    notes: &mut Vec<String>,
) -> Result<(), InputError> {
    let io = |source| InputError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if recursive {
                list_dir(&p, recursive, out, notes)?;
            } else {
                notes.push(format!(
                    "{}: a directory inside {}, skipped (give --recursive to read it)",
                    p.display(),
                    dir.display()
                ));
            }
        } else {
            out.push(InputArg::File {
                path: p,
                listed: true,
            });
        }
    }
    Ok(())
}

/// What an opened input holds, by its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    /// pcap or pcapng.
    Pcap,
    /// dnstap (Frame Streams).
    Dnstap,
    /// Neither (the reader says why when asked to open it).
    Other,
}

/// An input opened for reading, decompressed when it was compressed.
pub struct Opened {
    /// Name in messages and provenance.
    pub name: PathBuf,
    /// The (decompressed) bytes, from the start.
    pub reader: Box<dyn BufRead + Send>,
    /// What it holds.
    pub content: Content,
    /// Its size for a progress bar: 0 for stdin and compressed files (the
    /// offsets read are in the decompressed stream).
    pub len: u64,
    /// `gzip` or `zstd` when it was compressed.
    pub compression: Option<&'static str>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("name", &self.name)
            .field("content", &self.content)
            .field("compression", &self.compression)
            .finish()
    }
}

/// Reads up to `n` bytes from the start of `r` (fewer at its end).
fn head(r: &mut dyn Read, n: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n);
    r.take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Opens `arg` with a read buffer of `buffer` bytes.
pub fn open(arg: &InputArg, buffer: usize) -> Result<Opened, InputError> {
    let (name, raw, len): (PathBuf, Box<dyn Read + Send>, u64) = match arg {
        InputArg::Stdin => (PathBuf::from(STDIN_NAME), Box::new(std::io::stdin()), 0),
        InputArg::File { path, .. } => {
            let io = |source| InputError::Io {
                path: path.clone(),
                source,
            };
            let f = std::fs::File::open(path).map_err(io)?;
            let m = f.metadata().map_err(io)?;
            let len = if m.is_file() { m.len() } else { 0 };
            (path.clone(), Box::new(f), len)
        }
    };
    let io = |source| InputError::Io {
        path: name.clone(),
        source,
    };
    let mut raw = raw;
    let magic = head(&mut raw, 4).map_err(io)?;
    let whole: Box<dyn Read + Send> = Box::new(Cursor::new(magic.clone()).chain(raw));
    let (mut plain, compression, len): (Box<dyn Read + Send>, _, _) =
        if magic.starts_with(&[0x1f, 0x8b]) {
            (
                Box::new(flate2::read::MultiGzDecoder::new(whole)),
                Some("gzip"),
                0,
            )
        } else if magic == [0x28, 0xb5, 0x2f, 0xfd] {
            (
                Box::new(zstd::stream::read::Decoder::new(whole).map_err(io)?),
                Some("zstd"),
                0,
            )
        } else {
            (whole, None, len)
        };
    let first = head(&mut plain, 12).map_err(io)?;
    let content = classify(&first);
    let reader = BufReader::with_capacity(buffer.max(4096), Cursor::new(first).chain(plain));
    Ok(Opened {
        name,
        reader: Box::new(reader),
        content,
        len,
        compression,
    })
}

/// pcap (all magics our reader takes), pcapng, dnstap, or other.
pub fn classify(first: &[u8]) -> Content {
    const PCAP: [[u8; 4]; 6] = [
        [0xa1, 0xb2, 0xc3, 0xd4],
        [0xd4, 0xc3, 0xb2, 0xa1],
        [0xa1, 0xb2, 0x3c, 0x4d],
        [0x4d, 0x3c, 0xb2, 0xa1],
        [0xa1, 0xb2, 0xcd, 0x34],
        [0x34, 0xcd, 0xb2, 0xa1],
    ];
    if first.len() >= 4
        && (PCAP.iter().any(|m| first.starts_with(m))
            || first.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]))
    {
        Content::Pcap
    } else if first.len() >= 12 && crate::dnstap::frame::is_frame_stream(first) {
        Content::Dnstap
    } else {
        Content::Other
    }
}

/// A BPF filter applied to file packets: compiled by libpcap once per link
/// type met (a pcapng may mix them), run by libpcap's interpreter.
pub struct PacketFilter {
    expr: String,
    /// One program per link type met (a handful at most: a linear search).
    programs: Vec<(i32, Option<pcap::BpfProgram>)>,
    /// Packets the filter rejected.
    pub rejected: u64,
}

impl std::fmt::Debug for PacketFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketFilter")
            .field("expr", &self.expr)
            .field("rejected", &self.rejected)
            .finish()
    }
}

impl PacketFilter {
    /// Compiles `expr` for Ethernet first, so a wrong filter is refused
    /// before anything is read (the error is libpcap's message).
    pub fn new(expr: &str) -> Result<Self, pcap::Error> {
        super::live::check_filter(expr)?;
        Ok(Self {
            expr: expr.to_string(),
            programs: Vec::new(),
            rejected: 0,
        })
    }

    /// The expression.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// Whether the filter passes a frame of link type `link`. A link type
    /// the filter cannot be compiled for (a MAC address filter on raw IP)
    /// passes nothing; this is logged once.
    pub fn pass(&mut self, link: LinkType, data: &[u8]) -> bool {
        let dlt = link.to_pcap();
        let i = match self.programs.iter().position(|p| p.0 == dlt) {
            Some(i) => i,
            None => {
                let expr = &self.expr;
                let prog = match pcap::Capture::dead(pcap::Linktype(dlt))
                    .and_then(|d| d.compile(expr, true))
                {
                    Ok(p) => Some(p),
                    Err(e) => {
                        tracing::warn!(
                            "the BPF filter {expr:?} cannot be compiled for link type {dlt} ({e}): its packets are filtered out"
                        );
                        None
                    }
                };
                self.programs.push((dlt, prog));
                self.programs.len() - 1
            }
        };
        let prog = &self.programs[i].1;
        let ok = prog.as_ref().is_some_and(|p| p.filter(data));
        if !ok {
            self.rejected += 1;
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_recognised_by_magic() {
        assert_eq!(
            classify(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]),
            Content::Pcap
        );
        assert_eq!(
            classify(&[0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0]),
            Content::Pcap
        );
        assert_eq!(
            classify(&[0, 0, 0, 0, 0, 0, 0, 0x1d, 0, 0, 0, 2]),
            Content::Dnstap
        );
        assert_eq!(classify(b"hello world!"), Content::Other);
        assert_eq!(classify(b""), Content::Other);
    }

    #[test]
    fn compressed_inputs_are_opened_by_their_bytes_not_their_names() {
        let dir = tempfile::tempdir().unwrap();
        let pcap = [0xd4u8, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &pcap).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&pcap[..], 1).unwrap();
        for (name, bytes, comp) in [("a.pcap", gz.clone(), "gzip"), ("b.bin", zst, "zstd")] {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            let mut o = open(
                &InputArg::File {
                    path: p,
                    listed: false,
                },
                4096,
            )
            .unwrap();
            assert_eq!(o.compression, Some(comp));
            assert_eq!(o.content, Content::Pcap);
            let mut all = Vec::new();
            o.reader.read_to_end(&mut all).unwrap();
            assert_eq!(all, pcap, "{name}");
        }
    }

    #[test]
    fn directories_are_sorted_and_descended_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        for f in ["b.pcap", "a.pcap", "sub/c.pcap"] {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        let names = |v: Vec<InputArg>| -> Vec<String> {
            v.into_iter()
                .map(|a| match a {
                    InputArg::File { path, listed } => {
                        assert!(listed);
                        path.strip_prefix(dir.path()).unwrap().display().to_string()
                    }
                    InputArg::Stdin => "-".into(),
                })
                .collect()
        };
        let (flat, notes) = expand(&[dir.path().to_path_buf()], false).unwrap();
        assert_eq!(names(flat), ["a.pcap", "b.pcap"]);
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("--recursive"), "{notes:?}");
        let (deep, notes) = expand(&[dir.path().to_path_buf()], true).unwrap();
        assert_eq!(names(deep), ["a.pcap", "b.pcap", "sub/c.pcap"]);
        assert!(notes.is_empty());
        assert!(matches!(
            expand(&["-".into(), "-".into()], false),
            Err(InputError::StdinTwice)
        ));
    }

    #[test]
    fn the_filter_passes_what_it_says() {
        let mut f = PacketFilter::new("udp port 53").unwrap();
        // Ethernet + IPv4 + UDP 1234 -> 53.
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        frame.extend_from_slice(&[
            0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        frame.extend_from_slice(&[0x04, 0xd2, 0, 53, 0, 8, 0, 0]);
        assert!(f.pass(LinkType::Ethernet, &frame));
        frame[14 + 20 + 3] = 54;
        assert!(!f.pass(LinkType::Ethernet, &frame));
        assert_eq!(f.rejected, 1);
        assert!(PacketFilter::new("udp and and").is_err());
    }
}
