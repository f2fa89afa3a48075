//! `storage.clickhouse.record = "all"`: ClickHouse gets every lookup the
//! pipeline decodes, SQLite only the watched ones.

use std::collections::BTreeMap;
use std::path::Path;

use super::{fleet, replay, sqlite_lookups, support, unique, url, write_config};

/// The lookups' JSON with `entry` replaced by `to` (sorted, a multiset).
fn with_entry(lookups: &[String], to: &str) -> Vec<String> {
    let mut out: Vec<String> = lookups
        .iter()
        .map(|j| {
            let mut v: serde_json::Value = serde_json::from_str(j).unwrap();
            v["entry"] = to.into();
            v.to_string()
        })
        .collect();
    out.sort();
    out
}

fn run(args: &[&str], files: &[&Path]) {
    let mut all: Vec<String> = args.iter().map(|s| (*s).to_string()).collect();
    all.extend(files.iter().map(|f| f.display().to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let out = replay(&all);
    assert!(
        out.status.success(),
        "{all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A corpus capture replayed with a one-name watch list and record =
/// "all": ClickHouse holds the same multiset of lookups as SQLite gets with
/// `--watch .` (the unwatched ones with an empty entry), SQLite only the
/// watched ones, exactly as without ClickHouse.
#[test]
fn record_all_sends_every_lookup_and_sqlite_keeps_the_watched() {
    let url = url();
    let dir = tempfile::tempdir().unwrap();
    let corpus = support::corpus_dir();
    let files = [
        corpus.join("pcapplusplus-dns-mdns-llmnr.pcap"),
        corpus.join("zeek-dns-edns-ecs.pcap"),
    ];
    let files: Vec<&Path> = files.iter().map(|f| f.as_path()).collect();
    let sensor = ["--sensor", "s1"];
    // Everything, into SQLite: what record = "all" must give ClickHouse.
    let everything = dir.path().join("everything.db");
    let mut args = vec!["--db", everything.to_str().unwrap(), "--watch", "."];
    args.extend(sensor);
    run(&args, &files);
    let all = sqlite_lookups(&everything);
    // The watch list: the most frequent name (but not every lookup's).
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for j in &all {
        let v: serde_json::Value = serde_json::from_str(j).unwrap();
        *names
            .entry(v["qname"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let (name, n) = names.iter().max_by_key(|(_, n)| **n).unwrap();
    assert!(
        *n < all.len() / 2,
        "{name} is in {n} of {} lookups",
        all.len()
    );
    let entry = format!("={name}");

    // The watched ones alone, without ClickHouse.
    let watched_only = dir.path().join("watched.db");
    let mut args = vec![
        "--db",
        watched_only.to_str().unwrap(),
        "--watch",
        entry.as_str(),
    ];
    args.extend(sensor);
    run(&args, &files);
    let watched = sqlite_lookups(&watched_only);
    assert_eq!(watched.len(), *n, "lookups of {entry}");

    // The small watch list with record = "all" into SQLite and ClickHouse.
    let db = unique("record_all");
    let cfg = write_config(dir.path(), &db, "record = \"all\"");
    let both = dir.path().join("both.db");
    let mut args = vec![
        "--config",
        cfg.to_str().unwrap(),
        "--db",
        both.to_str().unwrap(),
        "--watch",
        entry.as_str(),
        "--clickhouse",
        url.as_str(),
    ];
    args.extend(sensor);
    run(&args, &files);
    assert_eq!(
        sqlite_lookups(&both),
        watched,
        "SQLite keeps the watched only"
    );
    let ch = fleet(&url, &db, "", None);
    let ch_json: Vec<String> = ch
        .iter()
        .map(|l| serde_json::to_string(&l.lookup).unwrap())
        .collect();
    assert_eq!(ch.len(), all.len());
    assert_eq!(with_entry(&ch_json, "."), with_entry(&all, "."));
    // Watched rows keep their entry; the others have an empty one.
    let mut ch_watched: Vec<String> = ch
        .iter()
        .filter(|l| !l.lookup.entry.is_empty())
        .map(|l| serde_json::to_string(&l.lookup).unwrap())
        .collect();
    ch_watched.sort();
    assert_eq!(ch_watched, watched);
    assert!(ch
        .iter()
        .all(|l| l.lookup.entry.is_empty() || l.lookup.entry == entry));
    // Summaries stay per watch entry: none for the unwatched lookups.
    let summarised = super::count(
        url.as_str(),
        &format!("SELECT sum(count) FROM {db}.querier_summary"),
    );
    assert_eq!(summarised, *n as u64);
}
