//! Faults: kill -9 mid-replay, a full disk, a locked database, a missing or
//! read-only state directory. Needs root for the tmpfs mounts (`.ci/run`).

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::scenario;

const NAME: &str = "mail1.trump-email.com";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dnswatch"))
}

fn must_be_root() {
    let uid = Command::new("id").arg("-u").output().expect("id");
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "fault tests need root (tmpfs mounts): run .ci/run"
    );
}

/// A capture with about `n_days * per_day` watched lookups (a Poisson
/// process); returns its path and the exact number of lookups.
fn busy_capture(dir: &Path, n_days: i64, per_day: f64) -> (std::path::PathBuf, i64) {
    let q: Vec<std::net::Ipv4Addr> = (1..=20)
        .map(|i| std::net::Ipv4Addr::new(10, 0, 0, i))
        .collect();
    let ev = scenario::steady(
        9,
        n_days,
        per_day,
        &q,
        NAME,
        std::net::Ipv4Addr::new(66, 216, 133, 29),
    );
    let path = dir.join("busy.pcap");
    scenario::write_pcap(&path, &ev).unwrap();
    (path, ev.len() as i64)
}

fn integrity(db: &Path) -> (String, i64) {
    let c = rusqlite::Connection::open(db).unwrap();
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    let n: i64 = c
        .query_row("SELECT count(*) FROM lookups", [], |r| r.get(0))
        .unwrap();
    (ok, n)
}

struct Mount(std::path::PathBuf);

impl Mount {
    fn tmpfs(at: &Path, opts: &str) -> Self {
        std::fs::create_dir_all(at).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
            .arg(at)
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs");
        Self(at.to_path_buf())
    }
    fn remount(&self, opts: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(st.success());
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn kill_9_mid_replay_leaves_a_sound_database_that_later_runs_append_to() {
    let dir = tempfile::tempdir().unwrap();
    let (pcap, total) = busy_capture(dir.path(), 50, 2000.0);
    let db = dir.path().join("k.db");
    let mut child = bin()
        .args(["replay", "--no-progress", "--watch", NAME, "--db"])
        .arg(&db)
        .arg(&pcap)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill once the first commits are on disk, well before the end.
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(30) {
        let committed =
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .and_then(|c| {
                    c.query_row("SELECT count(*) FROM lookups", [], |r| r.get::<_, i64>(0))
                })
                .unwrap_or(0);
        if committed > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    let st = child.wait().unwrap();
    assert!(
        !st.success(),
        "the replay finished before it could be killed"
    );
    let (ok, before) = integrity(&db);
    assert_eq!(ok, "ok");
    assert!(before > 0 && before < total, "{before} rows after the kill");
    // A later run appends.
    let out = bin()
        .args(["replay", "--no-progress", "--watch", NAME, "--db"])
        .arg(&db)
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, after) = integrity(&db);
    assert_eq!(ok, "ok");
    assert_eq!(after, before + total);
}

#[test]
fn full_disk_is_a_clear_error_and_the_database_stays_sound() {
    must_be_root();
    let dir = tempfile::tempdir().unwrap();
    let (pcap, total) = busy_capture(dir.path(), 20, 2000.0);
    let mnt = Mount::tmpfs(&dir.path().join("small"), "size=1m");
    let db = mnt.0.join("full.db");
    let out = bin()
        .args(["replay", "--no-progress", "--watch", NAME, "--db"])
        .arg(&db)
        .arg(&pcap)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("full"), "{err}");
    let (ok, n) = integrity(&db);
    assert_eq!(ok, "ok");
    // Space comes back: the same database takes the rest.
    mnt.remount("size=64m");
    let out = bin()
        .args(["replay", "--no-progress", "--watch", NAME, "--db"])
        .arg(&db)
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, m) = integrity(&db);
    assert_eq!(ok, "ok");
    assert_eq!(m, n + total);
}

#[test]
fn store_writer_recovers_when_space_returns() {
    use dnswatch::app::writer::Writer;
    use dnswatch::store::{sqlite::SqliteStore, Batch};
    must_be_root();
    let dir = tempfile::tempdir().unwrap();
    let mnt = Mount::tmpfs(&dir.path().join("w"), "size=1m");
    let store = SqliteStore::open(&mnt.0.join("w.db")).unwrap();
    let writer = Writer::spawn(Box::new(store), true);
    let (pcap, total) = busy_capture(dir.path(), 2, 2000.0);
    let lookups = support::replay_lookups(&[pcap.as_path()], &[NAME]);
    assert_eq!(lookups.len() as i64, total);
    for _ in 0..10 {
        writer
            .send(Batch {
                lookups: lookups.clone(),
                ..Batch::default()
            })
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    let failed = writer.stats().failed;
    assert!(failed > 0, "the disk never filled");
    mnt.remount("size=64m");
    for _ in 0..3 {
        writer
            .send(Batch {
                lookups: lookups.clone(),
                ..Batch::default()
            })
            .unwrap();
    }
    let stats = writer.finish().unwrap();
    assert!(stats.failed == failed, "{stats:?}");
    let (ok, n) = integrity(&mnt.0.join("w.db"));
    assert_eq!(ok, "ok");
    assert_eq!(
        n as u64,
        total as u64 * stats.commits,
        "every committed batch is whole"
    );
    assert!(stats.commits >= 3);
}

#[test]
fn a_locked_database_is_retried_then_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("locked.db");
    let (pcap, _) = busy_capture(dir.path(), 1, 100.0);
    // Create it, then hold an exclusive lock from "another process".
    let out = bin()
        .args(["replay", "--no-progress", "--watch", NAME, "--db"])
        .arg(&db)
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(out.status.success());
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let t = Instant::now();
    let out = bin()
        .args(["replay", "--no-progress", "--watch", NAME, "--db"])
        .arg(&db)
        .arg(&pcap)
        .output()
        .unwrap();
    let waited = t.elapsed();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("locked"), "{err}");
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(30),
        "{waited:?}"
    );
    c.execute_batch("ROLLBACK").unwrap();
}

#[test]
fn missing_or_read_only_state_directory_fails_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (pcap, _) = busy_capture(dir.path(), 1, 10.0);
    let out = bin()
        .args([
            "replay",
            "--no-progress",
            "--watch",
            NAME,
            "--db",
            "/nonexistent/state/dnswatch.db",
        ])
        .arg(&pcap)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot open database /nonexistent/state/dnswatch.db"),
        "{err}"
    );

    must_be_root();
    let ro = Mount::tmpfs(&dir.path().join("ro"), "size=1m,ro");
    let out = bin()
        .args(["replay", "--no-progress", "--watch", NAME, "--db"])
        .arg(ro.0.join("x.db"))
        .arg(&pcap)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("x.db"));
}
