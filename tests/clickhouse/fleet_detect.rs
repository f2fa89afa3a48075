//! Fleet detection (`dnswatch detect --clickhouse`) against a real server.

use super::*;
use std::net::Ipv4Addr;
use support::scenario::{self, T0};

const NAME: &str = "mail1.bank-watch.example";
const DECOY: &str = "mail.decoy.example";
const ADDR: Ipv4Addr = Ipv4Addr::new(66, 216, 133, 29);

fn replay_sensor(
    dir: &Path,
    cfg: &Path,
    sensor: &str,
    events: &[scenario::Event],
) -> Vec<serde_json::Value> {
    let pcap = dir.join(format!("{sensor}.pcap"));
    scenario::write_pcap(&pcap, events).unwrap();
    let log = dir.join(format!("{sensor}.jsonl"));
    let out = replay(&[
        "--config",
        &cfg.display().to_string(),
        "--db",
        &dir.join(format!("{sensor}.db")).display().to_string(),
        "--alerts",
        &log.display().to_string(),
        "--watch",
        NAME,
        "--watch",
        DECOY,
        "--clickhouse",
        &url(),
        "--sensor",
        sensor,
        &pcap.display().to_string(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn concentration_on_name(alerts: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    alerts
        .iter()
        .filter(|a| a["kind"] == "concentration" && a["entry"] == NAME)
        .collect()
}

#[test]
fn two_sensors_together_show_a_concentration_neither_shows_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = unique("fleetdetect");
    let cfg = write_config(dir.path(), &db, "");
    // East sees the name asked by resolvers of three networks, a few a
    // day, and a busy decoy name; west sees only a bank's three
    // resolvers (one /24) asking for the name, many a day.
    let spread = [
        Ipv4Addr::new(198, 51, 100, 53),
        Ipv4Addr::new(203, 0, 113, 9),
        Ipv4Addr::new(192, 0, 2, 77),
    ];
    let bank = [
        Ipv4Addr::new(217, 12, 96, 15),
        Ipv4Addr::new(217, 12, 96, 16),
        Ipv4Addr::new(217, 12, 96, 17),
    ];
    let many: Vec<Ipv4Addr> = (1..=12).map(|i| Ipv4Addr::new(100, 64, i, 53)).collect();
    let mut east = scenario::steady(1, 20, 2.0, &spread, NAME, ADDR);
    east.extend(scenario::steady(
        101,
        20,
        60.0,
        &many,
        DECOY,
        Ipv4Addr::new(192, 0, 2, 80),
    ));
    east.sort_by_key(|e| e.ts_us);
    let west = scenario::steady(2, 20, 30.0, &bank, NAME, ADDR);
    let east_alerts = replay_sensor(dir.path(), &cfg, "east", &east);
    let west_alerts = replay_sensor(dir.path(), &cfg, "west", &west);
    assert!(
        concentration_on_name(&east_alerts).is_empty(),
        "{east_alerts:?}"
    );
    assert!(
        concentration_on_name(&west_alerts).is_empty(),
        "{west_alerts:?}"
    );

    let since = format!("@{}", T0 / 1_000_000);
    let detect = || {
        let out = Command::new(BIN)
            .args([
                "detect",
                "--config",
                &cfg.display().to_string(),
                "--clickhouse",
                &url(),
                "--since",
                &since,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let first = detect();
    let fleet: Vec<serde_json::Value> = first
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let c = concentration_on_name(&fleet);
    assert_eq!(c.len(), 1, "{first}");
    assert_eq!(c[0]["scope"], "fleet");
    assert_eq!(c[0]["querier"], "217.12.96.0/24");
    // Deterministic, and stored once however often it runs.
    assert_eq!(detect(), first);
    let stored = count(
        &url(),
        &format!(
            "SELECT count() FROM {db}.alerts WHERE scope = 'fleet' AND kind = 'concentration'"
        ),
    );
    assert_eq!(stored, 1);
    // `alerts --clickhouse` lists it with its scope.
    let out = Command::new(BIN)
        .args([
            "alerts",
            "--config",
            &cfg.display().to_string(),
            "--clickhouse",
            &url(),
            "--format",
            "json",
            "--kind",
            "concentration",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8(out.stdout).unwrap();
    assert!(
        listed.lines().any(|l| l.contains("\"scope\":\"fleet\"")),
        "{listed}"
    );
    // `report --clickhouse` shows the queriers both sensors saw;
    // `--sensor` narrows it to one.
    let report = |sensor: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.args([
            "report",
            NAME,
            "--config",
            &cfg.display().to_string(),
            "--clickhouse",
            &url(),
        ]);
        if let Some(s) = sensor {
            cmd.args(["--sensor", s]);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let both = report(None);
    assert!(
        both.contains("217.12.96.15") && both.contains("198.51.100.53"),
        "{both}"
    );
    let west_only = report(Some("west"));
    assert!(
        west_only.contains("217.12.96.15") && !west_only.contains("198.51.100.53"),
        "{west_only}"
    );
}
