//! SIGHUP: re-read the configuration off the signal loop, apply every
//! changed setting that can be applied live (watch list, detectors,
//! querier pseudonymisation, DNS ports, the BPF filter of the open
//! captures, commit and retention settings) and say, per key, which
//! changes need a restart; a configuration that is wrong is refused and the
//! running one kept.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};

use super::systemd::sd_notify;
use crate::config::{setup, Config, RawConfig};
use crate::detect::DetectorConfig;
use crate::watch::Watchlist;

/// What a reload hands the pipeline thread: the settings it applies.
pub struct Reloaded {
    /// The new watch list (always swapped: the files may have changed).
    pub watch: Arc<Watchlist>,
    /// Detector settings.
    pub detectors: DetectorConfig,
    /// `Some` when pseudonymisation changed: the new key, or `None` (off).
    pub pseudonymisation: Option<Option<crate::privacy::CryptoPan>>,
    /// `Some` when capture.dns_ports changed.
    pub dns_ports: Option<Vec<u16>>,
    /// Batch size and commit interval (ms).
    pub commit: (usize, u64),
    /// storage.retention_days.
    pub retention_days: u32,
    /// privacy.scrub_after_days and privacy.scrub_fields.
    pub scrub: (u32, Vec<String>),
    /// metrics.log_interval_s.
    pub log_interval_s: u64,
    /// The changed keys and what became of them (logged by [`Self::log`]).
    pub report: Vec<Change>,
    /// Watch entries.
    pub entries: usize,
}

/// What the signal handler asks of the pipeline thread.
pub enum Control {
    /// New settings.
    Reload(Box<Reloaded>),
    /// Reopen the alert sinks' files (logrotate).
    ReopenLog,
}

/// Reload outcomes, for the metrics.
#[derive(Debug, Default)]
pub struct ReloadStats {
    /// Reloads applied.
    pub succeeded: AtomicU64,
    /// Reloads refused (the running configuration was kept).
    pub failed: AtomicU64,
    /// Wall-clock time (µs) of the last configuration loaded successfully
    /// (the start, until the first reload).
    pub last_success_unix_us: AtomicI64,
    /// Whether the last reload succeeded (1 until the first reload).
    pub last_ok: AtomicU64,
}

impl ReloadStats {
    /// Stats of a daemon whose configuration was loaded now.
    pub fn started() -> Self {
        Self {
            last_success_unix_us: AtomicI64::new(crate::time::wall_clock_us()),
            last_ok: AtomicU64::new(1),
            ..Self::default()
        }
    }

    fn record(&self, ok: bool) {
        if ok {
            self.succeeded.fetch_add(1, Ordering::Relaxed);
            self.last_success_unix_us
                .store(crate::time::wall_clock_us(), Ordering::Relaxed);
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.last_ok.store(u64::from(ok), Ordering::Relaxed);
    }
}

/// The BPF filter of the open captures, swapped by a reload and picked up
/// by each capture thread (which owns its libpcap handle).
#[derive(Debug, Default)]
pub struct FilterSwap {
    generation: AtomicU64,
    filter: Mutex<String>,
}

impl FilterSwap {
    /// The filter the captures were opened with.
    pub fn new(filter: &str) -> Self {
        Self {
            generation: AtomicU64::new(0),
            filter: Mutex::new(filter.to_string()),
        }
    }

    /// The filter in force.
    pub fn current(&self) -> String {
        self.filter
            .lock()
            .map_or_else(|p| p.into_inner().clone(), |f| f.clone())
    }

    fn set(&self, filter: &str) {
        match self.filter.lock() {
            Ok(mut f) => *f = filter.to_string(),
            Err(p) => *p.into_inner() = filter.to_string(),
        }
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The new filter when it changed since generation `seen` (updated).
    pub fn changed(&self, seen: &mut u64) -> Option<String> {
        let g = self.generation.load(Ordering::Acquire);
        if g == *seen {
            return None;
        }
        *seen = g;
        Some(self.current())
    }
}

/// What a reload compares the new configuration with.
pub struct ReloadCtx {
    /// The command line's shared options (re-applied over the new file).
    pub common: crate::cli::CommonArgs,
    /// Interfaces came from the command line (config changes do not matter).
    pub cli_interfaces: bool,
    /// The configuration running, key by key (restart-only keys keep the
    /// value the daemon started with).
    pub running: Mutex<BTreeMap<String, serde_json::Value>>,
    /// The BPF filter of the open captures (`None`: no interface open).
    pub filter: Option<Arc<FilterSwap>>,
    /// Outcomes, shown by the metrics.
    pub stats: Arc<ReloadStats>,
}

impl ReloadCtx {
    /// The running configuration of a daemon started with `config`.
    pub fn running(config: &RawConfig) -> Mutex<BTreeMap<String, serde_json::Value>> {
        Mutex::new(flatten(config))
    }
}

/// The configuration as `section.key` → value (tables flattened, arrays
/// kept whole).
pub fn flatten(config: &RawConfig) -> BTreeMap<String, serde_json::Value> {
    fn walk(prefix: &str, v: serde_json::Value, out: &mut BTreeMap<String, serde_json::Value>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        k
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            other => {
                out.insert(prefix.to_string(), other);
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Ok(v) = serde_json::to_value(config) {
        walk("", v, &mut out);
    }
    out
}

/// Whether a changed key is applied by a reload (everything else needs a
/// restart: interfaces, capture buffers, storage paths, ClickHouse,
/// limits of the decoder, the metrics listener, the user…).
pub fn applied_live(key: &str) -> bool {
    const LIVE: &[&str] = &[
        "capture.dns_ports",
        "capture.filter",
        "storage.batch_size",
        "storage.commit_interval_ms",
        "storage.retention_days",
        "privacy.pseudonymize_queriers",
        "privacy.key_file",
        "privacy.scrub_after_days",
        "privacy.scrub_fields",
        "metrics.log_interval_s",
    ];
    const LIVE_SECTIONS: &[&str] = &["watch.", "detectors."];
    LIVE.contains(&key) || LIVE_SECTIONS.iter().any(|s| key.starts_with(s))
}

/// The keys whose values differ, with both values (a key on one side only
/// counts as changed).
pub fn changed_keys(
    old: &BTreeMap<String, serde_json::Value>,
    new: &BTreeMap<String, serde_json::Value>,
) -> Vec<(String, serde_json::Value, serde_json::Value)> {
    let null = serde_json::Value::Null;
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let (a, b) = (old.get(k).unwrap_or(&null), new.get(k).unwrap_or(&null));
            (a != b).then(|| (k.clone(), a.clone(), b.clone()))
        })
        .collect()
}

/// Why a reload was refused.
#[derive(Debug, thiserror::Error)]
enum ReloadError {
    #[error("{0}")]
    Config(String),
    #[error("{key}: {reason}")]
    Key { key: &'static str, reason: String },
}

/// Re-reads the config for SIGHUP; `None` (after logging why) keeps the old one.
fn reload(ctx: &ReloadCtx) -> Option<Control> {
    match prepare(ctx) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::error!("reload failed, keeping the running configuration: {e}");
            None
        }
    }
}

fn prepare(ctx: &ReloadCtx) -> Result<Control, ReloadError> {
    let new = setup(&ctx.common).map_err(|e| ReloadError::Config(e.message().to_string()))?;
    let cfg: &Config = &new.config;
    let mut running = match ctx.running.lock() {
        Ok(r) => r,
        Err(p) => p.into_inner(),
    };
    let fresh = flatten(&cfg.raw);
    let changes = changed_keys(&running, &fresh);
    let is = |k: &str| changes.iter().any(|c| c.0 == k);
    // Everything that can fail is checked before anything is applied.
    let pseudonymisation = if is("privacy.pseudonymize_queriers") || is("privacy.key_file") {
        Some(if cfg.raw.privacy.pseudonymize_queriers {
            Some(
                crate::privacy::CryptoPan::from_key_file(&cfg.raw.privacy.key_file).map_err(
                    |e| ReloadError::Key {
                        key: "privacy.key_file",
                        reason: e.to_string(),
                    },
                )?,
            )
        } else {
            None
        })
    } else {
        None
    };
    let filter = match &ctx.filter {
        Some(swap) => {
            let f = super::capture::live_config(cfg).filter;
            if f == swap.current() {
                None
            } else {
                crate::capture::live::check_filter(&f).map_err(|e| ReloadError::Key {
                    key: "capture.filter",
                    reason: format!("libpcap cannot compile the filter {f:?}: {e}"),
                })?;
                Some((swap, f))
            }
        }
        None => None,
    };
    // Apply; say per key what was applied and what needs a restart.
    if let Some((swap, f)) = filter {
        swap.set(&f);
    }
    let dns_ports_changed = is("capture.dns_ports");
    let mut report = Vec::new();
    for (key, old, new) in changes {
        let outcome = if key == "capture.interfaces" && ctx.cli_interfaces {
            running.insert(key.clone(), new.clone());
            Outcome::Unused
        } else if applied_live(&key) {
            running.insert(key.clone(), new.clone());
            Outcome::Applied
        } else {
            Outcome::Restart
        };
        report.push(Change {
            key,
            old,
            new,
            outcome,
        });
    }
    let entries = new.watch.len();
    let r = &cfg.raw;
    Ok(Control::Reload(Box::new(Reloaded {
        watch: Arc::new(new.watch),
        detectors: r.detectors.clone(),
        pseudonymisation,
        dns_ports: dns_ports_changed.then(|| r.capture.dns_ports.clone()),
        commit: (r.storage.batch_size, r.storage.commit_interval_ms),
        retention_days: r.storage.retention_days,
        scrub: (r.privacy.scrub_after_days, r.privacy.scrub_fields.clone()),
        log_interval_s: r.metrics.log_interval_s,
        report,
        entries,
    })))
}

/// What became of a changed key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// In force.
    Applied,
    /// Needs a restart; the running value is kept.
    Restart,
    /// Not used (the command line overrides it).
    Unused,
}

/// A changed key.
#[derive(Clone, Debug)]
pub struct Change {
    /// `section.key`.
    pub key: String,
    /// Running value.
    pub old: serde_json::Value,
    /// Value in the file now.
    pub new: serde_json::Value,
    /// What became of it.
    pub outcome: Outcome,
}

impl Reloaded {
    /// Logs, once the pipeline has applied the settings, each changed key
    /// and what became of it, then one summary line (which says "in part"
    /// and names the keys when some need a restart).
    pub fn log(&self) {
        let mut applied = Vec::new();
        let mut restart = Vec::new();
        for c in &self.report {
            let (key, old, new) = (&c.key, &c.old, &c.new);
            match c.outcome {
                Outcome::Applied => {
                    tracing::info!(key = %key, old = %old, new = %new, "{key} changed: applied");
                    applied.push(key.as_str());
                }
                Outcome::Restart => {
                    tracing::warn!(key = %key, running = %old, new = %new, "{key} changed: needs a restart to take effect; still running with {old}");
                    restart.push(key.as_str());
                }
                Outcome::Unused => {
                    tracing::info!(key = %key, "{key} changed: not used (-i on the command line wins)");
                }
            }
        }
        if restart.is_empty() {
            tracing::info!(
                entries = self.entries,
                "configuration reloaded: {} changed keys, all applied{}",
                applied.len(),
                if applied.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", applied.join(", "))
                }
            );
        } else {
            tracing::warn!(
                entries = self.entries,
                "configuration reloaded in part: applied {}; needs a restart: {}",
                if applied.is_empty() {
                    "no changed key".to_string()
                } else {
                    applied.join(", ")
                },
                restart.join(", ")
            );
        }
    }
}

/// Starts a reload off the signal and metrics loop: reading and compiling a
/// large watch list takes a while, and the pipeline swaps the finished list
/// in at once.
pub fn start_reload(ctx: &Arc<ReloadCtx>, tx: &SyncSender<Control>) -> tokio::task::JoinHandle<()> {
    sd_notify("RELOADING=1");
    let (ctx, tx) = (ctx.clone(), tx.clone());
    tokio::task::spawn_blocking(move || {
        let new = reload(&ctx);
        ctx.stats.record(new.is_some());
        if let Some(c) = new {
            let _ = tx.send(c);
        }
        let _ = tx.send(Control::ReopenLog);
        sd_notify("READY=1");
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_keys_are_named_and_classified() {
        let old = RawConfig::default();
        let mut new = old.clone();
        new.privacy.pseudonymize_queriers = !old.privacy.pseudonymize_queriers;
        new.capture.snaplen = old.capture.snaplen + 1;
        new.capture.dns_ports = vec![53, 5353];
        let ch = changed_keys(&flatten(&old), &flatten(&new));
        let keys: Vec<&str> = ch.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(
            keys,
            [
                "capture.dns_ports",
                "capture.snaplen",
                "privacy.pseudonymize_queriers"
            ]
        );
        assert!(applied_live("capture.dns_ports"));
        assert!(!applied_live("capture.snaplen"));
        assert!(applied_live("privacy.pseudonymize_queriers"));
        assert!(applied_live("watch.entries"));
        assert!(!applied_live("storage.database"));
        assert!(!applied_live("storage.clickhouse.url"));
    }

    #[test]
    fn a_filter_swap_is_seen_once_per_change() {
        let f = FilterSwap::new("udp");
        let mut seen = 0;
        assert_eq!(f.changed(&mut seen), None);
        f.set("tcp");
        assert_eq!(f.changed(&mut seen).as_deref(), Some("tcp"));
        assert_eq!(f.changed(&mut seen), None);
    }
}
