//! Replay and query ergonomics (issue 14): replay from stdin, compressed
//! captures and directories, its BPF filter; the lookup filters and their
//! errors; `alerts --until` and CSV; `db prune` of a missing database;
//! reports after a prune, hourly bins and markers.

mod support;

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::scenario::{self, Event, DAY_US, HOUR_US, T0};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dnswatch"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("spawn dnswatch")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("pcaps")
        .join(name)
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Exit 2 with a message naming every one of `needles`.
fn usage_error(out: &Output, needles: &[&str]) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in: {err}");
    }
    assert!(out.stdout.is_empty() || !text(&out.stdout).contains("lookups recorded"));
}

/// The lookups of `db` as JSON objects (without `source`, which names the
/// file they came from).
fn lookups(db: &Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["lookups", "--db", s(db), "--format", "json"];
    args.extend_from_slice(extra);
    ok(&run(&args))
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).expect("json line");
            v.as_object_mut().expect("object").remove("source");
            v
        })
        .collect()
}

fn replay(db: &Path, extra: &[&str], files: &[&str]) -> String {
    let mut args = vec!["replay", "--no-progress", "--db", s(db), "--watch", "."];
    args.extend_from_slice(extra);
    args.extend_from_slice(files);
    ok(&run(&args))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn gzip_zstd_and_stdin_replays_give_the_lookups_of_the_plain_file() {
    let dir = tempfile::tempdir().unwrap();
    let plain = fixture("udp4.pcap");
    let bytes = std::fs::read(&plain).unwrap();
    let plain_db = dir.path().join("plain.db");
    replay(&plain_db, &[], &[s(&plain)]);
    let want = lookups(&plain_db, &[]);
    assert_eq!(want.len(), 23, "udp4.pcap holds 23 lookups");

    // Named without a hint of their compression: recognised by their bytes.
    let gz = dir.path().join("capture-one");
    std::fs::write(&gz, gzip(&bytes)).unwrap();
    let zst = dir.path().join("capture-two.pcap");
    std::fs::write(&zst, zstd::encode_all(&bytes[..], 3).unwrap()).unwrap();
    for (tag, path) in [("gz", &gz), ("zst", &zst)] {
        let db = dir.path().join(format!("{tag}.db"));
        replay(&db, &[], &[s(path)]);
        assert_eq!(lookups(&db, &[]), want, "{tag}");
    }

    // Standard input, plain and compressed.
    for (tag, data) in [("stdin", bytes.clone()), ("stdin-gz", gzip(&bytes))] {
        let db = dir.path().join(format!("{tag}.db"));
        let mut child = bin()
            .args([
                "replay",
                "--no-progress",
                "--db",
                s(&db),
                "--watch",
                ".",
                "-",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&data).unwrap();
        let out = child.wait_with_output().unwrap();
        ok(&out);
        assert_eq!(lookups(&db, &[]), want, "{tag}");
        let sources = ok(&run(&["lookups", "--db", s(&db), "--format", "csv"]));
        assert!(sources.contains("(stdin)"), "{sources}");
    }
    // `-` twice is a usage error.
    let db = dir.path().join("twice.db");
    usage_error(
        &run(&["replay", "--db", s(&db), "--watch", ".", "-", "-"]),
        &["more than once"],
    );
    assert!(!db.exists(), "nothing written for a usage error");
}

#[test]
fn dnstap_is_recognised_compressed_and_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let dnstap = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/unbound-1.17.dnstap");
    let bytes = std::fs::read(&dnstap).unwrap();
    let plain_db = dir.path().join("plain.db");
    replay(&plain_db, &[], &[s(&dnstap)]);
    let want = lookups(&plain_db, &[]);
    assert!(!want.is_empty());
    let zst = dir.path().join("tap.zst");
    std::fs::write(&zst, zstd::encode_all(&bytes[..], 3).unwrap()).unwrap();
    let db = dir.path().join("zst.db");
    replay(&db, &[], &[s(&zst)]);
    assert_eq!(lookups(&db, &[]), want);
    let db = dir.path().join("stdin.db");
    let mut child = bin()
        .args([
            "replay",
            "--no-progress",
            "--db",
            s(&db),
            "--watch",
            ".",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&gzip(&bytes))
        .unwrap();
    ok(&child.wait_with_output().unwrap());
    assert_eq!(lookups(&db, &[]), want);
}

#[test]
fn directories_are_read_sorted_and_descended_only_with_recursive() {
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("caps");
    std::fs::create_dir_all(caps.join("more")).unwrap();
    std::fs::copy(fixture("udp4.pcap"), caps.join("b-udp4.pcap")).unwrap();
    std::fs::write(
        caps.join("more/tcp4.pcap.gz"),
        gzip(&std::fs::read(fixture("tcp4.pcap")).unwrap()),
    )
    .unwrap();
    std::fs::write(caps.join("a-notes.txt"), "not a capture\n").unwrap();

    let db = dir.path().join("flat.db");
    let summary = replay(&db, &[], &[s(&caps)]);
    assert!(
        summary.contains("a-notes.txt: not a pcap, pcapng or dnstap file, skipped"),
        "{summary}"
    );
    assert!(summary.contains("give --recursive"), "{summary}");
    assert!(summary.contains("files            1 "), "{summary}");
    assert_eq!(lookups(&db, &[]).len(), 23);

    let db = dir.path().join("deep.db");
    let summary = replay(&db, &["--recursive"], &[s(&caps)]);
    assert!(summary.contains("files            2 "), "{summary}");
    let got = lookups(&db, &[]);
    let tcp = got.iter().filter(|l| l["transport"] == "tcp").count();
    assert_eq!((got.len() - tcp, tcp), (23, 29), "udp4 then tcp4");

    // A directory without a single capture is a failure, not an empty run.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("readme"), "x").unwrap();
    let out = run(&[
        "replay",
        "--db",
        s(&dir.path().join("e.db")),
        "--watch",
        ".",
        s(&empty),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no capture files"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn replay_applies_bpf_and_the_config_filter_and_refuses_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let (udp, tcp) = (fixture("udp4.pcap"), fixture("tcp4.pcap"));
    let db = dir.path().join("tcp.db");
    let summary = replay(&db, &["--bpf", "tcp port 53"], &[s(&udp), s(&tcp)]);
    assert!(summary.contains("filtered out     46 packets"), "{summary}");
    let got = lookups(&db, &[]);
    assert_eq!(got.len(), 29);
    assert!(got.iter().all(|l| l["transport"] == "tcp"));

    // capture.filter of the config is honoured; --bpf wins over it.
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[capture]\nfilter = \"udp\"\n").unwrap();
    let db = dir.path().join("cfg.db");
    replay(&db, &["--config", s(&cfg)], &[s(&udp), s(&tcp)]);
    let got = lookups(&db, &[]);
    assert_eq!(got.len(), 23);
    assert!(got.iter().all(|l| l["transport"] == "udp"));
    let db = dir.path().join("wins.db");
    replay(
        &db,
        &["--config", s(&cfg), "--bpf", "tcp"],
        &[s(&udp), s(&tcp)],
    );
    assert_eq!(lookups(&db, &[]).len(), 29);

    // A filter libpcap cannot compile: exit 2 naming it, nothing written.
    let db = dir.path().join("bad.db");
    usage_error(
        &run(&[
            "replay",
            "--db",
            s(&db),
            "--watch",
            ".",
            "--bpf",
            "udp and and",
            s(&udp),
        ]),
        &["--bpf", "udp and and", "cannot compile"],
    );
    assert!(!db.exists());
    std::fs::write(&cfg, "[capture]\nfilter = \"port port\"\n").unwrap();
    usage_error(
        &run(&[
            "replay",
            "--db",
            s(&db),
            "--watch",
            ".",
            "--config",
            s(&cfg),
            s(&udp),
        ]),
        &["capture.filter", "port port"],
    );
}

const NAME: &str = "mail1.example.net";
const ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 29);

/// Lookups by two networks, A and AAAA, NOERROR and NXDOMAIN, to two servers.
fn mixed_events() -> Vec<Event> {
    let mut ev = Vec::new();
    for i in 0..12i64 {
        let querier = if i % 3 == 0 {
            Ipv4Addr::new(203, 0, 113, 9)
        } else {
            Ipv4Addr::new(198, 51, 100, (i % 4) as u8 + 1)
        };
        let mut e = Event::a(
            T0 + i * HOUR_US,
            querier,
            NAME,
            (i % 4 != 3).then_some(ADDR),
        );
        if i % 5 == 0 {
            e.qtype = scenario::QTYPE_AAAA;
            e.answers.clear();
        }
        if i % 2 == 0 {
            e.server = Ipv4Addr::new(192, 0, 2, 54);
        }
        ev.push(e);
    }
    ev
}

#[test]
fn lookup_filters_select_and_bad_values_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("mixed.pcap");
    let events = mixed_events();
    scenario::write_pcap(&pcap, &events).unwrap();
    let db = dir.path().join("m.db");
    replay(&db, &[], &[s(&pcap)]);
    let all = lookups(&db, &[]);
    assert_eq!(all.len(), 12);
    let count = |f: &dyn Fn(&Value) -> bool| all.iter().filter(|l| f(l)).count();

    let aaaa = lookups(&db, &["--qtype", "aaaa"]);
    assert_eq!(aaaa.len(), count(&|l| l["qtype"] == "AAAA"));
    assert_eq!(aaaa.len(), 3);
    assert_eq!(lookups(&db, &["--qtype", "28"]), aaaa);
    assert_eq!(lookups(&db, &["--qtype", "A"]).len(), 9);

    let nx = lookups(&db, &["--rcode", "nxdomain"]);
    assert_eq!(nx.len(), 3);
    assert!(nx.iter().all(|l| l["rcode"] == "NXDOMAIN"));
    assert_eq!(lookups(&db, &["--rcode", "3"]), nx);

    let net = lookups(&db, &["--querier", "198.51.100.0/24"]);
    assert_eq!(net.len(), 8);
    assert!(net
        .iter()
        .all(|l| l["querier"].as_str().unwrap().starts_with("198.51.100.")));
    assert_eq!(lookups(&db, &["--querier", "203.0.113.9"]).len(), 4);
    assert_eq!(lookups(&db, &["--querier", "2001:db8::/32"]).len(), 0);

    let srv = lookups(&db, &["--server", "192.0.2.54/32"]);
    assert_eq!(srv.len(), 6);
    assert!(srv.iter().all(|l| l["server"] == "192.0.2.54"));
    assert_eq!(lookups(&db, &["--server", "192.0.2.0/24"]).len(), 12);
    // Filters combine.
    assert_eq!(
        lookups(
            &db,
            &[
                "--server",
                "192.0.2.53",
                "--qtype",
                "A",
                "--rcode",
                "NOERROR"
            ]
        )
        .len(),
        count(&|l| l["server"] == "192.0.2.53" && l["qtype"] == "A" && l["rcode"] == "NOERROR")
    );

    for (opt, value) in [
        ("--qtype", "AAAAA"),
        ("--qtype", "70000"),
        ("--rcode", "NXDOMIAN"),
        ("--rcode", "4096"),
        ("--querier", "300.1.1.1"),
        ("--querier", "10.0.0.0/33"),
        ("--server", "ns1.example"),
    ] {
        usage_error(
            &run(&["lookups", "--db", s(&db), opt, value]),
            &[opt, &format!("{value:?}")],
        );
    }
}

/// The 2016 shape: steady lookups, the name goes NXDOMAIN, a new name for
/// the address (rcode_change and new_name alerts).
fn flip_events() -> Vec<Event> {
    let q = Ipv4Addr::new(217, 12, 96, 15);
    let mut ev = scenario::steady(
        4,
        12,
        20.0,
        &[q, Ipv4Addr::new(217, 12, 96, 16)],
        NAME,
        ADDR,
    );
    for i in 0..5 {
        ev.push(Event::a(T0 + 12 * DAY_US + i * HOUR_US, q, NAME, None));
    }
    ev.push(Event::a(
        T0 + 16 * DAY_US,
        q,
        "new, \"quoted\".example.org",
        Some(ADDR),
    ));
    ev.sort_by_key(|e| e.ts_us);
    ev
}

/// Splits RFC 4180 CSV text into records of fields.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let (mut field, mut record) = (String::new(), Vec::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        !quoted && field.is_empty() && record.is_empty(),
        "unterminated CSV"
    );
    records
}

#[test]
fn alerts_until_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("flip.pcap");
    scenario::write_pcap(&pcap, &flip_events()).unwrap();
    let db = dir.path().join("f.db");
    let mut args = vec!["replay", "--no-progress", "--db", s(&db)];
    args.extend(["--watch", NAME, "--watch", "192.0.2.29", s(&pcap)]);
    ok(&run(&args));
    let json: Vec<Value> = ok(&run(&["alerts", "--db", s(&db), "--format", "json"]))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = json.iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert!(
        kinds.contains(&"rcode_change") && kinds.contains(&"new_name"),
        "{kinds:?}"
    );

    let csv = parse_csv(&ok(&run(&["alerts", "--db", s(&db), "--format", "csv"])));
    assert_eq!(
        csv[0],
        ["ts", "severity", "kind", "entry", "name", "querier", "message"]
    );
    assert_eq!(csv.len() - 1, json.len());
    for (row, a) in csv[1..].iter().zip(&json) {
        assert_eq!(row.len(), 7, "{row:?}");
        assert_eq!(row[2], a["kind"].as_str().unwrap());
        assert_eq!(row[4], a["name"].as_str().unwrap());
        assert_eq!(row[6], a["message"].as_str().unwrap());
    }
    let new_name = csv.iter().find(|r| r[2] == "new_name").unwrap();
    // A name with a comma and quotes (the space in presentation format,
    // `\032`) survives the quoting.
    assert_eq!(new_name[4], "new,\\032\"quoted\".example.org");

    // --until: alerts before it only (the new name on day 16 is after).
    let until = "2016-05-18";
    let before: Vec<Value> = ok(&run(&[
        "alerts",
        "--db",
        s(&db),
        "--format",
        "json",
        "--until",
        until,
    ]))
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    let cut = dnswatch::time::parse(until).unwrap();
    let want: Vec<&Value> = json
        .iter()
        .filter(|a| dnswatch::time::parse(a["ts"].as_str().unwrap()).unwrap() < cut)
        .collect();
    assert!(!want.is_empty() && want.len() < json.len(), "{json:?}");
    assert_eq!(before.iter().collect::<Vec<_>>(), want);
    usage_error(
        &run(&["alerts", "--db", s(&db), "--until", "yesterday-ish"]),
        &["--until", "yesterday-ish"],
    );
}

#[test]
fn pruning_a_missing_database_is_an_error_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("typo.db");
    usage_error(
        &run(&["db", "prune", "--db", s(&db), "--older-than-days", "30"]),
        &[s(&db), "no such database"],
    );
    assert!(!db.exists(), "a prune must not create a database");
    usage_error(
        &run(&[
            "db",
            "prune",
            "--db",
            s(dir.path()),
            "--older-than-days",
            "30",
        ]),
        &["not a database file"],
    );
}

#[test]
fn a_report_over_pruned_time_says_what_was_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("flip.pcap");
    scenario::write_pcap(&pcap, &flip_events()).unwrap();
    let db = dir.path().join("p.db");
    ok(&run(&[
        "replay",
        "--no-progress",
        "--db",
        s(&db),
        "--watch",
        NAME,
        s(&pcap),
    ]));
    let before = ok(&run(&["report", NAME, "--db", s(&db)]));
    assert!(!before.contains("pruned"), "{before}");
    let out = ok(&run(&[
        "db",
        "prune",
        "--db",
        s(&db),
        "--older-than-days",
        "1",
    ]));
    assert!(out.starts_with("deleted 2"), "{out}");
    let after = ok(&run(&["report", NAME, "--db", s(&db)]));
    assert!(
        after.contains("were pruned") && after.contains("lookups deleted by pruning"),
        "{after}"
    );
    assert!(
        !after.contains("No lookups of mail1.example.net in the database"),
        "{after}"
    );
    let json: Value = serde_json::from_str(&ok(&run(&[
        "report",
        NAME,
        "--db",
        s(&db),
        "--format",
        "json",
    ])))
    .unwrap();
    let n = json["pruned"]["lookups"].as_u64().unwrap();
    assert!(n > 200, "{json}");
    // A range entirely after the pruned time is simply empty.
    let later = ok(&run(&[
        "report",
        NAME,
        "--db",
        s(&db),
        "--from",
        "2100-01-01",
    ]));
    assert!(!later.contains("pruned"), "{later}");
}

#[test]
fn short_spans_are_charted_per_hour_with_nxdomain_flips_marked() {
    let dir = tempfile::tempdir().unwrap();
    let q = Ipv4Addr::new(198, 51, 100, 7);
    let mut ev: Vec<Event> = (0..30)
        .map(|i| Event::a(T0 + i * HOUR_US, q, NAME, Some(ADDR)))
        .collect();
    ev.push(Event::a(T0 + 30 * HOUR_US + 60_000_000, q, NAME, None));
    let pcap = dir.path().join("short.pcap");
    scenario::write_pcap(&pcap, &ev).unwrap();
    let db = dir.path().join("s.db");
    ok(&run(&[
        "replay",
        "--no-progress",
        "--db",
        s(&db),
        "--watch",
        NAME,
        s(&pcap),
    ]));
    let svg = dir.path().join("s.svg");
    let report = ok(&run(&["report", NAME, "--db", s(&db), "--svg", s(&svg)]));
    assert!(report.contains("Lookups per hour (UTC)"), "{report}");
    assert!(!report.contains("Lookups per day"), "{report}");
    let flip_row = report
        .lines()
        .find(|l| l.contains("2016-05-05 06:00"))
        .unwrap_or_else(|| panic!("{report}"));
    assert!(flip_row.contains("NOERROR -> NXDOMAIN"), "{flip_row}");
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(chart.contains("per hour (UTC)"), "hourly title");
    assert_eq!(chart.matches("class=\"marker-nxdomain-flip\"").count(), 1);
    let json: Value = serde_json::from_str(&ok(&run(&[
        "report",
        NAME,
        "--db",
        s(&db),
        "--format",
        "json",
    ])))
    .unwrap();
    assert_eq!(json["bin"], "hour");
    assert_eq!(json["per_hour"].as_array().unwrap().len(), 31);
    assert_eq!(json["markers"][0]["kind"], "nxdomain_flip");

    // Two weeks: per day, and the new name of the address marked.
    let pcap = dir.path().join("long.pcap");
    scenario::write_pcap(&pcap, &flip_events()).unwrap();
    let db = dir.path().join("l.db");
    ok(&run(&[
        "replay",
        "--no-progress",
        "--db",
        s(&db),
        "--watch",
        NAME,
        "--watch",
        "192.0.2.29",
        s(&pcap),
    ]));
    let report = ok(&run(&[
        "report",
        "192.0.2.29",
        "--db",
        s(&db),
        "--svg",
        s(&svg),
    ]));
    assert!(report.contains("Lookups per day (UTC"), "{report}");
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(chart.contains("per day (UTC)"));
    assert_eq!(
        chart.matches("class=\"marker-new-name\"").count(),
        1,
        "{chart}"
    );
}

#[test]
fn a_cut_compressed_capture_is_damage_and_keeps_what_was_read() {
    let dir = tempfile::tempdir().unwrap();
    let gz = gzip(&std::fs::read(fixture("tcp4.pcap")).unwrap());
    let cut = dir.path().join("cut.pcap.gz");
    std::fs::write(&cut, &gz[..gz.len() / 2]).unwrap();
    let db = dir.path().join("cut.db");
    let summary = replay(&db, &[], &[s(&cut)]);
    assert!(
        summary.contains("files            1 (1 damaged)"),
        "{summary}"
    );
    assert!(summary.contains("compressed stream cut short"), "{summary}");
    let got = lookups(&db, &[]);
    assert!(!got.is_empty() && got.len() < 29, "{}", got.len());
}
