//! What one core can write into SQLite, from dnswatch's own store down to
//! bare SQLite, measured in the same run on the same lookups (issue 13's
//! "record everything" budget: >= 300 k lookups/s on one core).
//!
//!     dnswatch replay --port 15353 --watch . --db /tmp/src.db CAPTURE
//!     taskset -c 0 cargo run --release --example store_ceiling -- /tmp/src.db [BATCH]
//!
//! It reads every lookup of SRC (a schema-8 database written by
//! `replay --watch .`), then writes them again into fresh databases next to
//! it, in batches of BATCH lookups (default 4096, one transaction each, the
//! pragmas dnswatch uses: WAL, synchronous NORMAL, 16 MiB cache):
//!
//! * `store`: dnswatch's SQLite sink (`SqliteStore::write`): interning,
//!   encoding, lookups with both indexes, per-name and per-querier
//!   summaries. What the store thread of `replay --watch .` does per
//!   lookup, without the rrset table and the hourly counters.
//! * `rows+2 idx`: the stored rows (already encoded, ids already interned)
//!   bound to one prepared INSERT into the same table with the same two
//!   indexes: SQLite's own cost for the layout, nothing of ours.
//! * `rows+pk`: the same without the secondary indexes.
//! * `append`: the same rows into a rowid table with no key at all, the
//!   cheapest way SQLite takes a row.
//!
//! Each variant is timed in CPU time of this (single) thread, best of
//! RUNS (env, default 3), and printed as lookups per CPU-second with its
//! ratio to the 300 k/s budget.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use dnswatch::store::sqlite::{LookupFilter, SqliteStore};
use dnswatch::store::{Batch, Sink};
use rusqlite::types::Value;
use rusqlite::Connection;

const BUDGET: f64 = 300_000.0;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("store_ceiling: {e}");
            ExitCode::from(1)
        }
    }
}

/// CPU seconds used by this thread so far (utime + stime of
/// /proc/thread-self/stat, in clock ticks of 1/100 s).
fn cpu_s() -> Result<f64, String> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").map_err(|e| e.to_string())?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // After ")": state is index 0, so utime (field 14) is index 11.
    Ok((tick(11) + tick(12)) / 100.0)
}

/// The path of variant `name`'s database, with any earlier one removed.
fn fresh(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(format!("ceiling-{name}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
    }
    p
}

/// `CACHE_MIB` (env) overrides the page cache of the bare-SQLite variants
/// (dnswatch's: 16 MiB).
fn pragmas(c: &Connection) -> rusqlite::Result<()> {
    let cache_mib: i64 = std::env::var("CACHE_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", "NORMAL")?;
    c.pragma_update(None, "cache_size", -1024 * cache_mib)
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let src = PathBuf::from(args.next().ok_or("usage: store_ceiling SRC.db [BATCH]")?);
    let batch: usize = match args.next() {
        Some(b) => b.parse().map_err(|_| format!("BATCH: not a number: {b}"))?,
        None => 4096,
    };
    let only_raw = std::env::var_os("RAW_ONLY").is_some();
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let dir = src
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));

    // The lookups, as the pipeline hands them to the store.
    let store = SqliteStore::open_read_only(&src).map_err(|e| e.to_string())?;
    let mut lookups = Vec::new();
    store
        .lookups(&LookupFilter::default(), &mut |l| {
            lookups.push(l);
            true
        })
        .map_err(|e| e.to_string())?;
    drop(store);
    // The same lookups as stored rows, and the DDL they are stored with.
    let conn = Connection::open(&src).map_err(|e| e.to_string())?;
    let ddl: Vec<String> = {
        let mut s = conn
            .prepare(
                "SELECT sql FROM sqlite_schema WHERE tbl_name = 'lookups' AND sql IS NOT NULL
                 ORDER BY type = 'index'",
            )
            .map_err(|e| e.to_string())?;
        let rows = s
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| e.to_string())?;
        rows.collect::<Result<_, _>>().map_err(|e| e.to_string())?
    };
    let mut rows: Vec<Vec<Value>> = Vec::with_capacity(lookups.len());
    let ncols: usize = conn
        .query_row(
            "SELECT count(*) FROM pragma_table_info('lookups')",
            [],
            |r| r.get(0),
        )
        .map_err(|e| e.to_string())?;
    {
        let mut s = conn
            .prepare("SELECT * FROM lookups ORDER BY ts_us, seq")
            .map_err(|e| e.to_string())?;
        let mut q = s.query([]).map_err(|e| e.to_string())?;
        while let Some(r) = q.next().map_err(|e| e.to_string())? {
            let mut row = Vec::with_capacity(ncols);
            for i in 0..ncols {
                row.push(r.get::<_, Value>(i).map_err(|e| e.to_string())?);
            }
            rows.push(row);
        }
    }
    drop(conn);
    println!(
        "{} lookups from {}, batches of {batch}, best of {runs}",
        lookups.len(),
        src.display()
    );
    if lookups.is_empty() {
        return Err(format!("{}: no lookups", src.display()));
    }

    let mut results: Vec<(&str, f64)> = Vec::new();

    // dnswatch's sink. The batches are built before the clock starts; the
    // sink drops nothing it is given (it borrows the batch).
    let mut best = f64::MAX;
    for _ in 0..if only_raw { 0 } else { runs } {
        let batches: Vec<Batch> = lookups
            .chunks(batch)
            .map(|c| Batch {
                lookups: c.to_vec(),
                ..Batch::default()
            })
            .collect();
        let path = fresh(&dir, "store");
        let mut sink = SqliteStore::open(&path).map_err(|e| e.to_string())?;
        let t = cpu_s()?;
        for b in &batches {
            sink.write(b).map_err(|e| e.to_string())?;
        }
        sink.close().map_err(|e| e.to_string())?;
        best = best.min(cpu_s()? - t);
    }
    if !only_raw {
        results.push(("store", best));
    }

    let table = ddl.first().ok_or("no lookups table in SRC")?;
    let placeholders = vec!["?"; ncols].join(", ");
    let variants: [(&str, Vec<String>); 3] = [
        ("rows+2 idx", ddl.clone()),
        ("rows+pk", vec![table.clone()]),
        (
            "append",
            vec![format!(
                "CREATE TABLE lookups ({})",
                (0..ncols)
                    .map(|i| format!("c{i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )],
        ),
    ];
    for (name, schema) in &variants {
        let mut best = f64::MAX;
        for _ in 0..runs {
            let path = fresh(&dir, name);
            let mut c = Connection::open(&path).map_err(|e| e.to_string())?;
            pragmas(&c).map_err(|e| e.to_string())?;
            for s in schema {
                c.execute_batch(s).map_err(|e| format!("{s}: {e}"))?;
            }
            let sql = format!("INSERT INTO lookups VALUES ({placeholders})");
            let t = cpu_s()?;
            for chunk in rows.chunks(batch) {
                let tx = c.transaction().map_err(|e| e.to_string())?;
                {
                    let mut ins = tx.prepare_cached(&sql).map_err(|e| e.to_string())?;
                    for r in chunk {
                        ins.execute(rusqlite::params_from_iter(r.iter()))
                            .map_err(|e| e.to_string())?;
                    }
                }
                tx.commit().map_err(|e| e.to_string())?;
            }
            best = best.min(cpu_s()? - t);
        }
        results.push((name, best));
    }

    let n = lookups.len() as f64;
    println!(
        "{:<12} {:>10} {:>16} {:>14}",
        "variant", "cpu s", "lookups/cpu-s", "of budget"
    );
    for (name, s) in &results {
        let rate = if *s > 0.0 { n / s } else { f64::INFINITY };
        println!("{name:<12} {s:>10.2} {rate:>16.0} {:>13.2}x", rate / BUDGET);
    }
    for name in ["store", "rows+2 idx", "rows+pk", "append"] {
        fresh(&dir, name);
    }
    Ok(())
}
