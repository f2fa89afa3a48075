//! SIGHUP: re-read the configuration off the signal loop and hand the
//! pipeline thread what it can swap in (watch list, detector settings), or
//! keep the running configuration when the new one is wrong.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

use super::systemd::sd_notify;
use crate::config::setup;
use crate::detect::DetectorConfig;
use crate::watch::Watchlist;

/// What the signal handler asks of the pipeline thread.
pub enum Control {
    /// A new watch list and detector settings.
    Reload(Box<(Arc<Watchlist>, DetectorConfig)>),
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

/// What a reload compares the new configuration with.
pub struct ReloadCtx {
    /// The command line's shared options (re-applied over the new file).
    pub common: crate::cli::CommonArgs,
    /// Interfaces came from the command line (config changes do not matter).
    pub cli_interfaces: bool,
    /// Database path in use.
    pub db: PathBuf,
    /// Interfaces in use.
    pub interfaces: Vec<String>,
    /// `storage.pdns` in use (the pipeline's scope is fixed at start).
    pub pdns: String,
    /// Outcomes, shown by the metrics.
    pub stats: Arc<ReloadStats>,
}

/// Re-reads the config for SIGHUP; `None` (after logging why) keeps the old one.
fn reload(old: &ReloadCtx) -> Option<Control> {
    match setup(&old.common) {
        Ok(new) => {
            if new.db != old.db {
                tracing::warn!(old = %old.db.display(), new = %new.db.display(), "database path changed: needs a restart; still writing the old one");
            }
            if new.config.raw.capture.interfaces != old.interfaces && !old.cli_interfaces {
                tracing::warn!("capture.interfaces changed: needs a restart");
            }
            if new.config.raw.storage.pdns != old.pdns {
                tracing::warn!(old = %old.pdns, new = %new.config.raw.storage.pdns, "storage.pdns changed: needs a restart");
            }
            Some(Control::Reload(Box::new((
                Arc::new(new.watch),
                new.config.raw.detectors.clone(),
            ))))
        }
        Err(e) => {
            tracing::error!(
                "reload failed, keeping the running configuration: {}",
                e.message()
            );
            None
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
