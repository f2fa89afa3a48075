//! Where `replay --no-db` spools (issue 12: not in the current directory).

use std::process::Command;

use super::{count, fixtures, unique, url, write_config, BIN};

/// Without a database, a spool directory or a `--db`, the spool goes to the
/// per-user state directory (named in the log), not the current one.
#[test]
fn replay_without_a_database_spools_in_the_state_directory() {
    let url = url();
    let dir = tempfile::tempdir().unwrap();
    let db = unique("nodb_spool");
    let cfg = write_config(dir.path(), &db, "");
    let cwd = dir.path().join("cwd");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&cwd).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    let out = Command::new(BIN)
        .current_dir(&cwd)
        .env("HOME", &home)
        .env_remove("XDG_STATE_HOME")
        .args(["replay", "--no-progress", "--no-db", "--watch", "."])
        .arg("--config")
        .arg(&cfg)
        .args(["--clickhouse", &url])
        .args(fixtures())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let spool = home.join(".local/state/dnswatch/clickhouse-spool");
    assert!(spool.is_dir(), "{err}");
    assert!(err.contains(&spool.display().to_string()), "{err}");
    let left: Vec<_> = std::fs::read_dir(&cwd).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(count(&url, &format!("SELECT count() FROM {db}.lookups")) > 0);
}
