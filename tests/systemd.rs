//! The shipped systemd unit passes `systemd-analyze verify` and keeps a low
//! exposure score in `systemd-analyze security --offline`.

use std::process::Command;

fn unit_with_test_binary(dir: &std::path::Path) -> std::path::PathBuf {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/dnswatch.service"
    ))
    .unwrap();
    let unit = unit.replace("/usr/bin/dnswatch", env!("CARGO_BIN_EXE_dnswatch"));
    let path = dir.join("dnswatch.service");
    std::fs::write(&path, unit).unwrap();
    path
}

#[test]
fn unit_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_with_test_binary(dir.path());
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !err.contains("dnswatch.service:"),
        "{err}"
    );
}

#[test]
fn unit_exposure_stays_low() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_with_test_binary(dir.path());
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze");
    let text = String::from_utf8_lossy(&out.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| l.split("exposure level for dnswatch.service:").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no score in:\n{text}"));
    assert!(score <= 2.5, "exposure {score}:\n{text}");
    // The one capability it needs, and nothing like PrivateNetwork that breaks capture.
    let unit = std::fs::read_to_string(&unit).unwrap();
    assert!(unit.contains("CapabilityBoundingSet=CAP_NET_RAW\n"));
    assert!(!unit.contains("PrivateNetwork=yes"));
    assert!(unit.contains("AF_PACKET"));
}
