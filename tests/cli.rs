//! The binary end to end: exit codes, messages, output formats.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::corpus_dir;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dnswatch"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("spawn dnswatch")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn corpus(name: &str) -> PathBuf {
    corpus_dir().join(name)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn replay_then_lookups_json_has_the_documented_keys() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("case.db");
    let pcap = corpus("tcpdump-dns_udp.pcap");
    let out = run(&["replay", "--db", s(&db), "--watch", ".", s(&pcap)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(summary.contains("lookups recorded 1"), "{summary}");
    let out = run(&["lookups", "--db", s(&db), "--format", "json"]);
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    let keys: Vec<&str> = lines[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "ts",
            "querier",
            "querier_port",
            "server",
            "server_port",
            "transport",
            "qname",
            "qtype",
            "qclass",
            "flags",
            "rcode",
            "answers",
            "rtt_us",
            "ecs",
            "query_seen",
            "answered",
            "source",
            "sensor",
            // Added for issue 14 (after every earlier key, none renamed).
            "entries",
            "dns_id",
            "opcode",
            "opcode_name",
            "flags_list",
            "qdcount",
            "ancount",
            "nscount",
            "arcount",
            "edns",
            "query_size",
            "response_size",
            "authority",
            "community_id"
        ]
    );
    assert_eq!(lines[0]["answered"], true);
    assert!(lines[0]["source"]
        .as_str()
        .unwrap()
        .ends_with("tcpdump-dns_udp.pcap#1"));

    // csv has a header and one row; table has a header and one row
    let out = run(&["lookups", "--db", s(&db), "--format", "csv"]);
    assert_eq!(text(&out.stdout).lines().count(), 2);
    assert!(text(&out.stdout).starts_with("ts,querier,"));
    // filters
    let out = run(&[
        "lookups",
        "--db",
        s(&db),
        "--format",
        "json",
        "--querier",
        "203.0.113.99",
    ]);
    assert_eq!(text(&out.stdout).lines().count(), 0);
    let out = run(&["lookups", "--db", s(&db), "--since", "not-a-time"]);
    assert_eq!(out.status.code(), Some(2));
}

/// The issue-14 fields of a real capture (Suricata's test capture: a
/// referral with DNSSEC records in the authority section and EDNS with DO),
/// in `json`, `csv` and `ecs`.
#[test]
fn lookup_record_fields_in_json_csv_and_ecs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("case.db");
    let pcap = corpus("suricata-20250129-dns-with-additionals.pcap");
    let out = run(&[
        "replay",
        "--db",
        s(&db),
        "--watch",
        ".",
        "--sensor",
        "probe-1",
        s(&pcap),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&[
        "lookups",
        "--db",
        s(&db),
        "--format",
        "json",
        "--limit",
        "1",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let l: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(l["qname"], "suricata.io");
    assert_eq!(l["dns_id"], 19118);
    assert_eq!(l["opcode"], 0);
    assert_eq!(l["opcode_name"], "QUERY");
    assert_eq!(l["flags"], "");
    assert_eq!(l["flags_list"], serde_json::json!([]));
    assert_eq!(
        (&l["qdcount"], &l["ancount"], &l["nscount"], &l["arcount"]),
        (&1.into(), &0.into(), &6.into(), &9.into())
    );
    assert_eq!(
        l["edns"],
        serde_json::json!({"version": 0, "udp_size": 1232, "do": true, "z": 0})
    );
    assert_eq!(l["query_size"], 52);
    assert_eq!(l["response_size"], 623);
    assert_eq!(l["sensor"], "probe-1");
    assert_eq!(l["entries"], serde_json::json!(["."]));
    let auth = l["authority"].as_array().unwrap();
    assert_eq!(auth.len(), 6);
    assert_eq!(auth[0]["type"], "NS");
    assert_eq!(auth[0]["data"], "a0.nic.io.");
    // DNSSEC rdata in presentation form, not base64 of the wire.
    assert_eq!(auth[4]["type"], "DS");
    assert_eq!(
        auth[4]["data"],
        "57355 8 2 95A57C3BAB7849DBCDDF7C72ADA71A88146B141110318CA5BE672057E865C3E2"
    );
    assert_eq!(auth[5]["type"], "RRSIG");
    assert!(
        auth[5]["data"]
            .as_str()
            .unwrap()
            .starts_with("DS 8 1 86400 20250211150000 20250129140000 26470 . "),
        "{}",
        auth[5]["data"]
    );
    let cid = l["community_id"].as_str().unwrap();
    assert!(cid.starts_with("1:") && cid.len() == 30, "{cid}");

    let out = run(&["lookups", "--db", s(&db), "--format", "csv", "--limit", "1"]);
    let csv = text(&out.stdout);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(header[..3], ["ts", "querier", "querier_port"]);
    assert_eq!(col("dns_id"), "19118");
    assert_eq!(col("edns_udp_size"), "1232");
    assert_eq!(col("edns_do"), "true");
    assert_eq!(col("nscount"), "6");
    assert_eq!(col("sensor"), "probe-1");
    assert_eq!(col("community_id"), cid);

    let out = run(&["lookups", "--db", s(&db), "--format", "ecs", "--limit", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let e: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(e["event"]["kind"], "event");
    assert_eq!(e["dns"]["id"], "19118");
    assert_eq!(e["dns"]["question"]["name"], "suricata.io");
    assert_eq!(e["dns"]["response_code"], "NOERROR");
    assert_eq!(e["source"]["ip"], l["querier"]);
    assert_eq!(e["destination"]["port"], 53);
    assert_eq!(e["network"]["community_id"], cid);
    assert_eq!(e["observer"]["hostname"], "probe-1");
    assert_eq!(e["@timestamp"], l["ts"]);
}

#[test]
fn second_replay_appends() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let pcap = corpus("tcpdump-dns_tcp.pcap");
    for _ in 0..2 {
        let out = run(&["replay", "--db", s(&db), "--watch", "tcpdump.org", s(&pcap)]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let out = run(&["lookups", "--db", s(&db), "--format", "json"]);
    assert_eq!(text(&out.stdout).lines().count(), 2);
}

#[test]
fn truncated_capture_keeps_what_is_readable_and_reports_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::read(corpus("dnscap-vlan11.pcap")).unwrap();
    // Cut in the middle of a record.
    let cut = src.len() * 2 / 3 + 7;
    let trunc = dir.path().join("cut.pcap");
    std::fs::write(&trunc, &src[..cut]).unwrap();
    let db = dir.path().join("t.db");
    let out = run(&["replay", "--db", s(&db), "--watch", ".", s(&trunc)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("1 damaged"), "{stdout}");
    assert!(stdout.contains("cut.pcap"), "{stdout}");
    assert!(stdout.contains("byte offset"), "{stdout}");
    assert!(stdout.contains("bytes lost"), "{stdout}");
    let out = run(&["lookups", "--db", s(&db), "--format", "json"]);
    assert!(text(&out.stdout).lines().count() > 10);
}

#[test]
fn not_a_capture_fails_before_writing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("notes.txt");
    std::fs::write(&bogus, "this is not a capture file\n".repeat(10)).unwrap();
    let good = corpus("tcpdump-dns_udp.pcap");
    let db = dir.path().join("n.db");
    let out = run(&[
        "replay",
        "--db",
        s(&db),
        "--watch",
        ".",
        s(&good),
        s(&bogus),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("notes.txt") && err.contains("not a readable pcap"),
        "{err}"
    );
    assert!(!db.exists(), "database was created");
    let out = run(&[
        "replay",
        "--db",
        s(&db),
        "--watch",
        ".",
        "/nonexistent/x.pcap",
    ]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn config_errors_name_file_line_and_key_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "[storage]\nbatch_size = 10\n[capture]\nsnaplen = 1500\nsnaplenn = 3\n",
    )
    .unwrap();
    let out = run(&["check-config", "--config", s(&cfg)]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("{}:5:", cfg.display())) && err.contains("snaplenn"),
        "{err}"
    );

    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/dnswatch.toml");
    let out = run(&["check-config", "--config", s(&shipped)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let out = run(&["replay", "--watch", "10.0.0.0/40", "x.pcap"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("10.0.0.0/40"));
    let out = run(&["replay", "x.pcap"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "nothing to watch is a usage error"
    );
    let out = run(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn newer_schema_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("new.db");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.pragma_update(None, "user_version", 999).unwrap();
    }
    let out = run(&[
        "replay",
        "--db",
        s(&db),
        "--watch",
        ".",
        s(&corpus("tcpdump-dns_udp.pcap")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("newer than this dnswatch"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn help_reads_like_a_man_page() {
    let out = run(&["replay", "--help"]);
    let h = text(&out.stdout);
    for needle in ["--watch", "--db", "truncated", "Example:", "CAPTURE"] {
        assert!(h.contains(needle), "replay --help lacks {needle}");
    }
    let out = run(&["--help"]);
    assert!(text(&out.stdout).contains("Exit status"));
}

#[test]
fn pseudonymised_queriers_are_stored_instead_of_addresses() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("k.key"), "15 22 17 8d 33 a4 cf 80 13 0a 5b 16 49 90 7d 10 d8 98 8f 83 79 79 65 27 62 57 4c 2d 2a 84 22 02".replace(' ', "")).unwrap();
    let cfg = dir.path().join("p.toml");
    std::fs::write(
        &cfg,
        "[privacy]\npseudonymize_queriers = true\nkey_file = \"k.key\"\n",
    )
    .unwrap();
    let db = dir.path().join("p.db");
    let pcap = corpus("tcpdump-dns_udp.pcap");
    let out = run(&[
        "replay",
        "--config",
        s(&cfg),
        "--db",
        s(&db),
        "--watch",
        ".",
        s(&pcap),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plain_db = dir.path().join("plain.db");
    assert!(
        run(&["replay", "--db", s(&plain_db), "--watch", ".", s(&pcap)])
            .status
            .success()
    );
    let get = |db: &Path| -> serde_json::Value {
        let out = run(&["lookups", "--db", s(db), "--format", "json"]);
        serde_json::from_str(text(&out.stdout).lines().next().unwrap()).unwrap()
    };
    let (p, c) = (get(&db), get(&plain_db));
    assert_ne!(
        p["querier"], c["querier"],
        "the address itself must not be stored"
    );
    assert_eq!(p["server"], c["server"], "only queriers are pseudonymised");
    // The same key gives the same pseudonym (state and summaries stay consistent).
    let db2 = dir.path().join("p2.db");
    assert!(run(&[
        "replay",
        "--config",
        s(&cfg),
        "--db",
        s(&db2),
        "--watch",
        ".",
        s(&pcap)
    ])
    .status
    .success());
    assert_eq!(get(&db2)["querier"], p["querier"]);
    // A missing key is a clear runtime error.
    std::fs::remove_file(dir.path().join("k.key")).unwrap();
    let out = run(&[
        "replay",
        "--config",
        s(&cfg),
        "--db",
        s(&db2),
        "--watch",
        ".",
        s(&pcap),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("k.key"));
}

/// A pcapng whose two interfaces have different link types (Ethernet and
/// raw IP), which libpcap 1.10 refuses to read as one.
fn mixed_pcapng() -> Vec<u8> {
    fn block(t: u32, mut body: Vec<u8>) -> Vec<u8> {
        while body.len() % 4 != 0 {
            body.push(0);
        }
        let len = (12 + body.len()) as u32;
        let mut b = t.to_le_bytes().to_vec();
        b.extend_from_slice(&len.to_le_bytes());
        b.extend(body);
        b.extend_from_slice(&len.to_le_bytes());
        b
    }
    fn ip_udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, dns: &[u8]) -> Vec<u8> {
        let mut udp = sport.to_be_bytes().to_vec();
        udp.extend_from_slice(&dport.to_be_bytes());
        udp.extend_from_slice(&((8 + dns.len()) as u16).to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(dns);
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&((20 + udp.len()) as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 1, 0, 0, 64, 17, 0, 0]);
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        ip.extend(udp);
        ip
    }
    let qname = b"\x04mail\x07example\x00\x00\x01\x00\x01";
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    q.extend_from_slice(qname);
    let mut r = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
    r.extend_from_slice(qname);
    r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
    let mut eth = vec![2u8; 6];
    eth.extend_from_slice(&[4u8; 6]);
    eth.extend_from_slice(&[0x08, 0x00]);
    let mut p1 = eth.clone();
    p1.extend(ip_udp([10, 0, 0, 1], [10, 0, 0, 53], 5555, 53, &q));
    let p2 = ip_udp([10, 0, 0, 53], [10, 0, 0, 1], 53, 5555, &r);
    let epb = |iface: u32, ts: u64, data: &[u8]| {
        let mut b = iface.to_le_bytes().to_vec();
        b.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        b.extend_from_slice(&(ts as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
        block(6, b)
    };
    let mut f = block(
        0x0a0d_0d0a,
        [
            0x1a2b_3c4du32.to_le_bytes().to_vec(),
            vec![1, 0, 0, 0],
            (-1i64).to_le_bytes().to_vec(),
        ]
        .concat(),
    );
    f.extend(block(
        1,
        [1u16.to_le_bytes(), 0u16.to_le_bytes()]
            .concat()
            .into_iter()
            .chain(65535u32.to_le_bytes())
            .collect(),
    ));
    f.extend(block(
        1,
        [101u16.to_le_bytes(), 0u16.to_le_bytes()]
            .concat()
            .into_iter()
            .chain(65535u32.to_le_bytes())
            .collect(),
    ));
    let t = 1_700_000_000_000_000u64;
    f.extend(epb(0, t, &p1));
    f.extend(epb(1, t + 1000, &p2));
    f.extend(epb(0, t + 2000, &p1));
    f
}

#[test]
fn pcapng_mixing_link_types_is_read_per_interface() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("mixed.pcapng");
    std::fs::write(&pcap, mixed_pcapng()).unwrap();
    let db = dir.path().join("m.db");
    let out = run(&["replay", "--db", s(&db), "--watch", ".", s(&pcap)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("0 damaged"),
        "{}",
        text(&out.stdout)
    );
    let out = run(&["lookups", "--db", s(&db), "--format", "json"]);
    let rows: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        rows[0]["answers"][0]["data"], "192.0.2.1",
        "the raw-IP interface's response paired"
    );
    assert!(rows[0]["source"].as_str().unwrap().ends_with("#1"));
    assert_eq!(rows[1]["answered"], false);
}

/// The mixed-link-type pcapng used to be split through temporary files in
/// `$TMPDIR`; with `TMPDIR` missing it was skipped silently ("packets 0",
/// exit 0). It is now read in one pass, without temporary files.
#[test]
fn mixed_pcapng_needs_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("mixed.pcapng");
    std::fs::write(&pcap, mixed_pcapng()).unwrap();
    let db = dir.path().join("m.db");
    let out = bin()
        .env("TMPDIR", dir.path().join("missing"))
        .args(["replay", "--db", s(&db), "--watch", ".", s(&pcap)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(summary.contains("packets          3"), "{summary}");
    assert!(summary.contains("lookups recorded 2"), "{summary}");
}

/// A pcapng section of an unknown major version is not damage: the file is
/// well formed, we cannot read it. The sections before it are kept, the
/// error names the file and the byte offset, and the exit status is 1.
#[test]
fn an_error_other_than_damage_fails_the_replay_with_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let first = mixed_pcapng();
    let mut f = first.clone();
    // A second section of version 2.0, then more packets.
    let mut shb = first[..28].to_vec();
    shb[12..14].copy_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&shb);
    f.extend_from_slice(&first[28..]);
    let pcap = dir.path().join("v2.pcapng");
    std::fs::write(&pcap, &f).unwrap();
    let good = corpus("tcpdump-dns_udp.pcap");
    let db = dir.path().join("v.db");
    let out = run(&["replay", "--db", s(&db), "--watch", ".", s(&pcap), s(&good)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}: cannot read the record at byte offset {}",
            pcap.display(),
            first.len()
        )) && err.contains("version 2.0"),
        "{err}"
    );
    let summary = text(&out.stdout);
    assert!(summary.contains("1 failed"), "{summary}");
    // What was read before the error, and the other file, are in the database.
    let out = run(&["lookups", "--db", s(&db), "--format", "json"]);
    assert_eq!(
        text(&out.stdout).lines().count(),
        3,
        "{}",
        text(&out.stdout)
    );
}

/// A capture path that is not UTF-8 is read like any other (it failed with
/// "A null pointer was supplied as the file name").
#[test]
fn a_path_that_is_not_utf8_works() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join(OsStr::from_bytes(b"caf\xe9-\xff.pcap"));
    std::fs::copy(corpus("tcpdump-dns_udp.pcap"), &pcap).unwrap();
    let db = dir.path().join("u.db");
    let out = bin()
        .args(["replay", "--db", s(&db), "--watch", "."])
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["lookups", "--db", s(&db), "--format", "json"]);
    let row: serde_json::Value =
        serde_json::from_str(text(&out.stdout).lines().next().expect("a lookup")).unwrap();
    assert!(
        row["source"]
            .as_str()
            .unwrap()
            .ends_with("caf\u{fffd}-\u{fffd}.pcap#1"),
        "{row}"
    );
    // A missing one says so, with the name.
    let missing = dir.path().join(OsStr::from_bytes(b"nope-\xe9.pcap"));
    let out = bin()
        .args(["replay", "--db", s(&db), "--watch", "."])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("nope-\u{fffd}.pcap") && err.contains("No such file"),
        "{err}"
    );
}

/// Damage found while streaming a large file costs no memory: the offset
/// is known as the file is read (it used to be found by reading the whole
/// file into memory again).
#[test]
fn damage_in_a_pcapng_is_reported_with_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = mixed_pcapng();
    let good_len = f.len();
    f.extend_from_slice(&mixed_pcapng()[..40]);
    let pcap = dir.path().join("cut.pcapng");
    std::fs::write(&pcap, &f).unwrap();
    let db = dir.path().join("c.db");
    let out = run(&["replay", "--db", s(&db), "--watch", ".", s(&pcap)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(
        summary.contains(&format!("damaged at byte offset {}", good_len + 28))
            && summary.contains("after 3 packets"),
        "{summary}"
    );
}

/// Under journald (`JOURNAL_STREAM` set) every line carries its syslog
/// priority (`<4>` warning, `<3>` error) and no colour codes; without it,
/// and stderr a file, no colour codes either.
#[test]
fn logs_carry_journald_priorities_and_never_colours_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = Path::new(env!("CARGO_MANIFEST_DIR")).join("pcaps/udp4.pcap");
    let err = dir.path().join("stderr");
    let replay = |db: &str, journal: bool| {
        let file = std::fs::File::create(&err).unwrap();
        let mut cmd = bin();
        cmd.env_remove("JOURNAL_STREAM").env_remove("NO_COLOR");
        if journal {
            cmd.env("JOURNAL_STREAM", "8:12345");
        }
        // The same capture twice: their times overlap, a warning.
        let st = cmd
            .args(["replay", "--db", s(&dir.path().join(db)), "--watch", "."])
            .args([s(&pcap), s(&pcap)])
            .stdout(std::process::Stdio::null())
            .stderr(file)
            .status()
            .unwrap();
        assert!(st.success());
        std::fs::read_to_string(&err).unwrap()
    };
    let log = replay("a.db", true);
    assert!(!log.contains('\x1b'), "{log:?}");
    assert!(
        log.lines()
            .any(|l| l.starts_with("<4>") && l.contains("overlap")),
        "{log}"
    );
    for l in log.lines() {
        assert!(
            l.len() > 3 && l.starts_with('<') && l.as_bytes()[2] == b'>',
            "line without a priority: {l:?}"
        );
        assert!(!l.contains(" WARN "), "level word kept: {l:?}");
    }
    let log = replay("b.db", false);
    assert!(!log.contains('\x1b'), "{log:?}");
    assert!(log.contains("WARN") && !log.contains("<4>"), "{log}");
    // Errors that end the command, too.
    let out = bin()
        .env("JOURNAL_STREAM", "8:12345")
        .args([
            "replay",
            "--db",
            s(&dir.path().join("c.db")),
            "--watch",
            ".",
        ])
        .arg(dir.path().join("missing.pcap"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let e = text(&out.stderr);
    assert!(e.starts_with("<3>dnswatch: "), "{e}");
}

/// `check-config` refuses what `run` would fail on, naming file, line and
/// key: BPF syntax, unknown interfaces, bad watch entries, ranges, types.
#[test]
fn check_config_catches_what_run_would_fail_on() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    let cases: &[(&str, &str)] = &[
        (
            "[capture]\nfilter = \"udp and and\"\n",
            "c.toml:2: capture.filter: libpcap cannot compile",
        ),
        (
            "[capture]\ninterfaces = [\"lo\", \"nosuch0\"]\n",
            "c.toml:2: capture.interfaces: no interface \"nosuch0\"",
        ),
        (
            "[watch]\nentries = [\"300.1.1.1\"]\n",
            "watch.entries[0]: invalid watch entry \"300.1.1.1\": not an IP address",
        ),
        ("[watch]\nentries = [\"-bad.example\"]\n", "not a host name"),
        ("[watch]\nentries = [\"a!b.example\"]\n", "not a host name"),
        (
            "[storage]\ncommit_interval_ms = -5\n",
            "c.toml:2:22: storage.commit_interval_ms: invalid value: integer `-5`",
        ),
        (
            "[capture]\nsnaplen = \"big\"\n",
            "c.toml:2:11: capture.snaplen: invalid type: string \"big\"",
        ),
        (
            "[capture]\ndns_ports = [53, 70000]\n",
            "capture.dns_ports: invalid value: integer `70000`",
        ),
        (
            "[capture]\nnosuch = 1\n",
            "capture.nosuch: unknown field `nosuch`",
        ),
    ];
    for (text, want) in cases {
        std::fs::write(&cfg, text).unwrap();
        let out = run(&["check-config", "--config", s(&cfg)]);
        let err = text_of(&out);
        assert_eq!(out.status.code(), Some(2), "{text}: {err}");
        assert!(err.contains(want), "{text}: want {want:?} in {err}");
    }
    for ok in [
        "[watch]\nentries = [\"bücher.example\", \"xn--bcher-kva.example\", \"_dmarc.example.com\", \"192.0.2.1\", \"2001:db8::/32\"]\n",
        "[capture]\ninterfaces = [\"lo\", \"any\"]\nfilter = \"udp port 53\"\n",
    ] {
        std::fs::write(&cfg, ok).unwrap();
        let out = run(&["check-config", "--config", s(&cfg)]);
        assert!(out.status.success(), "{ok}: {}", text_of(&out));
    }
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/dnswatch.toml");
    let out = run(&["check-config", "--config", s(&shipped)]);
    assert!(out.status.success(), "{}", text_of(&out));
}

fn text_of(out: &Output) -> String {
    text(&out.stderr)
}

/// Without cargo, `scripts/demo.sh` says what to install instead of failing
/// on a missing command.
#[cfg(unix)]
#[test]
fn demo_says_clearly_when_cargo_is_missing() {
    let bin_dir = tempfile::tempdir().unwrap();
    for tool in ["bash", "dirname", "cat"] {
        let found = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(tool))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("no {tool}"));
        std::os::unix::fs::symlink(found, bin_dir.path().join(tool)).unwrap();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/demo.sh");
    let out = Command::new(bin_dir.path().join("bash"))
        .arg(&script)
        .env_clear()
        .env("PATH", bin_dir.path())
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cargo (Rust) is not installed")
            && err.contains("Rust >= 1.85")
            && err.contains("rustup")
            && err.contains("libpcap-dev"),
        "{err}"
    );
}
