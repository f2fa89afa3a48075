//! `replay` of several files merges their packets by time (issue 8 item 6):
//! the lookups and alerts do not depend on the order the files are given in,
//! a capture split into interleaved parts gives what the whole capture
//! gives, and files that overlap in time are reported.
//!
//! `DNSWATCH_TEST_BIN` runs these against another build (to show a failure
//! before a fix).

mod support;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::scenario::{self, DAY_US, T0};

const NAME: &str = "mail1.trump-email.com";
const ADDR: Ipv4Addr = Ipv4Addr::new(66, 216, 133, 29);

fn bin() -> Command {
    match std::env::var_os("DNSWATCH_TEST_BIN") {
        Some(b) => Command::new(b),
        None => Command::new(env!("CARGO_BIN_EXE_dnswatch")),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn q(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(217, 12, 96, i)
}

/// A month of lookups with a silence, a spike and a periodic querier: a
/// capture that raises several kinds of alerts.
fn scenario_pcap() -> Vec<u8> {
    let base = scenario::steady(6, 30, 25.0, &[q(15), q(16), q(17)], NAME, ADDR);
    let mut ev = scenario::with_spike(
        scenario::with_silence(base, 15.0, 17.5),
        22,
        9,
        35,
        q(16),
        NAME,
        ADDR,
    );
    ev.extend(scenario::periodic(
        T0 + 5 * DAY_US,
        900 * 1_000_000,
        30,
        q(40),
        NAME,
        ADDR,
    ));
    ev.sort_by_key(|e| e.ts_us);
    scenario::pcap_bytes(&ev)
}

/// Splits a classic little-endian pcap into `n` files, record `i` going to
/// file `pick(i)`; each keeps the file header.
fn split(pcap: &[u8], n: usize, pick: impl Fn(usize) -> usize) -> Vec<Vec<u8>> {
    assert_eq!(pcap[..4], [0xd4, 0xc3, 0xb2, 0xa1], "classic LE pcap");
    let mut parts = vec![pcap[..24].to_vec(); n];
    let mut off = 24;
    let mut i = 0;
    while off + 16 <= pcap.len() {
        let caplen = u32::from_le_bytes(pcap[off + 8..off + 12].try_into().unwrap()) as usize;
        let end = off + 16 + caplen;
        parts[pick(i) % n].extend_from_slice(&pcap[off..end]);
        off = end;
        i += 1;
    }
    assert_eq!(off, pcap.len());
    parts
}

/// Replays `files` (in that order) watching the scenario's name and address;
/// returns (lookups as JSON lines, alert log, replay output).
fn replay(dir: &Path, tag: &str, files: &[PathBuf]) -> (Vec<serde_json::Value>, String, Output) {
    let db = dir.join(format!("{tag}.db"));
    let log = dir.join(format!("{tag}.jsonl"));
    let out = bin()
        .args(["replay", "--no-progress", "--watch", NAME, "--watch"])
        .arg(ADDR.to_string())
        .arg("--db")
        .arg(&db)
        .arg("--alerts")
        .arg(&log)
        .args(files)
        .output()
        .expect("run dnswatch");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let l = bin()
        .args(["lookups", "--format", "json", "--db"])
        .arg(&db)
        .output()
        .expect("run dnswatch");
    assert!(l.status.success(), "{}", text(&l.stderr));
    let lookups = text(&l.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("lookup json"))
        .collect();
    (
        lookups,
        std::fs::read_to_string(&log).unwrap_or_default(),
        out,
    )
}

/// Asserts two lists of lookups are equal, showing the first difference.
fn same(a: &[serde_json::Value], b: &[serde_json::Value], what: &str) {
    if let Some(i) = (0..a.len().min(b.len())).find(|&i| a[i] != b[i]) {
        panic!("{what}: lookup {i} differs:\n{}\n{}", a[i], b[i]);
    }
    assert_eq!(a.len(), b.len(), "{what}: number of lookups");
}

fn without_source(rows: &[serde_json::Value]) -> Vec<serde_json::Value> {
    rows.iter()
        .map(|r| {
            let mut r = r.clone();
            if let Some(o) = r.as_object_mut() {
                o.remove("source");
            }
            r
        })
        .collect()
}

#[test]
fn interleaved_parts_give_the_same_lookups_and_alerts_in_any_order() {
    let dir = tempfile::tempdir().unwrap();
    let whole = scenario_pcap();
    // Three parts, records dealt out in a pattern that splits most queries
    // from their responses and makes all three files span the whole month.
    let parts = split(&whole, 3, |i| (i * 7 + i / 5) % 3);
    let names = ["a.pcap", "b.pcap", "c.pcap"];
    let paths: Vec<PathBuf> = names.iter().map(|n| dir.path().join(n)).collect();
    for (p, bytes) in paths.iter().zip(&parts) {
        std::fs::write(p, bytes).unwrap();
    }
    let whole_path = dir.path().join("whole.pcap");
    std::fs::write(&whole_path, &whole).unwrap();

    let (l0, a0, _) = replay(dir.path(), "whole", std::slice::from_ref(&whole_path));
    let orders: [[usize; 3]; 3] = [[0, 1, 2], [2, 1, 0], [1, 2, 0]];
    let mut runs = Vec::new();
    for (k, order) in orders.iter().enumerate() {
        let files: Vec<PathBuf> = order.iter().map(|&i| paths[i].clone()).collect();
        runs.push(replay(dir.path(), &format!("order{k}"), &files));
    }
    let (l1, a1, out1) = &runs[0];
    assert!(
        l1.len() > 500,
        "the scenario has lookups ({} recorded)",
        l1.len()
    );
    assert!(a1.lines().count() >= 3, "the scenario raises alerts:\n{a1}");
    for (k, (l, a, _)) in runs.iter().enumerate().skip(1) {
        same(l, l1, &format!("lookups of order {:?}", orders[k]));
        assert_eq!(a, a1, "alerts of order {:?} differ", orders[k]);
    }
    // Merged by time, the parts are the whole capture again (only the
    // provenance of each lookup differs: its file and packet number).
    same(
        &without_source(l1),
        &without_source(&l0),
        "lookups of the parts and of the whole capture",
    );
    assert_eq!(a1, &a0, "alerts of the parts and of the whole capture");
    // Every query was paired with its response, wherever it was.
    let answered = l1.iter().filter(|r| r["answered"] == true).count();
    let answered0 = l0.iter().filter(|r| r["answered"] == true).count();
    assert_eq!(answered, answered0);

    // The overlap is reported, with both file names and the interval.
    let summary = text(&out1.stdout);
    let overlaps: Vec<&str> = summary
        .lines()
        .filter(|l| l.starts_with("overlap"))
        .collect();
    assert_eq!(overlaps.len(), 3, "{summary}");
    assert!(
        overlaps[0].contains("a.pcap")
            && overlaps[0].contains("overlap in time from 20")
            && overlaps[0].contains(" to 20"),
        "{summary}"
    );
    assert!(text(&out1.stderr).contains("overlap in time"));
}

#[test]
fn files_that_follow_each_other_are_not_an_overlap_and_order_does_not_matter() {
    let dir = tempfile::tempdir().unwrap();
    let whole = scenario_pcap();
    // First half and second half of the records.
    let n = std::cell::Cell::new(0usize);
    let _ = split(&whole, 1, |i| {
        n.set(i + 1);
        0
    });
    let half = n.get() / 2;
    assert!(half > 300, "scenario large enough to split");
    let parts = split(&whole, 2, |i| usize::from(i >= half));
    let early = dir.path().join("early.pcap");
    let late = dir.path().join("late.pcap");
    std::fs::write(&early, &parts[0]).unwrap();
    std::fs::write(&late, &parts[1]).unwrap();
    let (l1, a1, out1) = replay(dir.path(), "fwd", &[early.clone(), late.clone()]);
    let (l2, a2, out2) = replay(dir.path(), "rev", &[late, early]);
    same(&l1, &l2, "lookups of the two orders");
    assert_eq!(a1, a2);
    for out in [&out1, &out2] {
        assert!(
            !text(&out.stdout).contains("overlap"),
            "{}",
            text(&out.stdout)
        );
    }
}

#[test]
fn bundled_captures_in_either_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("pcaps"))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
            .collect();
    files.sort();
    assert!(files.len() >= 3);
    let run = |tag: &str, files: &[PathBuf]| {
        let db = dir.path().join(format!("{tag}.db"));
        let out = bin()
            .args(["replay", "--no-progress", "--watch", ".", "--db"])
            .arg(&db)
            .args(files)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let l = bin()
            .args(["lookups", "--format", "json", "--db"])
            .arg(&db)
            .output()
            .unwrap();
        text(&l.stdout)
    };
    let fwd = run("fwd", &files);
    files.reverse();
    let rev = run("rev", &files);
    assert!(fwd.lines().count() > 20);
    assert_eq!(fwd, rev);
}
