//! The passive-DNS rrset store end to end, through the binary: `replay`
//! fills it, `dnswatch pdns` reads it.
//!
//! * On the real-capture corpus (`$DNSWATCH_CORPUS`), replayed with
//!   `storage.pdns = "all"` and `--watch .`, every rrset equals a reference
//!   computed here, independently, from `dnswatch lookups --format json`:
//!   each (rrname, rrtype, rdata) of an answered lookup's answer section,
//!   with the first and last lookup time and the number of lookups.
//! * Every JSON line is a valid Passive DNS Common Output Format object
//!   (draft-dulaunoy-dnsop-passive-dns-cof: §3.3 mandatory fields, §3.4
//!   optional `count` and `bailiwick`, §3.5 additional `sensor_id`; field
//!   types per the draft's JSON schema, schema/schema.json of
//!   github.com/adulau/pdns-qof).
//! * `--rdata ADDRESS` finds a name that moved onto a watched address.

mod support;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use support::scenario::{write_pcap, Event, DAY_US, T0};
use support::{corpus_dir, corpus_files};

fn dnswatch(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_dnswatch"))
        .args(args)
        .output()
        .expect("run dnswatch");
    assert!(
        out.status.success(),
        "dnswatch {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// A name as COF writes it: fully qualified.
fn fqdn(name: &str) -> String {
    if name == "." || name.is_empty() {
        ".".into()
    } else {
        format!("{name}.")
    }
}

/// Checks one line against the COF draft, field by field; returns
/// (rrname, rrtype, rdata) and (time_first_ms, time_last_ms, count).
fn check_cof(v: &serde_json::Value) -> ((String, String, String), (i64, i64, u64)) {
    let o = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"));
    let known = [
        "rrname",
        "rrtype",
        "rdata",
        "time_first",
        "time_last",
        "count",
        "bailiwick",
        "sensor_id",
        "time_first_ms",
        "time_last_ms",
    ];
    for k in o.keys() {
        assert!(known.contains(&k.as_str()), "unexpected field {k} in {v}");
    }
    // §3.3: mandatory rrname, rrtype, rdata (strings), time_first and
    // time_last (numbers: Unix seconds, UTC).
    let s = |k: &str| {
        o.get(k)
            .and_then(|x| x.as_str())
            .unwrap_or_else(|| panic!("{k} missing or not a string: {v}"))
            .to_string()
    };
    let n = |k: &str| {
        o.get(k)
            .and_then(serde_json::Value::as_i64)
            .unwrap_or_else(|| panic!("{k} missing or not an integer: {v}"))
    };
    let rrname = s("rrname");
    assert!(rrname.ends_with('.'), "rrname not fully qualified: {v}");
    let rrtype = s("rrtype");
    assert!(!rrtype.is_empty(), "{v}");
    let rdata = s("rdata");
    let (first, last) = (n("time_first"), n("time_last"));
    assert!(first <= last, "{v}");
    // Additional fields of the draft's registry: the same times in ms.
    let (first_ms, last_ms) = (n("time_first_ms"), n("time_last_ms"));
    assert_eq!(first_ms.div_euclid(1000), first, "{v}");
    assert_eq!(last_ms.div_euclid(1000), last, "{v}");
    // §3.4: count, a number (responses that carried the record).
    let count = o
        .get("count")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or_else(|| panic!("count missing or not a number: {v}"));
    assert!(count >= 1, "{v}");
    // §3.4: bailiwick, a string (a zone apex), only when known.
    if let Some(b) = o.get("bailiwick") {
        let b = b.as_str().unwrap_or_else(|| panic!("bailiwick: {v}"));
        assert!(b.ends_with('.'), "{v}");
    }
    // §3.5: sensor_id, a string.
    if let Some(id) = o.get("sensor_id") {
        assert!(id.is_string(), "{v}");
    }
    ((rrname, rrtype, rdata), (first_ms, last_ms, count))
}

type Reference = BTreeMap<(String, String, String), (i64, i64, u64)>;

/// The reference: rrsets from the lookups' JSON (first/last ms, count).
fn reference(lookups: &[serde_json::Value]) -> Reference {
    let mut r: Reference = BTreeMap::new();
    for l in lookups {
        if l["answered"] != serde_json::Value::Bool(true) {
            continue;
        }
        let ts_text = l["ts"].as_str().expect("ts");
        let ts = dnswatch::time::parse(ts_text).expect("ts parses");
        assert_eq!(dnswatch::time::rfc3339(ts), ts_text);
        let ms = ts.div_euclid(1000);
        let mut seen = std::collections::BTreeSet::new();
        for a in l["answers"].as_array().expect("answers") {
            let key = (
                fqdn(a["name"].as_str().expect("name")),
                a["type"].as_str().expect("type").to_string(),
                a["data"].as_str().expect("data").to_string(),
            );
            if !seen.insert(key.clone()) {
                continue;
            }
            let e = r.entry(key).or_insert((ms, ms, 0));
            e.0 = e.0.min(ms);
            e.1 = e.1.max(ms);
            e.2 += 1;
        }
    }
    r
}

/// Our rrsets, merged over bailiwick and sensor (the lookups carry neither
/// the authority section nor a choice of zone).
fn ours(lines: &[serde_json::Value]) -> Reference {
    let mut r: Reference = BTreeMap::new();
    for v in lines {
        let (key, (f, l, c)) = check_cof(v);
        let e = r.entry(key).or_insert((f, l, 0));
        e.0 = e.0.min(f);
        e.1 = e.1.max(l);
        e.2 += c;
    }
    r
}

#[test]
fn corpus_rrsets_equal_the_reference_from_lookups() {
    let dir = corpus_dir();
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("all.toml");
    std::fs::write(&config, "[storage]\npdns = \"all\"\n").unwrap();
    let config = config.to_str().unwrap();
    let (mut files, mut rrsets, mut bailiwicks) = (0, 0, 0);
    for f in corpus_files(&dir) {
        let stem = f.file_stem().unwrap().to_string_lossy().to_string();
        let db = tmp.path().join(format!("{stem}.db"));
        let db = db.to_str().unwrap();
        dnswatch(&[
            "replay",
            "--no-progress",
            "-c",
            config,
            "--db",
            db,
            "--watch",
            ".",
            f.to_str().unwrap(),
        ]);
        if !Path::new(db).exists() {
            continue;
        }
        let lookups = json_lines(&dnswatch(&["lookups", "--db", db, "--format", "json"]));
        let lines = json_lines(&dnswatch(&["pdns", "--db", db, "*", "--format", "json"]));
        bailiwicks += lines
            .iter()
            .filter(|v| v.get("bailiwick").is_some())
            .count();
        let expected = reference(&lookups);
        let got = ours(&lines);
        assert_eq!(got, expected, "{}", f.display());
        files += 1;
        rrsets += got.len();
    }
    assert!(files > 50, "only {files} capture files replayed");
    assert!(rrsets > 500, "only {rrsets} rrsets in the corpus");
    // Some responses carry an authority section: bailiwick is filled then.
    assert!(bailiwicks > 0, "no bailiwick in the whole corpus");
}

/// `mail1.example` resolves to the watched 192.0.2.7; a day later
/// `trump1.other.example` does: `--rdata 192.0.2.7` (and the /24) list
/// both, with their times; `--since` keeps only the newcomer.
#[test]
fn rdata_finds_a_renamed_name_on_a_watched_address() {
    let tmp = tempfile::tempdir().unwrap();
    let pcap = tmp.path().join("moved.pcap");
    let addr = Ipv4Addr::new(192, 0, 2, 7);
    let q = Ipv4Addr::new(198, 51, 100, 10);
    let mut events = vec![
        Event::a(T0, q, "mail1.example", Some(addr)),
        Event::a(T0 + 3_600_000_000, q, "mail1.example", Some(addr)),
        Event::a(T0 + DAY_US, q, "trump1.other.example", Some(addr)),
        // Not watched (other address): not in the store with the default scope.
        Event::a(
            T0 + DAY_US,
            q,
            "www.unrelated.test",
            Some(Ipv4Addr::new(203, 0, 113, 9)),
        ),
    ];
    events.sort_by_key(|e| e.ts_us);
    write_pcap(&pcap, &events).unwrap();
    let db = tmp.path().join("s.db");
    let db = db.to_str().unwrap();
    dnswatch(&[
        "replay",
        "--no-progress",
        "--db",
        db,
        "--watch",
        "192.0.2.7",
        pcap.to_str().unwrap(),
    ]);
    let by_rdata = |arg: &str, extra: &[&str]| {
        let mut args = vec!["pdns", "--db", db, "--rdata", arg, "--format", "json"];
        args.extend_from_slice(extra);
        let mut rows: Vec<(String, i64, i64, u64)> = json_lines(&dnswatch(&args))
            .iter()
            .map(|v| {
                let ((name, t, data), (f, l, c)) = check_cof(v);
                assert_eq!((t.as_str(), data.as_str()), ("A", "192.0.2.7"));
                (name, f, l, c)
            })
            .collect();
        rows.sort();
        rows
    };
    let ms = |us: i64| us / 1000;
    let expected = vec![
        (
            "mail1.example.".to_string(),
            ms(T0),
            ms(T0 + 3_600_000_000),
            2,
        ),
        (
            "trump1.other.example.".to_string(),
            ms(T0 + DAY_US),
            ms(T0 + DAY_US),
            1,
        ),
    ];
    assert_eq!(by_rdata("192.0.2.7", &[]), expected);
    assert_eq!(by_rdata("192.0.2.0/24", &[]), expected);
    assert_eq!(by_rdata("203.0.113.9", &[]), Vec::new());
    let since = format!("@{}", (T0 + DAY_US) / 1_000_000);
    assert_eq!(
        by_rdata("192.0.2.7", &["--since", &since]),
        expected[1..].to_vec()
    );
    // The table form names both too.
    let table = dnswatch(&["pdns", "--db", db, "--rdata", "192.0.2.7"]);
    assert!(table.contains("mail1.example") && table.contains("trump1.other.example"));
    // A name query and the zone wildcard.
    let zone = json_lines(&dnswatch(&[
        "pdns",
        "--db",
        db,
        "*.example",
        "--format",
        "json",
    ]));
    assert_eq!(zone.len(), 2);
    // CSV: header and one row per rrset.
    let csv = dnswatch(&[
        "pdns",
        "--db",
        db,
        "trump1.other.example",
        "--format",
        "csv",
    ]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "rrname,rrtype,rdata,time_first,time_last,count,bailiwick,sensor"
    );
    assert_eq!(lines.len(), 2);
    assert!(lines[1].starts_with("trump1.other.example,A,192.0.2.7,2016-05-05T00:00:00"));
}

/// The scope: "all" keeps answers nothing watched touched, "off" nothing.
#[test]
fn scope_all_records_unwatched_answers_and_off_records_none() {
    let tmp = tempfile::tempdir().unwrap();
    let pcap = tmp.path().join("two.pcap");
    let q = Ipv4Addr::new(198, 51, 100, 10);
    write_pcap(
        &pcap,
        &[
            Event::a(T0, q, "watched.example", Some(Ipv4Addr::new(192, 0, 2, 1))),
            Event::a(
                T0 + 1000,
                q,
                "other.test",
                Some(Ipv4Addr::new(203, 0, 113, 9)),
            ),
            Event::a(T0 + 2000, q, "nothing.test", None),
        ],
    )
    .unwrap();
    let mut names = Vec::new();
    for scope in ["all", "watched", "off"] {
        let config = tmp.path().join(format!("{scope}.toml"));
        std::fs::write(&config, format!("[storage]\npdns = \"{scope}\"\n")).unwrap();
        let db = tmp.path().join(format!("{scope}.db"));
        let db = db.to_str().unwrap();
        dnswatch(&[
            "replay",
            "--no-progress",
            "-c",
            config.to_str().unwrap(),
            "--db",
            db,
            "--watch",
            "watched.example",
            pcap.to_str().unwrap(),
        ]);
        let mut got: Vec<String> =
            json_lines(&dnswatch(&["pdns", "--db", db, "*", "--format", "json"]))
                .iter()
                .map(|v| check_cof(v).0 .0)
                .collect();
        got.sort();
        names.push(got);
    }
    assert_eq!(
        names,
        vec![
            vec!["other.test.".to_string(), "watched.example.".to_string()],
            vec!["watched.example.".to_string()],
            Vec::<String>::new(),
        ]
    );
}

/// `db stats` reports the rrset table; `db prune` deletes rrsets last seen
/// before the horizon.
#[test]
fn db_stats_and_prune_cover_the_rrset_table() {
    let tmp = tempfile::tempdir().unwrap();
    let pcap = tmp.path().join("one.pcap");
    let q = Ipv4Addr::new(198, 51, 100, 10);
    write_pcap(
        &pcap,
        &[
            Event::a(T0, q, "a.example", Some(Ipv4Addr::new(192, 0, 2, 1))),
            Event::a(T0 + 1000, q, "b.example", Some(Ipv4Addr::new(192, 0, 2, 2))),
        ],
    )
    .unwrap();
    let db = tmp.path().join("s.db");
    let db = db.to_str().unwrap();
    dnswatch(&[
        "replay",
        "--no-progress",
        "--db",
        db,
        "--watch",
        "example",
        pcap.to_str().unwrap(),
    ]);
    let stats = dnswatch(&["db", "stats", "--db", db]);
    let field = |name: &str| -> i64 {
        stats
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name:?} in {stats}"))
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(field("pdns_rrsets rows"), 2);
    assert!(field("pdns_rrsets bytes") >= 4096, "{stats}");
    assert!(field("lookups bytes") >= 4096, "{stats}");
    // 2016 is more than a day ago: everything goes.
    dnswatch(&["db", "prune", "--db", db, "--older-than-days", "1"]);
    assert_eq!(dnswatch(&["pdns", "--db", db, "*", "--format", "json"]), "");
    let stats = dnswatch(&["db", "stats", "--db", db]);
    assert!(
        stats
            .lines()
            .any(|l| l.starts_with("pdns_rrsets rows") && l.trim_end().ends_with(" 0")),
        "{stats}"
    );
}

#[test]
fn a_bad_cidr_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let pcap = tmp.path().join("one.pcap");
    write_pcap(
        &pcap,
        &[Event::a(
            T0,
            Ipv4Addr::new(198, 51, 100, 10),
            "a.example",
            Some(Ipv4Addr::new(192, 0, 2, 1)),
        )],
    )
    .unwrap();
    let db = tmp.path().join("s.db");
    let db = db.to_str().unwrap();
    dnswatch(&[
        "replay",
        "--no-progress",
        "--db",
        db,
        "--watch",
        "a.example",
        pcap.to_str().unwrap(),
    ]);
    let out = Command::new(env!("CARGO_BIN_EXE_dnswatch"))
        .args(["pdns", "--db", db, "--rdata", "192.0.2.0/40"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("192.0.2.0/40"));
}
