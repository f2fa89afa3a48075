//! The ClickHouse store against real servers: `.ci/run` starts two
//! (scripts/clickhouse-server.sh) and exports `DNSWATCH_CLICKHOUSE_URL` and
//! `DNSWATCH_CLICKHOUSE_URL2` (and the first server's HTTPS port and CA as
//! `DNSWATCH_CLICKHOUSE_HTTPS_URL`, `DNSWATCH_CLICKHOUSE_CA`); without them
//! these tests fail. Each test
//! writes its own database; the tests that stop a server start their own.

#[path = "../support/mod.rs"]
mod support;

mod ddl;
mod record_all;
mod retention;
mod spool_dir;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use dnswatch::store::clickhouse::client::Client;
use dnswatch::store::clickhouse::read::{self, FleetLookup};
use dnswatch::store::clickhouse::{ClickHouseSink, Settings};
use dnswatch::store::sqlite::{LookupFilter, SqliteStore};
use dnswatch::store::{Batch, Sink};

const BIN: &str = env!("CARGO_BIN_EXE_dnswatch");

fn env_url(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: start ClickHouse with scripts/clickhouse-server.sh (as .ci/run does) and export its URL")
    })
}

fn url() -> String {
    env_url("DNSWATCH_CLICKHOUSE_URL")
}

fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("t_{name}_{}_{nanos}", std::process::id())
}

fn client(url: &str) -> Client {
    Client::new(&Settings::new(url, "x", PathBuf::new()).endpoint).unwrap()
}

fn settings(url: &str, db: &str, sensor: &str, spool: &Path) -> Settings {
    let mut s = Settings::new(url, sensor, spool.to_path_buf());
    s.database = db.into();
    s
}

fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("pcaps"))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
            .collect();
    files.sort();
    files
}

fn write_config(dir: &Path, db: &str, extra: &str) -> PathBuf {
    let p = dir.join("dnswatch.toml");
    std::fs::write(
        &p,
        format!("[storage.clickhouse]\ndatabase = \"{db}\"\n{extra}\n"),
    )
    .unwrap();
    p
}

fn replay(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .arg("replay")
        .arg("--no-progress")
        .args(args)
        .output()
        .unwrap()
}

fn sqlite_lookups(db: &Path) -> Vec<String> {
    let s = SqliteStore::open_read_only(db).unwrap();
    let mut out = Vec::new();
    s.lookups(&LookupFilter::default(), &mut |l| {
        out.push(serde_json::to_string(&l).unwrap());
        true
    })
    .unwrap();
    out.sort();
    out
}

fn fleet(url: &str, db: &str, cluster: &str, sensor: Option<&str>) -> Vec<FleetLookup> {
    let mut s = settings(url, db, "x", Path::new(""));
    s.cluster = cluster.into();
    let mut out = Vec::new();
    read::lookups(
        &client(url),
        &s,
        &LookupFilter::default(),
        sensor,
        &mut |l| {
            out.push(l);
            true
        },
    )
    .unwrap();
    out
}

fn as_json(v: &[FleetLookup]) -> Vec<String> {
    let mut out: Vec<String> = v
        .iter()
        .map(|l| serde_json::to_string(&l.lookup).unwrap())
        .collect();
    out.sort();
    out
}

fn count(url: &str, sql: &str) -> u64 {
    client(url).query(sql).unwrap().trim().parse().unwrap()
}

#[test]
fn replay_into_sqlite_and_clickhouse_gives_identical_lookups() {
    let url = url();
    let dir = tempfile::tempdir().unwrap();
    let db = unique("identical");
    let cfg = write_config(dir.path(), &db, "");
    let sqlite = dir.path().join("a.db");
    // The bundled fixtures in one replay, then every capture of the
    // real-capture corpus in a replay of its own, appending to both stores
    // (merged into one replay, the corpus's captures years apart make the
    // detectors walk every hour between them).
    let mut runs = vec![fixtures()];
    runs.extend(
        support::corpus_files(&support::corpus_dir())
            .into_iter()
            .map(|f| vec![f]),
    );
    for files in runs {
        let mut args: Vec<String> = vec![
            "--config".into(),
            cfg.display().to_string(),
            "--db".into(),
            sqlite.display().to_string(),
            "--watch".into(),
            ".".into(),
            "--clickhouse".into(),
            url.clone(),
            "--sensor".into(),
            "sensor-a".into(),
        ];
        args.extend(files.iter().map(|f| f.display().to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = replay(&args);
        assert!(
            out.status.success(),
            "{files:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let want = sqlite_lookups(&sqlite);
    assert!(want.len() > 100, "only {} lookups", want.len());
    let got = fleet(&url, &db, "", None);
    assert!(got.iter().all(|l| l.sensor == "sensor-a"));
    assert_eq!(as_json(&got), want);
    // The comparison covers the issue-14 fields (every field of the
    // record is in its JSON); make sure they are not all empty.
    let ls = || got.iter().map(|l| &l.lookup);
    assert!(ls().any(|l| l.authority.iter().any(|a| a.rtype == "RRSIG")));
    assert!(ls().any(|l| l.edns.is_some_and(|e| e.dnssec_ok)));
    assert!(ls().any(|l| l.dns_id != 0 && l.counts.ar > 0));
    assert!(ls().any(|l| l.query_size.is_some() && l.response_size.is_some()));
    assert!(ls().any(|l| l.query_size.is_none()));
    // Summaries and hourly counters arrived too, and agree with SQLite.
    let conn = rusqlite::Connection::open(&sqlite).unwrap();
    let pairs: i64 = conn
        .query_row("SELECT count(*) FROM querier_summary", [], |r| r.get(0))
        .unwrap();
    let ch_pairs = count(
        &url,
        &format!("SELECT count() FROM (SELECT entry, querier FROM {db}.querier_summary GROUP BY entry, querier)"),
    );
    assert_eq!(ch_pairs, pairs as u64);
    let packets: i64 = conn
        .query_row(
            "SELECT sum(value) FROM traffic_hourly WHERE metric = 'packets'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let ch_packets = count(
        &url,
        &format!("SELECT sum(value) FROM {db}.traffic_hourly WHERE metric = 'packets'"),
    );
    assert_eq!(ch_packets, packets as u64);
    // The spool is empty after a replay that delivered everything.
    let spool = PathBuf::from(format!("{}.clickhouse-spool", sqlite.display()));
    let left: Vec<_> = std::fs::read_dir(&spool)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".batch"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn two_sensors_into_one_server_are_both_visible() {
    let url = url();
    let dir = tempfile::tempdir().unwrap();
    let db = unique("sensors");
    let cfg = write_config(dir.path(), &db, "");
    let files = fixtures();
    let mut per_sensor = BTreeMap::new();
    for sensor in ["east", "west"] {
        let sqlite = dir.path().join(format!("{sensor}.db"));
        let mut args: Vec<String> = vec![
            "--config".into(),
            cfg.display().to_string(),
            "--db".into(),
            sqlite.display().to_string(),
            "--watch".into(),
            ".".into(),
            "--clickhouse".into(),
            url.clone(),
            "--sensor".into(),
            sensor.into(),
        ];
        args.extend(files.iter().map(|f| f.display().to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = replay(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        per_sensor.insert(sensor, sqlite_lookups(&sqlite));
    }
    let all = fleet(&url, &db, "", None);
    assert_eq!(all.len(), per_sensor.values().map(Vec::len).sum::<usize>());
    for (sensor, want) in &per_sensor {
        assert_eq!(
            &as_json(&fleet(&url, &db, "", Some(sensor))),
            want,
            "{sensor}"
        );
    }
    // The same through the command line: lookups and db stats.
    let cli = |args: &[&str]| {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let c = cfg.display().to_string();
    let east = cli(&[
        "lookups",
        "--config",
        &c,
        "--clickhouse",
        &url,
        "--sensor",
        "east",
        "--format",
        "json",
    ]);
    assert_eq!(east.lines().count(), per_sensor["east"].len());
    assert!(
        east.lines().all(|l| l.contains("\"sensor\":\"east\"")),
        "{east}"
    );
    let all = cli(&[
        "lookups",
        "--config",
        &c,
        "--clickhouse",
        &url,
        "--format",
        "csv",
    ]);
    assert_eq!(
        all.lines().count(),
        1 + per_sensor.values().map(Vec::len).sum::<usize>()
    );
    let stats = cli(&["db", "stats", "--config", &c, "--clickhouse", &url]);
    for sensor in ["east", "west"] {
        let line = stats
            .lines()
            .find(|l| l.starts_with("lookups ") && l.contains(sensor))
            .unwrap_or_else(|| panic!("{stats}"));
        let n: usize = line.split_whitespace().last().unwrap().parse().unwrap();
        assert_eq!(n, per_sensor[sensor].len(), "{stats}");
    }
}

/// A server of our own on free ports, stopped on drop.
struct OwnServer {
    dir: tempfile::TempDir,
    ports: Vec<String>,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/clickhouse-server.sh")
}

impl OwnServer {
    fn start() -> Self {
        let _ = url(); // ClickHouse is expected here
        let out = Command::new(script())
            .args(["free-ports", "3"])
            .output()
            .unwrap();
        let ports: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .map(String::from)
            .collect();
        let s = Self {
            dir: tempfile::tempdir().unwrap(),
            ports,
        };
        s.up();
        s
    }
    fn up(&self) {
        let st = Command::new(script())
            .arg("start")
            .arg(self.dir.path().join("ch"))
            .args(&self.ports)
            .status()
            .unwrap();
        assert!(st.success());
    }
    fn down(&self) {
        let st = Command::new(script())
            .arg("stop")
            .arg(self.dir.path().join("ch"))
            .status()
            .unwrap();
        assert!(st.success());
    }
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.ports[0])
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("stop")
            .arg(self.dir.path().join("ch"))
            .status();
    }
}

fn batch_of(lookups: &[dnswatch::model::Lookup]) -> Batch {
    Batch {
        lookups: lookups.to_vec(),
        ..Batch::default()
    }
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn server_stopped_mid_stream_every_row_arrives_exactly_once() {
    let server = OwnServer::start();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let lookups = support::replay_lookups(
        &fixtures().iter().map(PathBuf::as_path).collect::<Vec<_>>(),
        &["."],
    );
    assert!(lookups.len() >= 40);
    let chunks: Vec<&[dnswatch::model::Lookup]> = lookups.chunks(4).collect();
    let half = chunks.len() / 2;
    let mut s = settings(&url, "fleet", "mid", &spool);
    s.flush_interval = Duration::from_millis(20);
    let mut sink = ClickHouseSink::open(s.clone()).unwrap();
    let stats = sink.stats_handle();
    for c in &chunks[..half] {
        sink.write(&batch_of(c)).unwrap();
    }
    wait_until("the first half to be sent", || {
        stats
            .stats()
            .spool_batches
            .load(std::sync::atomic::Ordering::Relaxed)
            == 0
    });
    server.down();
    // The server is away: writes still succeed at once (spooled).
    let t = Instant::now();
    for c in &chunks[half..] {
        sink.write(&batch_of(c)).unwrap();
    }
    assert!(t.elapsed() < Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        stats
            .stats()
            .failures
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    assert!(
        stats
            .stats()
            .spool_batches
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    server.up();
    sink.close().unwrap();
    let rows = count(&url, "SELECT count() FROM fleet.lookups");
    assert_eq!(rows, lookups.len() as u64);
    let distinct = count(
        &url,
        "SELECT count() FROM (SELECT DISTINCT source, ts_us, qname, qtype FROM fleet.lookups)",
    );
    let mut keys: Vec<_> = lookups
        .iter()
        .map(|l| (l.source.clone(), l.ts_us, l.qname.clone(), l.qtype.clone()))
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(distinct, keys.len() as u64);
    assert_eq!(as_json(&fleet(&url, "fleet", "", None)), {
        let mut v: Vec<String> = lookups
            .iter()
            .map(|l| serde_json::to_string(l).unwrap())
            .collect();
        v.sort();
        v
    });
}

#[test]
fn a_batch_already_on_the_server_is_not_sent_again() {
    // Simulates a crash after the server took a batch but before it left
    // the spool: the record is put back and a new sink finds it.
    let url = url();
    let db = unique("resend");
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let lookups = support::replay_lookups(
        &fixtures().iter().map(PathBuf::as_path).collect::<Vec<_>>(),
        &["."],
    );
    let mut s = settings(&url, &db, "resend", &spool);
    s.flush_interval = Duration::from_secs(3600);
    s.batch_rows = 1_000_000;
    let mut sink = ClickHouseSink::open(s.clone()).unwrap();
    sink.write(&batch_of(&lookups)).unwrap();
    let saved: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&spool)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "batch"))
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    assert_eq!(saved.len(), 1);
    sink.close().unwrap();
    drop(sink);
    let n = count(&url, &format!("SELECT count() FROM {db}.lookups"));
    assert_eq!(n, lookups.len() as u64);
    for (p, b) in &saved {
        std::fs::write(p, b).unwrap();
    }
    let mut sink = ClickHouseSink::open(s).unwrap();
    let stats = sink.stats_handle();
    sink.close().unwrap();
    assert_eq!(count(&url, &format!("SELECT count() FROM {db}.lookups")), n);
    assert!(
        stats
            .stats()
            .parts_already_present
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    assert!(!saved[0].0.exists(), "the record left the spool");
}

#[test]
fn kill_9_while_batches_are_spooled_loses_nothing() {
    let server = OwnServer::start();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "fleet", "drain_timeout_s = 600\n");
    let sqlite = dir.path().join("k.db");
    server.down();
    let mut args: Vec<String> = vec![
        "replay".into(),
        "--no-progress".into(),
        "--config".into(),
        cfg.display().to_string(),
        "--db".into(),
        sqlite.display().to_string(),
        "--watch".into(),
        ".".into(),
        "--clickhouse".into(),
        url.clone(),
        "--sensor".into(),
        "killed".into(),
    ];
    args.extend(fixtures().iter().map(|f| f.display().to_string()));
    let mut child = Command::new(BIN)
        .args(&args)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The replay finishes reading and waits for the server to come back;
    // its lookups are in SQLite and in the spool. Kill it there.
    let spool = PathBuf::from(format!("{}.clickhouse-spool", sqlite.display()));
    wait_until("the lookups to be committed and spooled", || {
        let spooled = std::fs::read_dir(&spool).is_ok_and(|d| {
            d.filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().ends_with(".batch"))
        });
        spooled
            && SqliteStore::open_read_only(&sqlite).is_ok_and(|s| {
                let mut n = 0;
                s.lookups(&LookupFilter::default(), &mut |_| {
                    n += 1;
                    true
                })
                .is_ok()
                    && n > 0
            })
    });
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    server.up();
    // Any dnswatch using that spool sends what is in it.
    let sink = ClickHouseSink::open(settings(&url, "fleet", "killed", &spool)).unwrap();
    let mut sink = sink;
    sink.close().unwrap();
    let want = sqlite_lookups(&sqlite);
    assert_eq!(as_json(&fleet(&url, "fleet", "", None)), want, "{err}");
}

#[test]
fn distributed_table_returns_the_union_of_both_shards() {
    let (u1, u2) = (url(), env_url("DNSWATCH_CLICKHOUSE_URL2"));
    let db = unique("dist");
    let dir = tempfile::tempdir().unwrap();
    let lookups = support::replay_lookups(
        &fixtures().iter().map(PathBuf::as_path).collect::<Vec<_>>(),
        &["."],
    );
    let half = lookups.len() / 2;
    for (i, (u, part)) in [(&u1, &lookups[..half]), (&u2, &lookups[half..])]
        .into_iter()
        .enumerate()
    {
        let mut s = settings(
            u,
            &db,
            &format!("shard{i}"),
            &dir.path().join(format!("spool{i}")),
        );
        s.cluster = "dnswatch".into();
        let mut sink = ClickHouseSink::open(s).unwrap();
        let mut part = part.to_vec();
        for l in &mut part {
            l.sensor = format!("shard{i}");
        }
        sink.write(&batch_of(&part)).unwrap();
        sink.close().unwrap();
    }
    // Each server holds its half; the Distributed table on either, both.
    assert_eq!(
        count(&u1, &format!("SELECT count() FROM {db}.lookups")),
        half as u64
    );
    for u in [&u1, &u2] {
        let got = fleet(u, &db, "dnswatch", None);
        assert_eq!(got.len(), lookups.len());
        assert_eq!(as_json(&got), {
            let mut v: Vec<String> = lookups
                .iter()
                .enumerate()
                .map(|(j, l)| {
                    let mut l = l.clone();
                    l.sensor = format!("shard{}", usize::from(j >= half));
                    l
                })
                .collect::<Vec<_>>()
                .iter()
                .map(|l| serde_json::to_string(l).unwrap())
                .collect();
            v.sort();
            v
        });
        let sensors: std::collections::BTreeSet<_> = got.iter().map(|l| l.sensor.clone()).collect();
        assert_eq!(sensors.len(), 2);
    }
}

fn replay_err(url: &str, extra_cfg: &str, db: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), db, extra_cfg);
    let sqlite = dir.path().join("e.db");
    let fixture = fixtures()[0].display().to_string();
    let out = replay(&[
        "--config",
        &cfg.display().to_string(),
        "--db",
        &sqlite.display().to_string(),
        "--watch",
        ".",
        "--clickhouse",
        url,
        &fixture,
    ]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn wrong_url_spools_and_says_so() {
    let _ = url();
    let out = Command::new(script())
        .args(["free-ports", "1"])
        .output()
        .unwrap();
    let port = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let u = format!("http://127.0.0.1:{port}/");
    let (ok, err) = replay_err(&u, "drain_timeout_s = 1\n", "x");
    assert!(!ok);
    assert!(err.contains("stay in the spool"), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn wrong_password_is_a_clear_error() {
    let u = url();
    let (ok, err) = replay_err(
        &u,
        "user = \"dnswatch\"\npassword = \"not-the-password\"\n",
        &unique("pw"),
    );
    assert!(!ok);
    assert!(err.contains("ClickHouse at http://127.0.0.1"), "{err}");
    assert!(
        err.contains("password") || err.contains("Authentication"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_server_answering_500_is_a_clear_error() {
    let _ = url();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming().take(20) {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 65536];
            let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 13\r\nConnection: close\r\n\r\nsomething bad");
        }
    });
    let (ok, err) = replay_err(&format!("http://127.0.0.1:{port}/"), "", "x");
    assert!(!ok);
    assert!(err.contains("HTTP 500"), "{err}");
    assert!(err.contains("something bad"), "{err}");
}

#[test]
fn a_table_of_another_schema_is_refused_naming_the_column() {
    let u = url();
    let db = unique("schema");
    let c = client(&u);
    c.query(&format!("CREATE DATABASE {db}")).unwrap();
    c.query(&format!(
        "CREATE TABLE {db}.lookups (ts_us Int64, sensor String, qname UInt32) ENGINE = MergeTree ORDER BY ts_us"
    ))
    .unwrap();
    let (ok, err) = replay_err(&u, "", &db);
    assert!(!ok);
    assert!(err.contains("does not match the dnswatch schema"), "{err}");
    assert!(err.contains(&format!("{db}.lookups")), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// A database made by schema version 1 (before the lookups' header, EDNS,
/// size and authority columns) is migrated to version 2 and keeps its rows,
/// which read back with those fields empty; new rows carry them.
#[test]
fn a_version_1_database_is_migrated_and_keeps_its_rows() {
    use dnswatch::store::clickhouse::schema;
    let u = url();
    let db = unique("v1");
    let c = client(&u);
    c.query(&format!("CREATE DATABASE {db}")).unwrap();
    for t in schema::TABLES {
        c.query(&schema::create_table(t, &db, "")).unwrap();
    }
    c.query(&format!(
        "CREATE TABLE {db}.schema_version (version UInt32, applied_us Int64) ENGINE = MergeTree ORDER BY version"
    ))
    .unwrap();
    c.query(&format!("INSERT INTO {db}.schema_version VALUES (1, 0)"))
        .unwrap();
    c.query(&format!(
        "INSERT INTO {db}.lookups (ts_us, sensor, entry, also, querier, querier_port, server, server_port,
            transport, qname, qtype, qclass, opcode, flags, rcode, answer_name, answer_type, answer_ttl,
            answer_data, rtt_us, ecs, query_seen, answered, source, batch_id)
         VALUES (1000, 'old', 'example.com', [], toFixedString(unhex('00000000000000000000ffffc0000201'), 16), 5353,
            toFixedString(unhex('00000000000000000000ffffc0000235'), 16), 53, 'udp', 'www.example.com', 'A', 'IN', 0,
            'rd', NULL, [], [], [], [], NULL, NULL, 1, 0, 'old.pcap#1', 1)"
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut sink = ClickHouseSink::open(settings(&u, &db, "new", &dir.path().join("sp"))).unwrap();
    let mut fresh = dnswatch::model::Lookup {
        ts_us: 2000,
        entry: "example.com".into(),
        querier: "192.0.2.9:5353".parse().unwrap(),
        server: "192.0.2.53:53".parse().unwrap(),
        qname: "www.example.com".into(),
        dns_id: 77,
        edns: Some(dnswatch::model::Edns {
            version: 0,
            udp_size: 1232,
            dnssec_ok: true,
            z: 0,
        }),
        query_size: Some(40),
        authority: vec![dnswatch::model::Answer {
            name: "example.com".into(),
            rtype: "SOA".into(),
            ttl: 60,
            data: "a. b. 1 2 3 4 5".into(),
        }],
        source: "new.pcap#1".into(),
        sensor: "new".into(),
        ..Default::default()
    };
    fresh.counts.qd = 1;
    sink.write(&batch_of(std::slice::from_ref(&fresh))).unwrap();
    sink.close().unwrap();
    assert_eq!(
        count(&u, &format!("SELECT max(version) FROM {db}.schema_version")),
        u64::from(schema::SCHEMA_VERSION)
    );
    let got = fleet(&u, &db, "", None);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].lookup.source, "old.pcap#1");
    assert_eq!(got[0].lookup.dns_id, 0);
    assert_eq!(got[0].lookup.edns, None);
    assert!(got[0].lookup.authority.is_empty());
    assert_eq!(got[1].lookup, fresh);
}

#[test]
fn a_newer_schema_is_refused() {
    let u = url();
    let db = unique("newer");
    let dir = tempfile::tempdir().unwrap();
    let mut sink = ClickHouseSink::open(settings(&u, &db, "s", &dir.path().join("sp"))).unwrap();
    sink.close().unwrap();
    client(&u)
        .query(&format!("INSERT INTO {db}.schema_version VALUES (99, 0)"))
        .unwrap();
    let err = ClickHouseSink::open(settings(&u, &db, "s", &dir.path().join("sp2"))).unwrap_err();
    assert!(err.to_string().contains("schema version 99"), "{err}");
}

/// The rrset table (schema version 2): a database made by version 1 is
/// migrated in place, and after a replay into both stores the ClickHouse
/// rrsets, aggregated (min/max/sum), equal SQLite's.
#[test]
fn rrsets_reach_clickhouse_and_a_version_1_database_is_migrated() {
    use dnswatch::store::clickhouse::schema;
    use dnswatch::store::pdns::PdnsQuery;
    let url = url();
    let db = unique("pdns");
    let c = client(&url);
    // What version 1 made: the six tables and schema_version = 1.
    c.query(&format!("CREATE DATABASE {db}")).unwrap();
    c.query(&format!(
        "CREATE TABLE {db}.schema_version (version UInt32, applied_us Int64) ENGINE = MergeTree ORDER BY version"
    ))
    .unwrap();
    for sql in &schema::migrations(&db, "")[0] {
        c.query(sql).unwrap();
    }
    c.query(&format!("INSERT INTO {db}.schema_version VALUES (1, 0)"))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &db, "");
    let sqlite = dir.path().join("a.db");
    let mut args: Vec<String> = vec![
        "--config".into(),
        cfg.display().to_string(),
        "--db".into(),
        sqlite.display().to_string(),
        "--watch".into(),
        ".".into(),
        "--clickhouse".into(),
        url.clone(),
        "--sensor".into(),
        "sensor-p".into(),
    ];
    args.extend(fixtures().iter().map(|f| f.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = replay(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        count(
            &url,
            &format!("SELECT max(version) FROM {db}.schema_version")
        ),
        u64::from(schema::SCHEMA_VERSION)
    );
    let store = SqliteStore::open_read_only(&sqlite).unwrap();
    let mut want = Vec::new();
    store
        .pdns(
            &PdnsQuery {
                name: Some("*".into()),
                ..PdnsQuery::default()
            },
            &mut |r| {
                want.push(format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    r.sensor,
                    r.rrname,
                    r.rrtype,
                    r.rdata,
                    r.bailiwick,
                    r.time_first_us,
                    r.time_last_us,
                    r.count
                ));
                true
            },
        )
        .unwrap();
    want.sort();
    assert!(want.len() > 10, "only {} rrsets", want.len());
    let text = c
        .query(&format!(
            "SELECT sensor, rrname, rrtype, rdata, bailiwick, min(time_first), max(time_last), sum(count)
             FROM {db}.pdns_rrsets GROUP BY sensor, rrname, rrtype, rdata, bailiwick FORMAT TabSeparated"
        ))
        .unwrap();
    let mut got: Vec<String> = text.lines().map(str::to_string).collect();
    got.sort();
    assert_eq!(got, want);
}

mod fleet_detect;

#[test]
fn retention_drops_old_days_of_lookups_only() {
    let url = url();
    let db = unique("retention");
    let dir = tempfile::tempdir().unwrap();
    let day = 86_400_000_000i64;
    let base = support::replay_lookups(
        &fixtures().iter().map(PathBuf::as_path).collect::<Vec<_>>(),
        &["."],
    );
    let mut old = base[..4].to_vec();
    let mut new = base[4..8].to_vec();
    for (i, l) in old.iter_mut().enumerate() {
        l.ts_us = 10 * day + i as i64;
    }
    for (i, l) in new.iter_mut().enumerate() {
        l.ts_us = 12 * day + i as i64;
    }
    let mut sink = ClickHouseSink::open(settings(&url, &db, "r", &dir.path().join("sp"))).unwrap();
    sink.write(&batch_of(&old)).unwrap();
    sink.write(&batch_of(&new)).unwrap();
    sink.write(&Batch {
        prune_before: Some(11 * day),
        ..Batch::default()
    })
    .unwrap();
    sink.close().unwrap();
    assert_eq!(count(&url, &format!("SELECT count() FROM {db}.lookups")), 4);
    assert_eq!(
        count(&url, &format!("SELECT min(ts_us) FROM {db}.lookups")),
        12 * day as u64
    );
    assert_eq!(
        count(
            &url,
            &format!("SELECT count() FROM {db}.lookups_by_querier")
        ),
        4
    );
    // Summaries keep the old lookups' partial rows.
    assert_eq!(
        count(
            &url,
            &format!("SELECT sum(count) FROM {db}.querier_summary")
        ),
        8
    );
}

/// TLS to ClickHouse's HTTPS port: `.ci/run` gives server A an HTTPS port
/// with a throw-away CA (`DNSWATCH_CLICKHOUSE_HTTPS_URL`,
/// `DNSWATCH_CLICKHOUSE_CA`). With the CA every row arrives (as many as over
/// plain HTTP); without it the server is refused (rustls verifies), with a
/// clear error and no panic; `tls_skip_verify` accepts it.
#[test]
fn tls_with_the_servers_ca_delivers_everything_and_without_it_is_refused() {
    let https = env_url("DNSWATCH_CLICKHOUSE_HTTPS_URL");
    let ca = env_url("DNSWATCH_CLICKHOUSE_CA");
    let plain_db = unique("plain");
    let (ok, err) = replay_err(&url(), "", &plain_db);
    assert!(ok, "{err}");
    let plain = count(&url(), &format!("SELECT count() FROM {plain_db}.lookups"));
    assert!(plain > 0);

    let tls_db = unique("tls");
    let (ok, err) = replay_err(&https, &format!("tls_ca_file = \"{ca}\"\n"), &tls_db);
    assert!(ok, "{err}");
    assert_eq!(
        count(&url(), &format!("SELECT count() FROM {tls_db}.lookups")),
        plain
    );

    let (ok, err) = replay_err(&https, "drain_timeout_s = 1\n", &unique("untrusted"));
    assert!(!ok, "a server signed by an unknown CA was accepted");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert!(
        err.contains(&https.trim_end_matches('/').to_string()),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    let skip_db = unique("skip");
    let (ok, err) = replay_err(&https, "tls_skip_verify = true\n", &skip_db);
    assert!(ok, "{err}");
    assert_eq!(
        count(&url(), &format!("SELECT count() FROM {skip_db}.lookups")),
        plain
    );
}

/// Issue 14: `lookups --clickhouse` takes the same filters as the SQLite
/// reader (qtype, rcode, server and querier networks) and gives the same
/// rows; a bad filter value is exit 2 before the server is asked.
#[test]
fn fleet_lookups_take_the_same_filters_as_sqlite() {
    use std::net::Ipv4Addr;
    use support::scenario::{self, Event, HOUR_US, T0};
    let url = url();
    let dir = tempfile::tempdir().unwrap();
    let db = unique("filters");
    let cfg = write_config(dir.path(), &db, "");
    let mut ev = Vec::new();
    for i in 0..12i64 {
        let q = if i % 3 == 0 {
            Ipv4Addr::new(203, 0, 113, 9)
        } else {
            Ipv4Addr::new(198, 51, 100, (i % 4) as u8 + 1)
        };
        let mut e = Event::a(
            T0 + i * HOUR_US,
            q,
            "mail1.example.net",
            (i % 4 != 3).then_some(Ipv4Addr::new(192, 0, 2, 29)),
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
    let pcap = dir.path().join("mixed.pcap");
    scenario::write_pcap(&pcap, &ev).unwrap();
    let sqlite = dir.path().join("m.db");
    let out = replay(&[
        "--config",
        cfg.to_str().unwrap(),
        "--db",
        sqlite.to_str().unwrap(),
        "--watch",
        ".",
        "--clickhouse",
        &url,
        pcap.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = |args: &[&str]| -> Vec<String> {
        let out = Command::new(BIN)
            .arg("lookups")
            .args(args)
            .args(["--format", "csv"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(String::from)
            .collect();
        v.sort();
        v
    };
    let cfg_s = cfg.to_str().unwrap();
    for filter in [
        &["--qtype", "AAAA"][..],
        &["--rcode", "nxdomain"],
        &["--querier", "198.51.100.0/24"],
        &["--querier", "203.0.113.9"],
        &["--server", "192.0.2.54"],
        &[
            "--server",
            "192.0.2.53/32",
            "--qtype",
            "1",
            "--rcode",
            "NOERROR",
        ],
    ] {
        let mut local = vec!["--db", sqlite.to_str().unwrap()];
        local.extend_from_slice(filter);
        let mut fleet = vec!["--clickhouse", url.as_str(), "--config", cfg_s];
        fleet.extend_from_slice(filter);
        let (want, got) = (rows(&local), rows(&fleet));
        assert!(want.len() > 1 && want.len() < 13, "{filter:?}: {want:?}");
        assert_eq!(got, want, "{filter:?}");
    }
    let out = Command::new(BIN)
        .args([
            "lookups",
            "--clickhouse",
            &url,
            "--config",
            cfg_s,
            "--rcode",
            "NXDOMIAN",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rcode \"NXDOMIAN\""));
}
