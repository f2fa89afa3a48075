//! `dnswatch report`: a month of generated traffic modelled on the 2016
//! mail1.trump-email.com case (two resolvers making most lookups, a spike, a
//! silence, the name going NXDOMAIN and a new name for the same server),
//! replayed through the binary, then reported on.

mod support;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use support::scenario::{self, Event, DAY_US, HOUR_US, RCODE_NXDOMAIN, T0};

const NAME: &str = "mail1.trump-email.com";
const NEW_NAME: &str = "trump1.contact-client.com";
const ADDR_TEXT: &str = "66.216.133.29";
const ADDR: Ipv4Addr = Ipv4Addr::new(66, 216, 133, 29);
const Q1: Ipv4Addr = Ipv4Addr::new(217, 12, 96, 15);
const Q2: Ipv4Addr = Ipv4Addr::new(217, 12, 97, 15);
const Q3: Ipv4Addr = Ipv4Addr::new(10, 1, 1, 1);
/// Day (after T0) of the spike: 2016-05-16.
const SPIKE_DAY: i64 = 12;
const SPIKE_DATE: &str = "2016-05-16";
/// The name answers NXDOMAIN from this day on.
const NX_DAY: i64 = 28;
const CAVEAT: &str = "Coincidence in time is not evidence of cause: check how many events there were to choose from and how many bursts or quiet periods a chance alignment would give.";

/// The month of traffic.
fn month() -> Vec<Event> {
    let base = scenario::steady(7, 30, 40.0, &[Q1, Q2], NAME, ADDR);
    let spiked = scenario::with_spike(base, SPIKE_DAY, 14, 60, Q1, NAME, ADDR);
    let mut ev = scenario::with_silence(spiked, 20.0, 23.0);
    for day in [2, 6, 10, 16, 25, 27] {
        ev.push(Event::a(
            T0 + day * DAY_US + 9 * HOUR_US,
            Q3,
            NAME,
            Some(ADDR),
        ));
    }
    // The name stops resolving ...
    for e in &mut ev {
        if e.ts_us >= T0 + NX_DAY * DAY_US {
            e.rcode = Some(RCODE_NXDOMAIN);
            e.answers.clear();
        }
    }
    // ... and a new name for the same server appears.
    for k in 0..20 {
        ev.push(Event::a(
            T0 + NX_DAY * DAY_US + k * 2 * HOUR_US + 1_000,
            Q2,
            NEW_NAME,
            Some(ADDR),
        ));
    }
    ev.sort_by_key(|e| e.ts_us);
    ev
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    db: PathBuf,
    events: Vec<Event>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let events = month();
    let pcap = path.join("month.pcap");
    scenario::write_pcap(&pcap, &events).expect("write pcap");
    let db = path.join("month.db");
    let out = Command::new(env!("CARGO_BIN_EXE_dnswatch"))
        .args(["replay", "--no-progress", "--db"])
        .arg(&db)
        .arg("--alerts")
        .arg(path.join("alerts.jsonl"))
        .args(["--watch", NAME, "--watch", ADDR_TEXT])
        .arg(&pcap)
        .output()
        .expect("run dnswatch replay");
    assert!(
        out.status.success(),
        "replay: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Fixture {
        _dir: dir,
        path,
        db,
        events,
    }
}

fn report(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dnswatch"))
        .arg("report")
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run dnswatch report")
}

fn report_json(db: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let out = report(db, &all);
    assert!(
        out.status.success(),
        "report: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("report json")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn json_report_holds_the_evidence() {
    let f = fixture();
    let r = report_json(&f.db, &[NAME]);
    let of_name: Vec<&Event> = f.events.iter().filter(|e| e.qname == NAME).collect();
    assert_eq!(r["entry"], NAME);
    assert_eq!(r["matched_by"], "entry");
    assert_eq!(r["total"].as_u64(), Some(of_name.len() as u64));
    let nx = of_name
        .iter()
        .filter(|e| e.rcode == Some(RCODE_NXDOMAIN))
        .count() as u64;
    assert!(nx > 0);
    assert_eq!(r["nxdomain"].as_u64(), Some(nx));
    assert_eq!(r["answered"].as_u64(), Some(of_name.len() as u64));
    assert_eq!(r["unanswered"].as_u64(), Some(0));
    assert_eq!(r["rcodes"]["NXDOMAIN"].as_u64(), Some(nx));

    // Queriers: the two resolvers first, the third far behind; shares sum to 1.
    let qs = r["queriers"].as_array().expect("queriers");
    assert_eq!(qs.len(), 3);
    let top: Vec<&str> = qs
        .iter()
        .take(2)
        .filter_map(|q| q["querier"].as_str())
        .collect();
    assert!(
        top.contains(&"217.12.96.15") && top.contains(&"217.12.97.15"),
        "{top:?}"
    );
    assert_eq!(qs[2]["querier"], "10.1.1.1");
    assert_eq!(qs[2]["count"].as_u64(), Some(6));
    let shares: f64 = qs.iter().filter_map(|q| q["share"].as_f64()).sum();
    assert!((shares - 1.0).abs() < 1e-9, "shares sum {shares}");
    let counts: u64 = qs.iter().filter_map(|q| q["count"].as_u64()).sum();
    assert_eq!(counts, of_name.len() as u64);
    assert!(qs[0]["share"].as_f64().unwrap_or(0.0) >= qs[1]["share"].as_f64().unwrap_or(1.0));
    let p = &qs[0]["periodicity"];
    assert!(p["cv"].as_f64().is_some(), "{p}");
    assert!(p["p_value"].as_f64().is_some(), "{p}");
    assert!(qs[0]["first_seen"]
        .as_str()
        .is_some_and(|s| s.starts_with("2016-05-04")));

    // Every day of the span, zeros included; the spike day has the most.
    let days = r["per_day"].as_array().expect("per_day");
    assert_eq!(days.len(), 30);
    assert_eq!(days[0]["date"], "2016-05-04");
    let sum: u64 = days.iter().filter_map(|d| d["count"].as_u64()).sum();
    assert_eq!(sum, of_name.len() as u64);
    let max = days
        .iter()
        .max_by_key(|d| d["count"].as_u64().unwrap_or(0))
        .expect("a day");
    assert_eq!(max["date"], SPIKE_DATE);
    assert!(
        days.iter().any(|d| d["count"] == 0),
        "the silent days are listed"
    );

    // Bursts on the spike day, with their numbers.
    let bursts = r["bursts"].as_array().expect("bursts");
    let on_spike: Vec<&Value> = bursts.iter().filter(|b| b["date"] == SPIKE_DATE).collect();
    assert!(!on_spike.is_empty(), "{bursts:?}");
    assert!(on_spike
        .iter()
        .all(|b| b["observed"].is_number() && b["p_value"].is_number()));

    // The silence is a quiet period that ended.
    let quiet = r["quiet_periods"].as_array().expect("quiet_periods");
    assert!(!quiet.is_empty());
    let qp = &quiet[0];
    assert!(
        ["2016-05-24", "2016-05-25", "2016-05-26"].contains(&qp["date"].as_str().unwrap_or("")),
        "{qp}"
    );
    assert_eq!(qp["resumed"], true);
    assert!(qp["expected"].as_f64().unwrap_or(0.0) > qp["observed"].as_f64().unwrap_or(1e9));
    assert!(!r["resumptions"].as_array().expect("resumptions").is_empty());

    // The name went NXDOMAIN.
    let changes = r["rcode_changes"].as_array().expect("rcode_changes");
    assert!(
        changes
            .iter()
            .any(|c| c["qname"] == NAME && c["from"] == "NOERROR" && c["to"] == "NXDOMAIN"),
        "{changes:?}"
    );
    let first = changes.first().and_then(|c| c["ts"].as_str()).unwrap_or("");
    assert!(first.starts_with("2016-06-01"), "{first}");
    // Answer history: one set, "A 66.216.133.29".
    let hist = r["answer_history"].as_array().expect("answer_history");
    assert_eq!(hist.len(), 1);
    assert_eq!(hist[0]["qname"], NAME);
    assert_eq!(hist[0]["sets"][0]["answers"][0], format!("A {ADDR_TEXT}"));

    // Names of the entry.
    let names = r["names"].as_array().expect("names");
    assert!(names.iter().any(|n| n["qname"] == NAME), "{names:?}");
    assert!(r.get("caveat").is_none(), "no caveat without events");
}

#[test]
fn address_entry_lists_the_names_resolving_to_it() {
    let f = fixture();
    let r = report_json(&f.db, &[ADDR_TEXT]);
    let expected = f
        .events
        .iter()
        .filter(|e| e.answers.contains(&ADDR))
        .count() as u64;
    assert_eq!(r["total"].as_u64(), Some(expected));
    let names: Vec<&str> = r["names"]
        .as_array()
        .expect("names")
        .iter()
        .filter_map(|n| n["qname"].as_str())
        .collect();
    assert_eq!(names, [NAME, NEW_NAME]);

    // A name below a zone works as the ENTRY too (matched by query name).
    let r = report_json(&f.db, &[NEW_NAME]);
    assert_eq!(r["matched_by"], "name");
    assert_eq!(r["total"].as_u64(), Some(20));
}

#[test]
fn text_report_and_svg() {
    let f = fixture();
    let svg = f.path.join("timeline.svg");
    let out = report(&f.db, &[NAME, "--svg", svg.to_str().expect("utf-8 path")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    for needle in [
        "217.12.96.15",
        "217.12.97.15",
        "10.1.1.1",
        "Queriers",
        "Lookups per day",
        "Bursts",
        "Quiet periods",
        "NOERROR -> NXDOMAIN",
        SPIKE_DATE,
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    assert!(!text.contains(CAVEAT));
    let s = std::fs::read_to_string(&svg).expect("svg written");
    assert!(s.starts_with("<svg"), "{}", &s[..s.len().min(200)]);
    assert!(s.contains("<rect"));
    assert!(s.contains("<polygon"), "burst marker");
    assert!(s.contains("217.12.96.15"), "legend");
    assert!(s.trim_end().ends_with("</svg>"));
    assert!(!s.contains("href"), "self-contained");
}

#[test]
fn events_are_listed_near_bursts_with_the_caveat() {
    let f = fixture();
    let csv = f.path.join("events.csv");
    std::fs::write(
        &csv,
        "date,label\n2016-05-15,\"Press story, part 1\"\n2016-07-30,Far away\n",
    )
    .expect("write csv");
    let csv_s = csv.to_str().expect("utf-8 path");
    let out = report(&f.db, &[NAME, "--events", csv_s]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    assert!(text.contains("Press story, part 1"), "{text}");
    assert!(text.contains(CAVEAT), "{text}");
    let burst_line = text
        .lines()
        .position(|l| l.contains(&format!("burst {SPIKE_DATE}")))
        .expect("burst listed with its events");
    assert!(
        text.lines()
            .nth(burst_line + 1)
            .is_some_and(|l| l.contains("Press story") && l.contains("-1d")),
        "{text}"
    );

    let r = report_json(&f.db, &[NAME, "--events", csv_s]);
    assert_eq!(r["caveat"], CAVEAT);
    let co = r["coincidences"].as_array().expect("coincidences");
    let spike = co
        .iter()
        .find(|c| c["kind"] == "burst" && c["from"] == SPIKE_DATE)
        .expect("spike day");
    assert_eq!(spike["events"][0]["label"], "Press story, part 1");
    assert_eq!(spike["events"][0]["offset_days"], -1);
    assert!(co.iter().all(|c| c["events"]
        .as_array()
        .is_some_and(|e| e.iter().all(|e| e["label"] != "Far away"))));
    assert!(co.iter().any(|c| c["kind"] == "quiet"));

    let svg = f.path.join("events.svg");
    let out = report(
        &f.db,
        &[
            NAME,
            "--events",
            csv_s,
            "--svg",
            svg.to_str().expect("utf-8 path"),
        ],
    );
    assert!(out.status.success());
    let s = std::fs::read_to_string(&svg).expect("svg written");
    assert!(s.contains("stroke-dasharray"), "event line");
    assert!(s.contains("Press story, part 1"));
}

#[test]
fn bad_input_is_a_usage_error() {
    let f = fixture();
    let csv = f.path.join("bad.csv");
    std::fs::write(&csv, "2016-05-15,fine\nsoon,not a date\n").expect("write csv");
    let out = report(
        &f.db,
        &[NAME, "--events", csv.to_str().expect("utf-8 path")],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.csv:2"), "{err}");

    let out = report(&f.db, &[NAME, "--from", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--from"));
}

#[test]
fn no_lookups_is_not_an_error() {
    let f = fixture();
    let out = report(&f.db, &["nothing.example"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("No lookups"), "{}", stdout(&out));
    let r = report_json(&f.db, &["nothing.example"]);
    assert_eq!(r["total"], 0);
    // A range without lookups, too.
    let r = report_json(&f.db, &[NAME, "--from", "2017-01-01"]);
    assert_eq!(r["total"], 0);
}

#[test]
fn range_limits_the_report() {
    let f = fixture();
    let r = report_json(&f.db, &[NAME, "--from", "2016-05-10", "--to", "2016-05-20"]);
    let expected = f
        .events
        .iter()
        .filter(|e| e.qname == NAME && e.ts_us >= T0 + 6 * DAY_US && e.ts_us < T0 + 16 * DAY_US)
        .count() as u64;
    assert_eq!(r["total"].as_u64(), Some(expected));
    assert_eq!(r["per_day"].as_array().map(Vec::len), Some(10));
    assert!(r["quiet_periods"].as_array().is_some_and(Vec::is_empty));
}
