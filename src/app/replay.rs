//! `dnswatch replay`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::writer::Writer;
use super::{setup, ExitError};
use crate::capture::file::{FileSource, BUFFER};
use crate::capture::{CaptureError, PacketSource};
use crate::cli::ReplayArgs;
use crate::flow::Flow;
use crate::store::sqlite::SqliteStore;

/// A file that could not be read to its end.
struct Damage {
    message: String,
    lost: u64,
}

pub(super) fn replay(args: ReplayArgs) -> Result<(), ExitError> {
    let s = setup(&args.common)?;
    if s.watch.is_empty() {
        return Err(ExitError::Usage(
            "nothing to watch: give --watch ENTRY (or `--watch .` for everything) or watch.entries in the config".into(),
        ));
    }
    // Open every file first: a file that is not a capture stops the run
    // before the database is touched.
    // All files are open at once (their packets are merged by time): read
    // buffers share 32 MiB, between 16 and 256 KiB each.
    let buffer = ((32usize << 20) / args.files.len().max(1)).clamp(16 << 10, BUFFER);
    let mut sources = Vec::with_capacity(args.files.len());
    for path in &args.files {
        sources.push(
            FileSource::open_with_buffer(path, buffer)
                .map_err(|e| ExitError::Runtime(e.to_string()))?,
        );
    }
    let store = SqliteStore::open(&s.db).map_err(|e| ExitError::Runtime(e.to_string()))?;
    let preload = store
        .preload(crate::detect::preload_days(&s.config.raw.detectors))
        .map_err(|e| ExitError::Runtime(e.to_string()))?;
    let (sink, _ch_stats) = super::sinks(&s, store, true)?;
    let writer = Writer::spawn(sink, false);
    let mut flow = Flow::new(
        &s.config,
        Arc::new(s.watch),
        writer,
        s.alerts.as_deref(),
        &preload,
    )
    .map_err(ExitError::Runtime)?;

    let total_bytes: u64 = sources.iter().map(|f| f.file_len).sum();
    let bar = if !args.no_progress && std::io::stderr().is_terminal() && total_bytes > 4 << 20 {
        let b = ProgressBar::new(total_bytes);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Some(b)
    } else {
        None
    };

    let started = Instant::now();
    let mut damaged: Vec<Damage> = Vec::new();
    let mut failed: Vec<String> = Vec::new();
    let report = |e: CaptureError, damaged: &mut Vec<Damage>, failed: &mut Vec<String>| {
        if let CaptureError::Damaged { lost, .. } = &e {
            tracing::warn!("{e}");
            damaged.push(Damage {
                message: e.to_string(),
                lost: *lost,
            });
        } else {
            tracing::error!("{e}");
            failed.push(e.to_string());
        }
    };

    // Every file's first packet decides its rank: first packet time, then
    // file name. Packets are then merged by time across files (ties by
    // rank), so the argument order changes nothing.
    let mut files: Vec<Input> = Vec::with_capacity(sources.len());
    for mut src in sources {
        let first = match src.advance() {
            Ok(true) => src.current().map(|p| p.ts_us),
            Ok(false) => None,
            Err(e) => {
                report(e, &mut damaged, &mut failed);
                None
            }
        };
        files.push(Input {
            src,
            min: first.unwrap_or(i64::MAX),
            max: first.unwrap_or(i64::MIN),
            first,
        });
    }
    files.sort_by(|a, b| {
        (a.first.is_none(), a.first, a.src.name()).cmp(&(b.first.is_none(), b.first, b.src.name()))
    });
    let mut heap: BinaryHeap<Reverse<(i64, usize)>> = BinaryHeap::with_capacity(files.len());
    for (rank, f) in files.iter().enumerate() {
        let id = flow.pipeline.begin_source(f.src.name());
        debug_assert_eq!(id as usize, rank);
        if let Some(ts) = f.first {
            heap.push(Reverse((ts, rank)));
        }
    }
    let mut selected = usize::MAX;
    let mut count = 0u64;
    while let Some(mut top) = heap.peek_mut() {
        let rank = top.0 .1;
        let f = &mut files[rank];
        if let Some(p) = f.src.current() {
            if rank != selected {
                flow.pipeline.select_source(rank as u32);
                selected = rank;
            }
            f.min = f.min.min(p.ts_us);
            f.max = f.max.max(p.ts_us);
            flow.pipeline
                .packet(p.ts_us, f.src.packets(), p.link, p.data);
        }
        match f.src.advance() {
            Ok(true) => {
                let ts = f.src.current().map_or(i64::MAX, |p| p.ts_us);
                top.0 .0 = ts;
            }
            Ok(false) => {
                std::collections::binary_heap::PeekMut::pop(top);
            }
            Err(e) => {
                std::collections::binary_heap::PeekMut::pop(top);
                report(e, &mut damaged, &mut failed);
            }
        }
        count += 1;
        if count % 1024 == 0 {
            flow.tick(false).map_err(ExitError::Runtime)?;
            if let Some(b) = &bar {
                b.set_position(files.iter().map(|f| f.src.bytes_read).sum());
            }
        }
    }
    flow.tick(false).map_err(ExitError::Runtime)?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let overlaps = overlaps(&files);
    for o in &overlaps {
        tracing::warn!("{o}");
    }
    let summary = flow.finish().map_err(ExitError::Runtime)?;
    let wall = started.elapsed();
    print_summary(
        &summary,
        args.files.len(),
        &damaged,
        &failed,
        &overlaps,
        wall,
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(ExitError::Runtime(failed.join("\n")))
    }
}

/// A capture being merged.
struct Input {
    src: FileSource,
    /// Time of its first packet.
    first: Option<i64>,
    /// Earliest and latest packet times read.
    min: i64,
    max: i64,
}

/// At most this many overlap warnings are listed.
const MAX_OVERLAPS: usize = 20;

/// Warnings for files whose time spans overlap (their packets were interleaved).
fn overlaps(files: &[Input]) -> Vec<String> {
    let mut spans: Vec<(i64, i64, &str)> = files
        .iter()
        .filter(|f| f.min <= f.max)
        .map(|f| (f.min, f.max, f.src.name()))
        .collect();
    spans.sort();
    let mut out = Vec::new();
    let mut more = 0usize;
    for (i, a) in spans.iter().enumerate() {
        for b in &spans[i + 1..] {
            if b.0 > a.1 {
                break;
            }
            let (from, to) = (b.0, a.1.min(b.1));
            if out.len() < MAX_OVERLAPS {
                out.push(format!(
                    "{} and {} overlap in time from {} to {}: their packets were merged by time",
                    a.2,
                    b.2,
                    crate::time::rfc3339(from),
                    crate::time::rfc3339(to)
                ));
            } else {
                more += 1;
            }
        }
    }
    if more > 0 {
        out.push(format!("and {more} more overlapping pairs of files"));
    }
    out
}

fn print_summary(
    s: &crate::flow::Summary,
    files: usize,
    damaged: &[Damage],
    failed: &[String],
    overlaps: &[String],
    wall: Duration,
) {
    let secs = wall.as_secs_f64().max(1e-9);
    if failed.is_empty() {
        println!("files            {files} ({} damaged)", damaged.len());
    } else {
        println!(
            "files            {files} ({} damaged, {} failed)",
            damaged.len(),
            failed.len()
        );
    }
    println!("packets          {}", s.packets);
    println!(
        "dns messages     {} ({} queries, {} responses)",
        s.messages, s.queries, s.responses
    );
    println!(
        "lookups recorded {} ({} unanswered, {} without captured query)",
        s.lookups, s.unanswered, s.unsolicited
    );
    println!("alerts           {}", s.alerts);
    if s.errors.is_empty() {
        println!("decode errors    0");
    } else {
        let parts: Vec<String> = s
            .errors
            .iter()
            .map(|(k, n)| format!("{}={n}", k.name()))
            .collect();
        println!(
            "decode errors    {} ({})",
            s.errors.iter().map(|e| e.1).sum::<u64>(),
            parts.join(", ")
        );
    }
    if s.reassembled > 0 || s.tcp_gaps > 0 {
        println!(
            "reassembly       {} fragmented datagrams, {} tcp gaps",
            s.reassembled, s.tcp_gaps
        );
    }
    let ev: Vec<String> = s
        .evictions
        .iter()
        .filter(|e| e.1 > 0)
        .map(|(k, n)| format!("{k}={n}"))
        .collect();
    if !ev.is_empty() {
        println!("evictions        {} (memory caps)", ev.join(", "));
    }
    for d in damaged {
        println!("damaged          {}", d.message);
    }
    for f in failed {
        println!("failed           {f}");
    }
    for o in overlaps {
        println!("overlap          {o}");
    }
    let lost: u64 = damaged.iter().map(|d| d.lost).sum();
    if lost > 0 {
        println!("bytes lost       {lost}");
    }
    println!("wall time        {:.3} s", wall.as_secs_f64());
    println!("packets/s        {:.0}", s.packets as f64 / secs);
}
