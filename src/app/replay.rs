//! `dnswatch replay`: capture files, merged by packet time, through the driver.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::{setup, ExitError};
use crate::capture::file::{FileSource, BUFFER};
use crate::capture::input::{self, PacketFilter};
use crate::capture::merge::{Damage, Merge, MergeFile};
use crate::cli::ReplayArgs;
use crate::dnstap::file::DnstapFile;
use crate::driver::{Counters, Runner};
use crate::store::sqlite::SqliteStore;
use crate::store::writer::Writer;

pub(super) fn replay(args: ReplayArgs) -> Result<(), ExitError> {
    let rt = |e: &dyn std::fmt::Display| ExitError::Runtime(e.to_string());
    let s = setup(&args.common)?;
    if s.watch.is_empty() {
        return Err(ExitError::Usage(
            "nothing to watch: give --watch ENTRY (or `--watch .` for everything) or watch.entries in the config".into(),
        ));
    }
    // The BPF filter: --bpf wins over capture.filter; a wrong one is a
    // usage error before anything is read.
    let (expr, key) = match &args.bpf {
        Some(f) => (f.trim().to_string(), "--bpf"),
        None => (
            s.config.raw.capture.filter.trim().to_string(),
            "capture.filter",
        ),
    };
    let filter = if expr.is_empty() {
        None
    } else {
        Some(PacketFilter::new(&expr).map_err(|e| {
            ExitError::Usage(format!(
                "{key} {expr:?}: libpcap cannot compile the filter: {e}"
            ))
        })?)
    };
    let (inputs, notes) = input::expand(&args.files, args.recursive).map_err(|e| match e {
        input::InputError::StdinTwice => ExitError::Usage(e.to_string()),
        e => rt(&e),
    })?;
    for n in &notes {
        println!("note             {n}");
    }
    // Open every file first: a file that is not a capture stops the run
    // before the database is touched.
    // All files are open at once (their packets are merged by time): read
    // buffers share 32 MiB, between 16 and 256 KiB each.
    let buffer = ((32usize << 20) / inputs.len().max(1)).clamp(16 << 10, BUFFER);
    // dnstap (Frame Streams) files are recognised by content, beside pcap
    // and pcapng; their identities become sub-sources numbered after the files.
    let dnstap_stats = crate::dnstap::DnstapStats::default();
    let next_index = Arc::new(std::sync::atomic::AtomicUsize::new(inputs.len()));
    let sensor = s.config.sensor();
    let mut sources: Vec<MergeFile> = Vec::with_capacity(inputs.len());
    for arg in &inputs {
        let opened = input::open(arg, buffer).map_err(|e| rt(&e))?;
        let listed = matches!(arg, input::InputArg::File { listed: true, .. });
        match opened.content {
            input::Content::Dnstap => {
                let expander = crate::dnstap::Expander::new(
                    s.config.raw.capture.dnstap_resolver_messages,
                    next_index.clone(),
                    &sensor,
                );
                let peer = crate::dnstap::file_peer(&dnstap_stats, &opened.name);
                sources.push(MergeFile::Dnstap(Box::new(DnstapFile::from_reader(
                    &opened.name,
                    Box::new(opened.reader),
                    opened.len,
                    peer,
                    expander,
                ))));
            }
            input::Content::Other if listed => {
                println!(
                    "note             {}: not a pcap, pcapng or dnstap file{}, skipped",
                    opened.name.display(),
                    opened
                        .compression
                        .map_or(String::new(), |c| format!(" (after {c})"))
                );
            }
            _ => {
                let mut f =
                    FileSource::from_reader(&opened.name, opened.reader).map_err(|e| rt(&e))?;
                f.file_len = opened.len;
                sources.push(f.into());
            }
        }
    }
    if sources.is_empty() {
        return Err(ExitError::Runtime(
            "no capture files to read (the directories given hold none)".into(),
        ));
    }
    let files = sources.len();
    let (sink, preload): (Box<dyn crate::store::Sink>, _) = if args.no_db {
        let Some(mut settings) = s.clickhouse.clone() else {
            return Err(ExitError::Usage(
                "--no-db needs --clickhouse URL (or storage.clickhouse.url): the lookups must go somewhere".into(),
            ));
        };
        // No database to put the spool beside (the default name would
        // leave `dnswatch.db.clickhouse-spool` in the current directory):
        // the per-user state directory, unless a spool or database is named.
        if s.config.raw.storage.clickhouse.spool_dir.is_none()
            && args.common.db.is_none()
            && s.config.raw.storage.database.is_none()
        {
            if let Some(dir) = crate::store::clickhouse::state_spool_dir() {
                settings.spool_dir = dir;
            }
        }
        let ch = crate::store::clickhouse::ClickHouseSink::open(settings).map_err(|e| rt(&e))?;
        (Box::new(ch), crate::model::Preload::default())
    } else {
        let store = SqliteStore::open(&s.db).map_err(|e| rt(&e))?;
        let preload = store
            .preload(crate::detect::preload_days(&s.config.raw.detectors))
            .map_err(|e| rt(&e))?;
        let (sink, _ch_stats) =
            crate::store::clickhouse::with_primary(s.clickhouse.clone(), Box::new(store), true)
                .map_err(|e| rt(&e))?;
        (sink, preload)
    };
    let writer = Writer::spawn(sink, false).map_err(|e| rt(&e))?;
    let mut runner = Runner::new(
        &s.config,
        Arc::new(s.watch),
        Some(writer),
        s.alerts.as_deref(),
        &preload,
    )
    .map_err(|e| rt(&e))?;

    let mut merge = Merge::with_filter(sources, filter);
    let total_bytes = merge.total_bytes();
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
    runner
        .drive(&mut merge, |_, merge| {
            if let Some(b) = &bar {
                b.set_position(merge.bytes_read());
            }
            std::ops::ControlFlow::Continue(())
        })
        .map_err(|e| rt(&e))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let overlaps = merge.overlaps();
    for o in &overlaps {
        tracing::warn!("{o}");
    }
    let (counters, _) = runner.finish().map_err(|e| rt(&e))?;
    let wall = started.elapsed();
    let peers = dnstap_stats.peers();
    if !peers.is_empty() {
        let load =
            |f: &dyn Fn(&crate::dnstap::PeerStats) -> u64| peers.iter().map(|p| f(p)).sum::<u64>();
        println!(
            "dnstap frames    {} ({} not dnstap messages)",
            load(&|p| p.frames.load(std::sync::atomic::Ordering::Relaxed)),
            load(&|p| p.decode_errors.load(std::sync::atomic::Ordering::Relaxed)),
        );
    }
    if merge.filtered() > 0 || !expr.is_empty() {
        println!(
            "filtered out     {} packets ({key} {expr:?})",
            merge.filtered()
        );
    }
    print_summary(
        &counters,
        files,
        merge.damaged(),
        merge.failed(),
        &overlaps,
        wall,
    );
    if merge.failed().is_empty() {
        Ok(())
    } else {
        Err(ExitError::Runtime(merge.failed().join("\n")))
    }
}

fn print_summary(
    c: &Counters,
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
    println!("packets          {}", c.frames());
    println!(
        "dns messages     {} ({} queries, {} responses)",
        c.messages(),
        c.queries(),
        c.responses()
    );
    println!(
        "lookups recorded {} ({} unanswered, {} without captured query, {} answered late)",
        c.lookups(),
        c.unanswered(),
        c.unsolicited(),
        c.late()
    );
    if c.unwatched() > 0 {
        println!(
            "unwatched        {} lookups, for ClickHouse only (storage.clickhouse.record = \"all\")",
            c.unwatched()
        );
    }
    println!("alerts           {}", c.alerts());
    let errors: Vec<String> = c
        .errors()
        .iter()
        .filter(|e| e.1 > 0)
        .map(|(k, n)| format!("{k}={n}"))
        .collect();
    if errors.is_empty() {
        println!("decode errors    0");
    } else {
        println!(
            "decode errors    {} ({})",
            c.errors_total(),
            errors.join(", ")
        );
    }
    if c.reassembled() > 0 || c.tcp_gaps() > 0 {
        println!(
            "reassembly       {} fragmented datagrams, {} tcp gaps",
            c.reassembled(),
            c.tcp_gaps()
        );
    }
    let ev: Vec<String> = c
        .evictions()
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
    println!("packets/s        {:.0}", c.frames() as f64 / secs);
}
