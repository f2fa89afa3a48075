//! Detector scenarios: captures in real packet format from the generator in
//! `support/scenario.rs`, replayed through the binary; the alert log is
//! what is checked.

mod support;

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::scenario::{self, Event, DAY_US, HOUR_US, T0};

const NAME: &str = "mail1.trump-email.com";
const ADDR: Ipv4Addr = Ipv4Addr::new(66, 216, 133, 29);

fn q(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(217, 12, 96, i)
}

/// Replays `events` watching `watch`; returns the alerts (parsed) and the raw log.
fn alerts_for(dir: &Path, tag: &str, events: &[Event], watch: &[&str]) -> (Vec<Value>, String) {
    let pcap = dir.join(format!("{tag}.pcap"));
    scenario::write_pcap(&pcap, events).expect("write pcap");
    let db = dir.join(format!("{tag}.db"));
    let log = dir.join(format!("{tag}.jsonl"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dnswatch"));
    cmd.args(["replay", "--no-progress", "--db"])
        .arg(&db)
        .arg("--alerts")
        .arg(&log);
    for w in watch {
        cmd.args(["--watch", w]);
    }
    let out = cmd.arg(&pcap).output().expect("run dnswatch");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let alerts = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("alert json"))
        .collect();
    (alerts, text)
}

fn kinds(alerts: &[Value]) -> Vec<String> {
    alerts
        .iter()
        .map(|a| a["kind"].as_str().unwrap_or("").to_string())
        .collect()
}

fn of_kind<'a>(alerts: &'a [Value], kind: &str) -> Vec<&'a Value> {
    alerts.iter().filter(|a| a["kind"] == kind).collect()
}

#[test]
fn steady_traffic_raises_nothing_over_many_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let mut all = Vec::new();
    for seed in 0..12u64 {
        let ev = scenario::steady(seed, 30, 20.0, &[q(15), q(16), q(17)], NAME, ADDR);
        let (alerts, _) = alerts_for(dir.path(), &format!("steady{seed}"), &ev, &[NAME]);
        all.extend(alerts);
    }
    assert!(
        all.is_empty(),
        "false positives on steady traffic: {:?}",
        kinds(&all)
    );
}

#[test]
fn a_spike_is_a_burst_with_its_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let base = scenario::steady(1, 30, 20.0, &[q(15), q(16), q(17)], NAME, ADDR);
    let ev = scenario::with_spike(base, 20, 14, 40, q(15), NAME, ADDR);
    let (alerts, _) = alerts_for(dir.path(), "spike", &ev, &[NAME]);
    let bursts = of_kind(&alerts, "burst");
    assert!(!bursts.is_empty(), "{:?}", kinds(&alerts));
    let spike_hour = T0 + 20 * DAY_US + 14 * HOUR_US;
    let hourly = bursts
        .iter()
        .find(|a| a["window"] == "1h" && a["querier"].is_null())
        .expect("entry-level hourly burst");
    assert_eq!(hourly["ts"], dnswatch::time::rfc3339(spike_hour));
    let ev = &hourly["evidence"];
    assert!(ev["observed"].as_u64().unwrap() >= 40);
    assert!(ev["expected"].as_f64().unwrap() < 3.0);
    assert!(ev["p_value"].as_f64().unwrap() < 1e-6);
    // the pair (entry, querier) series bursts too
    assert!(bursts.iter().any(|a| a["querier"] == q(15).to_string()));
    // nothing but bursts (and the daily one) in an otherwise steady month
    assert!(
        alerts.iter().all(|a| a["kind"] == "burst"),
        "{:?}",
        kinds(&alerts)
    );
}

#[test]
fn a_silence_is_quiet_then_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let base = scenario::steady(2, 30, 40.0, &[q(15), q(16)], NAME, ADDR);
    let ev = scenario::with_silence(base, 20.0, 23.0);
    let (alerts, _) = alerts_for(dir.path(), "silence", &ev, &[NAME]);
    let quiet = of_kind(&alerts, "quiet");
    let resumed = of_kind(&alerts, "resumed");
    assert_eq!(quiet.len(), 1, "{:?}", kinds(&alerts));
    assert_eq!(resumed.len(), 1, "{:?}", kinds(&alerts));
    let qts = dnswatch::time::parse(quiet[0]["ts"].as_str().unwrap()).unwrap();
    assert!(
        qts > T0 + 20 * DAY_US && qts <= T0 + 22 * DAY_US,
        "quiet at {}",
        quiet[0]["ts"]
    );
    // Raised as soon as the window is improbably thin, before it is empty.
    let observed = quiet[0]["evidence"]["observed"].as_f64().unwrap();
    let expected = quiet[0]["evidence"]["expected"].as_f64().unwrap();
    assert!(observed < expected / 2.0, "{observed} vs {expected}");
    assert!(quiet[0]["evidence"]["p_value"].as_f64().unwrap() < 1e-4);
    let gap = resumed[0]["evidence"]["gap_s"].as_i64().unwrap();
    assert!(gap > 2 * 86_400 && gap < 4 * 86_400, "gap {gap}");
}

#[test]
fn a_new_querier_after_learning() {
    let dir = tempfile::tempdir().unwrap();
    let mut ev = scenario::steady(3, 20, 20.0, &[q(15), q(16), q(17)], NAME, ADDR);
    let newcomer = Ipv4Addr::new(198, 51, 100, 7);
    ev.push(Event::a(
        T0 + 10 * DAY_US + 5 * HOUR_US,
        newcomer,
        NAME,
        Some(ADDR),
    ));
    ev.sort_by_key(|e| e.ts_us);
    let (alerts, _) = alerts_for(dir.path(), "newq", &ev, &[NAME]);
    let nq = of_kind(&alerts, "new_querier");
    assert_eq!(nq.len(), 1, "{:?}", kinds(&alerts));
    assert_eq!(nq[0]["querier"], newcomer.to_string());
    assert_eq!(nq[0]["evidence"]["known_queriers"], 3);

    // A second replay into the same database knows the querier: no re-alert.
    let pcap = dir.path().join("newq.pcap");
    let log2 = dir.path().join("newq2.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_dnswatch"))
        .args(["replay", "--no-progress", "--db"])
        .arg(dir.path().join("newq.db"))
        .arg("--alerts")
        .arg(&log2)
        .args(["--watch", NAME])
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(out.status.success());
    let again = std::fs::read_to_string(&log2).unwrap_or_default();
    assert!(!again.contains("new_querier"), "{again}");
}

#[test]
fn nxdomain_flip_and_rename_to_the_watched_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut ev = scenario::steady(4, 12, 20.0, &[q(15), q(16)], NAME, ADDR);
    // Sep 23: the name vanishes.
    for i in 0..5 {
        ev.push(Event::a(T0 + 12 * DAY_US + i * HOUR_US, q(15), NAME, None));
    }
    // Sep 27: a new name for the same server, first asked by the same resolver.
    ev.push(Event::a(
        T0 + 16 * DAY_US,
        q(15),
        "trump1.contact-client.com",
        Some(ADDR),
    ));
    ev.sort_by_key(|e| e.ts_us);
    let (alerts, _) = alerts_for(dir.path(), "flip", &ev, &[NAME, "66.216.133.29"]);
    let rc = of_kind(&alerts, "rcode_change");
    assert_eq!(rc.len(), 1, "{:?}", kinds(&alerts));
    assert_eq!(rc[0]["evidence"]["from"], "NOERROR");
    assert_eq!(rc[0]["evidence"]["to"], "NXDOMAIN");
    assert_eq!(rc[0]["severity"], "critical");
    let nn = of_kind(&alerts, "new_name");
    assert_eq!(nn.len(), 1, "{:?}", kinds(&alerts));
    assert_eq!(nn[0]["name"], "trump1.contact-client.com");
    assert_eq!(nn[0]["entry"], "66.216.133.29");
    assert_eq!(nn[0]["querier"], q(15).to_string());
}

#[test]
fn periodic_lookups_are_flagged_and_poisson_ones_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let periodic = scenario::periodic(T0, 600 * 1_000_000, 20, q(15), NAME, ADDR);
    let (alerts, _) = alerts_for(dir.path(), "periodic", &periodic, &[NAME]);
    let p = of_kind(&alerts, "periodic");
    assert_eq!(p.len(), 1, "{:?}", kinds(&alerts));
    assert!((p[0]["evidence"]["period_s"].as_f64().unwrap() - 600.0).abs() < 1.0);
    assert!(p[0]["evidence"]["cv"].as_f64().unwrap() < 0.05);

    for seed in 0..10 {
        let poisson = scenario::poisson(seed, T0, 600 * 1_000_000, 20, q(15), NAME, ADDR);
        let (alerts, _) = alerts_for(dir.path(), &format!("poisson{seed}"), &poisson, &[NAME]);
        assert!(
            of_kind(&alerts, "periodic").is_empty(),
            "seed {seed}: {:?}",
            kinds(&alerts)
        );
    }
}

#[test]
fn two_queriers_holding_almost_everything_is_concentration() {
    let dir = tempfile::tempdir().unwrap();
    // Two bank resolvers make most lookups; a handful of others make the rest.
    let mut ev = scenario::steady(5, 10, 30.0, &[q(15), q(16)], NAME, ADDR);
    for (i, day) in (1..10).enumerate() {
        ev.push(Event::a(
            T0 + day * DAY_US + 3 * HOUR_US,
            Ipv4Addr::new(192, 0, 2, 100 + i as u8),
            NAME,
            Some(ADDR),
        ));
    }
    ev.sort_by_key(|e| e.ts_us);
    let (alerts, _) = alerts_for(dir.path(), "conc", &ev, &[NAME]);
    let c = of_kind(&alerts, "concentration");
    assert_eq!(c.len(), 1, "{:?}", kinds(&alerts));
    let e = &c[0]["evidence"];
    assert_eq!(e["k"], 2);
    assert!(e["share"].as_f64().unwrap() > 0.9);
    assert!(e["n"].as_u64().unwrap() >= 30);
}

#[test]
fn replays_give_byte_identical_alert_logs() {
    let dir = tempfile::tempdir().unwrap();
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
    let (a1, log1) = alerts_for(dir.path(), "det1", &ev, &[NAME, "66.216.133.29"]);
    let (_, log2) = alerts_for(dir.path(), "det2", &ev, &[NAME, "66.216.133.29"]);
    assert!(a1.len() >= 3, "{:?}", kinds(&a1));
    assert_eq!(log1, log2);
}

#[test]
fn alerts_follow_prints_alerts_as_a_replay_commits_them() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("follow.db");
    // An empty database to follow.
    let empty = scenario::steady(8, 1, 5.0, &[q(15)], NAME, ADDR);
    let _ = alerts_for(dir.path(), "follow", &empty, &[NAME]);
    let mut follow = Command::new(env!("CARGO_BIN_EXE_dnswatch"))
        .args(["alerts", "--follow", "--format", "json", "--db"])
        .arg(&db)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = follow.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // A second replay into the same database raises an rcode change.
    let mut ev = scenario::steady(8, 2, 20.0, &[q(15)], NAME, ADDR);
    ev.push(Event::a(T0 + 2 * DAY_US + HOUR_US, q(15), NAME, None));
    let (alerts, _) = alerts_for(dir.path(), "follow", &ev, &[NAME]);
    assert!(
        !of_kind(&alerts, "rcode_change").is_empty(),
        "{:?}",
        kinds(&alerts)
    );
    let line = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("follow printed nothing");
    let _ = follow.kill();
    let _ = follow.wait();
    let v: Value = serde_json::from_str(&line).unwrap();
    assert!(
        v["kind"].is_string() && v["ts"].is_string() && v["evidence"].is_object(),
        "{line}"
    );
}
