//! `dnswatch replay`.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::writer::Writer;
use super::{setup, ExitError};
use crate::capture::file::FileSource;
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
    let mut sources = Vec::with_capacity(args.files.len());
    for path in &args.files {
        sources.push(FileSource::open(path).map_err(|e| ExitError::Runtime(e.to_string()))?);
    }
    let store = SqliteStore::open(&s.db).map_err(|e| ExitError::Runtime(e.to_string()))?;
    let preload = store
        .preload()
        .map_err(|e| ExitError::Runtime(e.to_string()))?;
    let writer = Writer::spawn(Box::new(store), false);
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
    let mut done_bytes = 0u64;
    for mut src in sources {
        flow.pipeline.begin_source(src.name());
        if let Some(b) = &bar {
            b.set_message(src.name().to_string());
        }
        let mut frame = 0u64;
        loop {
            match src.next_packet() {
                Ok(Some(p)) => {
                    frame += 1;
                    flow.pipeline.packet(p.ts_us, frame, p.link, p.data);
                    if frame % 1024 == 0 {
                        flow.tick(false).map_err(ExitError::Runtime)?;
                        if let Some(b) = &bar {
                            b.set_position(done_bytes + src.bytes_read);
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    if let CaptureError::Damaged { lost, .. } = &e {
                        tracing::warn!("{e}");
                        damaged.push(Damage {
                            message: e.to_string(),
                            lost: *lost,
                        });
                    }
                    break;
                }
            }
        }
        done_bytes += src.file_len;
        flow.tick(false).map_err(ExitError::Runtime)?;
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let summary = flow.finish().map_err(ExitError::Runtime)?;
    let wall = started.elapsed();
    print_summary(&summary, args.files.len(), &damaged, wall);
    Ok(())
}

fn print_summary(s: &crate::flow::Summary, files: usize, damaged: &[Damage], wall: Duration) {
    let secs = wall.as_secs_f64().max(1e-9);
    println!("files            {files} ({} damaged)", damaged.len());
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
    let lost: u64 = damaged.iter().map(|d| d.lost).sum();
    if lost > 0 {
        println!("bytes lost       {lost}");
    }
    println!("wall time        {:.3} s", wall.as_secs_f64());
    println!("packets/s        {:.0}", s.packets as f64 / secs);
}
