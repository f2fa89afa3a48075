//! The metrics and the alerting rules pass Prometheus's own checks:
//! `promtool check metrics` on what the endpoint renders, `promtool check
//! rules` and `promtool test rules` on `config/prometheus/`. promtool comes
//! with Debian's `prometheus` package (`scripts/ensure-deps.sh test`); these
//! tests fail, not skip, without it.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use dnswatch::daemon::capture::IfaceCounters;
use dnswatch::daemon::metrics::{render, DaemonInfo, ProcessStats};
use dnswatch::daemon::reload::ReloadStats;
use dnswatch::driver::Counters;

fn promtool(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new("promtool")
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/prometheus"))
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run promtool ({e}): install Debian's prometheus package (scripts/ensure-deps.sh test)")
        });
    if let (Some(text), Some(mut w)) = (stdin, child.stdin.take()) {
        w.write_all(text.as_bytes()).expect("write to promtool");
    }
    child.wait_with_output().expect("promtool output")
}

fn rendered() -> String {
    let info = DaemonInfo {
        ifaces: vec![
            ("lo".to_string(), Arc::new(IfaceCounters::default())),
            ("eth0".to_string(), Arc::new(IfaceCounters::default())),
        ],
        reloads: Arc::new(ReloadStats::started()),
        queue_capacity: 65_536,
    };
    let mut text = render(&Counters::default(), &info, &ProcessStats::read());
    // With a ClickHouse store, the daemon appends the shipper's counters.
    text.push_str(&dnswatch::store::clickhouse::Stats::default().prometheus());
    text
}

#[test]
fn promtool_check_metrics_is_clean() {
    let text = rendered();
    for name in [
        "dnswatch_build_info{version=\"",
        "dnswatch_store_commit_seconds_total ",
        "dnswatch_store_last_commit_timestamp_seconds ",
        "dnswatch_config_reloads_total{result=\"failure\"} 0",
        "dnswatch_config_last_reload_success_timestamp_seconds ",
        "dnswatch_queue_packets{interface=\"eth0\"} 0",
        "dnswatch_alerts_total{kind=\"burst\"} 0",
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "dnswatch_clickhouse_insert_seconds_total ",
        "dnswatch_clickhouse_spool_bytes ",
    ] {
        assert!(text.contains(name), "{name} missing from\n{text}");
    }
    assert!(!text.contains("microseconds"), "{text}");
    let out = promtool(&["check", "metrics"], Some(&text));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics:\n{said}\non\n{text}"
    );
}

#[test]
fn process_stats_are_read_from_proc() {
    let p = ProcessStats::read();
    assert!(p.resident_bytes.is_some_and(|b| b > 1e5), "{p:?}");
    assert!(p.open_fds.is_some_and(|n| n >= 3.0), "{p:?}");
    assert!(p.cpu_seconds.is_some_and(|s| s >= 0.0), "{p:?}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    assert!(
        p.start_time_seconds
            .is_some_and(|t| t <= now + 1.0 && t > now - 3600.0),
        "{p:?}"
    );
}

#[test]
fn alerting_rules_pass_promtool_check_and_their_tests() {
    let out = promtool(&["check", "rules", "dnswatch-rules.yml"], None);
    assert!(
        out.status.success(),
        "promtool check rules:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = promtool(&["test", "rules", "dnswatch-rules.test.yml"], None);
    assert!(
        out.status.success(),
        "promtool test rules:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
