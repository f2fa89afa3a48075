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

/// Resolvers in three different networks (no network holds most lookups).
fn spread() -> [Ipv4Addr; 3] {
    [
        Ipv4Addr::new(217, 12, 96, 15),
        Ipv4Addr::new(198, 51, 100, 53),
        Ipv4Addr::new(203, 0, 113, 9),
    ]
}

/// Replays `events` watching `watch`; returns the alerts (parsed) and the raw log.
fn alerts_for(dir: &Path, tag: &str, events: &[Event], watch: &[&str]) -> (Vec<Value>, String) {
    let pcap = dir.join(format!("{tag}.pcap"));
    scenario::write_pcap(&pcap, events).expect("write pcap");
    let log = dir.join(format!("{tag}.jsonl"));
    let alerts = replay_into(&dir.join(format!("{tag}.db")), &pcap, &log, watch);
    (alerts, std::fs::read_to_string(&log).unwrap_or_default())
}

/// Replays `pcap` into `db`, returning the alert log's alerts.
fn replay_into(db: &Path, pcap: &Path, log: &Path, watch: &[&str]) -> Vec<Value> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dnswatch"));
    cmd.args(["replay", "--no-progress", "--db"])
        .arg(db)
        .arg("--alerts")
        .arg(log);
    for w in watch {
        cmd.args(["--watch", w]);
    }
    let out = cmd.arg(pcap).output().expect("run dnswatch");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("alert json"))
        .collect()
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
        let ev = scenario::steady(seed, 30, 20.0, &spread(), NAME, ADDR);
        let (alerts, _) = alerts_for(dir.path(), &format!("steady{seed}"), &ev, &[NAME]);
        all.extend(alerts);
    }
    assert!(
        all.is_empty(),
        "false positives on steady traffic: {:?}",
        kinds(&all)
    );
}

const DECOY: &str = "mail.decoy.example";

/// Lookups of a decoy name by twelve resolvers in twelve networks: the
/// population a watched name's querier shares are compared with.
fn decoy(seed: u64, days: i64) -> Vec<Event> {
    let many: Vec<Ipv4Addr> = (1..=12).map(|i| Ipv4Addr::new(100, 64, i, 53)).collect();
    scenario::steady(
        seed + 100,
        days,
        60.0,
        &many,
        DECOY,
        Ipv4Addr::new(192, 0, 2, 80),
    )
}

#[test]
fn one_network_making_every_lookup_of_one_name_is_one_concentration_alert() {
    // Three resolvers of one /24 make every lookup of the name for a month,
    // and few of the other watched lookups: true, and said once (not once
    // a day), with nothing else.
    let dir = tempfile::tempdir().unwrap();
    for seed in 0..3u64 {
        let mut ev = scenario::steady(seed, 30, 20.0, &[q(15), q(16), q(17)], NAME, ADDR);
        ev.extend(decoy(seed, 30));
        ev.sort_by_key(|e| e.ts_us);
        let (alerts, _) = alerts_for(dir.path(), &format!("one{seed}"), &ev, &[NAME, DECOY]);
        assert_eq!(kinds(&alerts), ["concentration"], "seed {seed}");
        assert_eq!(alerts[0]["querier"], "217.12.96.0/24");
        assert_eq!(alerts[0]["entry"], NAME);
        assert!(alerts[0]["evidence"]["before"].is_null());
        let pop = alerts[0]["evidence"]["share_of_all_watched_lookups"]
            .as_f64()
            .unwrap();
        assert!(pop < 0.4, "{pop}");
    }
}

#[test]
fn one_network_making_every_watched_lookup_is_not_news() {
    // An office resolver: one network makes every lookup of every watched
    // name; no name is concentrated compared with the rest.
    let dir = tempfile::tempdir().unwrap();
    let mut ev = scenario::steady(9, 30, 20.0, &[q(15), q(16), q(17)], NAME, ADDR);
    ev.extend(scenario::steady(10, 30, 40.0, &[q(18), q(19)], DECOY, ADDR));
    ev.sort_by_key(|e| e.ts_us);
    let (alerts, _) = alerts_for(dir.path(), "office", &ev, &[NAME, DECOY]);
    assert!(alerts.is_empty(), "{:?}", kinds(&alerts));
}

#[test]
fn a_spike_is_a_burst_with_its_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let base = scenario::steady(1, 30, 20.0, &spread(), NAME, ADDR);
    let ev = scenario::with_spike(base, 20, 14, 40, q(15), NAME, ADDR);
    let (alerts, _) = alerts_for(dir.path(), "spike", &ev, &[NAME]);
    let bursts = of_kind(&alerts, "burst");
    assert!(!bursts.is_empty(), "{:?}", kinds(&alerts));
    let spike_hour = T0 + 20 * DAY_US + 14 * HOUR_US;
    // One alert for the episode, raised live inside the hour, naming the
    // querier that made most of it.
    let hourly: Vec<_> = bursts.iter().filter(|a| a["window"] == "1h").collect();
    assert_eq!(hourly.len(), 1, "{bursts:?}");
    let hourly = hourly[0];
    let ts = dnswatch::time::parse(hourly["ts"].as_str().unwrap()).unwrap();
    assert!(
        ts >= spike_hour && ts < spike_hour + HOUR_US,
        "{}",
        hourly["ts"]
    );
    let ev = &hourly["evidence"];
    assert_eq!(ev["hour_start"], dnswatch::time::rfc3339(spike_hour));
    assert!(ev["observed"].as_u64().unwrap() >= ev["critical_count"].as_u64().unwrap());
    assert!(ev["expected"].as_f64().unwrap() < 3.0);
    assert!(ev["p_value"].as_f64().unwrap() < 1e-6);
    assert_eq!(hourly["querier"], q(15).to_string());
    // nothing but bursts (and the daily one) in an otherwise steady month
    assert!(
        alerts.iter().all(|a| a["kind"] == "burst"),
        "{:?}",
        alerts
            .iter()
            .map(|a| a["message"].as_str().unwrap_or(""))
            .collect::<Vec<_>>()
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
    assert!(quiet[0]["evidence"]["p_value"].as_f64().unwrap() < 1e-6);
    let gap = resumed[0]["evidence"]["gap_s"].as_i64().unwrap();
    assert!(gap > 2 * 86_400 && gap < 4 * 86_400, "gap {gap}");
}

#[test]
fn a_new_querier_after_learning() {
    let dir = tempfile::tempdir().unwrap();
    let mut ev = scenario::steady(3, 20, 20.0, &[q(15), q(16), q(17)], NAME, ADDR);
    // Two stable weeks: no newcomer since the first day.
    // A querier from a network never seen for this name, asking a few times
    // that day (a single lookup from a new network is not news).
    let newcomer = Ipv4Addr::new(198, 51, 100, 7);
    for i in 0..4 {
        ev.push(Event::a(
            T0 + 14 * DAY_US + (5 + i) * HOUR_US,
            newcomer,
            NAME,
            Some(ADDR),
        ));
    }
    ev.sort_by_key(|e| e.ts_us);
    let (alerts, _) = alerts_for(dir.path(), "newq", &ev, &[NAME]);
    let nq = of_kind(&alerts, "new_querier");
    assert_eq!(nq.len(), 1, "{:?}", kinds(&alerts));
    assert_eq!(nq[0]["querier"], "198.51.100.0/24");
    let e = &nq[0]["evidence"];
    assert_eq!(e["first_querier"], newcomer.to_string());
    assert_eq!(e["level"], "network");
    // The three known resolvers share one /24.
    assert_eq!(e["known_groups"], 1);

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
    assert!(p[0]["evidence"]["occupancy"].as_f64().unwrap() > 0.9);
    assert!(p[0]["evidence"]["p_value"].as_f64().unwrap() < 1e-9);

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
    ev.extend(decoy(5, 10));
    ev.sort_by_key(|e| e.ts_us);
    let (alerts, _) = alerts_for(dir.path(), "conc", &ev, &[NAME, DECOY]);
    let c = of_kind(&alerts, "concentration");
    assert_eq!(c.len(), 1, "{:?}", kinds(&alerts));
    // The two resolvers share a /24: one network holds almost everything.
    let e = &c[0]["evidence"];
    assert_eq!(e["level"], "network");
    assert_eq!(e["k"], 1);
    assert_eq!(c[0]["querier"], "217.12.96.0/24");
    assert!(e["share"].as_f64().unwrap() > 0.9);
    assert!(e["n"].as_u64().unwrap() >= 30);
    let top: Vec<&str> = e["top_addresses"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["querier"].as_str())
        .collect();
    assert!(
        top.contains(&"217.12.96.15") && top.contains(&"217.12.96.16"),
        "{top:?}"
    );
}

#[test]
fn the_next_capture_into_the_same_database_keeps_the_model() {
    // Three weeks in one capture, the next days in another, replayed one
    // after the other into one database (or a daemon restarted): the spike
    // on the second day of the second capture is judged against the three
    // weeks before it, not against one day of fresh history.
    let dir = tempfile::tempdir().unwrap();
    let base = scenario::steady(21, 30, 40.0, &spread(), NAME, ADDR);
    let ev = scenario::with_spike(base, 22, 14, 40, spread()[1], NAME, ADDR);
    let cut = T0 + 21 * DAY_US;
    let (first, second): (Vec<Event>, Vec<Event>) = ev.into_iter().partition(|e| e.ts_us < cut);
    let (p1, p2) = (dir.path().join("weeks.pcap"), dir.path().join("days.pcap"));
    scenario::write_pcap(&p1, &first).unwrap();
    scenario::write_pcap(&p2, &second).unwrap();
    let db = dir.path().join("case.db");
    let a1 = replay_into(&db, &p1, &dir.path().join("a1.jsonl"), &[NAME]);
    assert!(a1.is_empty(), "{:?}", kinds(&a1));
    let a2 = replay_into(&db, &p2, &dir.path().join("a2.jsonl"), &[NAME]);
    let spike_hour = T0 + 22 * DAY_US + 14 * HOUR_US;
    let bursts = of_kind(&a2, "burst");
    assert_eq!(bursts.len(), 1, "{:?}", kinds(&a2));
    assert_eq!(
        bursts[0]["evidence"]["hour_start"],
        dnswatch::time::rfc3339(spike_hour)
    );
    assert!(bursts[0]["evidence"]["baseline_days"].as_u64().unwrap_or(0) >= 14);
    assert_eq!(kinds(&a2), ["burst"]);
    // The same capture replayed again into the database: its hours are not
    // counted twice, the alerts are the same.
    let a3 = replay_into(&db, &p2, &dir.path().join("a3.jsonl"), &[NAME]);
    assert_eq!(kinds(&a3), kinds(&a2));
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
    /// Kills the follower however the test ends (a failed assertion must
    /// not leave it running and holding the test's output pipe).
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut follow = Kill(
        Command::new(env!("CARGO_BIN_EXE_dnswatch"))
            .args(["alerts", "--follow", "--format", "json", "--db"])
            .arg(&db)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = follow.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // A second replay into the same database raises an rcode change.
    let mut ev = scenario::steady(8, 2, 20.0, &[q(15)], NAME, ADDR);
    // The name fails persistently (one NXDOMAIN alone is not a change).
    for i in 1..4 {
        ev.push(Event::a(T0 + 2 * DAY_US + i * HOUR_US, q(15), NAME, None));
    }
    let (alerts, _) = alerts_for(dir.path(), "follow", &ev, &[NAME]);
    assert!(
        !of_kind(&alerts, "rcode_change").is_empty(),
        "{:?}",
        kinds(&alerts)
    );
    let line = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("follow printed nothing");
    drop(follow);
    let v: Value = serde_json::from_str(&line).unwrap();
    assert!(
        v["kind"].is_string() && v["ts"].is_string() && v["evidence"].is_object(),
        "{line}"
    );
}

/// The alert record (issue 14): `sensor`, `window_range` in RFC 3339, and
/// the ECS shape from `alerts --format ecs` and from the alert log with
/// `alerts.format = "ecs"`.
#[test]
fn alerts_carry_sensor_and_window_and_come_in_ecs() {
    let dir = tempfile::tempdir().unwrap();
    let mut ev = scenario::steady(0, 30, 20.0, &[q(15), q(16), q(17)], NAME, ADDR);
    ev.extend(decoy(0, 30));
    ev.sort_by_key(|e| e.ts_us);
    let pcap = dir.path().join("c.pcap");
    scenario::write_pcap(&pcap, &ev).unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[alerts]\nformat = \"ecs\"\n").unwrap();
    let db = dir.path().join("c.db");
    let log = dir.path().join("c.jsonl");
    let bin = env!("CARGO_BIN_EXE_dnswatch");
    let out = Command::new(bin)
        .args(["replay", "--no-progress", "--sensor", "probe-7", "--config"])
        .arg(&cfg)
        .arg("--db")
        .arg(&db)
        .arg("--alerts")
        .arg(&log)
        .args(["--watch", NAME, "--watch", DECOY])
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The stored alert in dnswatch's own shape.
    let out = Command::new(bin)
        .args(["alerts", "--format", "json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let a: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(a["kind"], "concentration");
    assert_eq!(a["sensor"], "probe-7");
    assert_eq!(a["window"], "7d");
    let start = a["window_range"]["start"].as_str().unwrap();
    let end = a["window_range"]["end"].as_str().unwrap();
    assert_eq!(end, a["ts"].as_str().unwrap());
    let (s_us, e_us) = (
        dnswatch::time::parse(start).unwrap(),
        dnswatch::time::parse(end).unwrap(),
    );
    assert_eq!(e_us - s_us, 7 * DAY_US, "{start} .. {end}");
    // The same alert as ECS, from the database and from the alert log.
    let out = Command::new(bin)
        .args(["alerts", "--format", "ecs", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let e: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    let logged: Value =
        serde_json::from_str(std::fs::read_to_string(&log).unwrap().trim()).unwrap();
    assert_eq!(e, logged);
    assert_eq!(e["event"]["kind"], "alert");
    assert_eq!(e["event"]["id"], a["id"]);
    assert_eq!(e["event"]["start"], start);
    assert_eq!(e["rule"]["name"], "concentration");
    assert_eq!(e["message"], a["message"]);
    assert_eq!(e["observer"]["hostname"], "probe-7");
    assert_eq!(e["@timestamp"], a["ts"]);
    assert_eq!(e["dnswatch"]["evidence"], a["evidence"]);
}
