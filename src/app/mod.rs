//! Commands: wiring of config, sources, pipeline, store and output.

mod alerts;
mod db;
mod fleet;
mod lookups;
mod pdns;
mod replay;
mod report;

use crate::cli::{Cli, Command};
use crate::config::Config;

pub use crate::config::{setup, Setup};
pub use crate::exit::ExitError;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), ExitError> {
    match cli.command {
        Command::Replay(args) => replay::replay(args),
        Command::Run(args) => crate::daemon::run(args).map_err(ExitError::from),
        Command::Lookups(args) => lookups::lookups(args),
        Command::Pdns(args) => pdns::pdns(args),
        Command::Alerts(args) => alerts::alerts(args),
        Command::Report(args) => report::report(args),
        Command::Db(cmd) => db::db(cmd),
        Command::Detect(args) => fleet::detect(args),
        Command::CheckConfig(args) => check_config(&args),
    }
}

/// `check-config`: what `run` would refuse, found without running: the
/// file (syntax, types, ranges), the watch list, the BPF filter (compiled by
/// libpcap) and the interfaces.
fn check_config(args: &crate::cli::CheckConfigArgs) -> Result<(), ExitError> {
    use crate::capture::live::{check_filter, default_filter, interface_exists};
    let usage = |e: crate::config::ConfigError| ExitError::Usage(e.to_string());
    let cfg = Config::load(&args.config).map_err(usage)?;
    let watch = cfg.watchlist(&[]).map_err(usage)?;
    let c = &cfg.raw.capture;
    let (filter, key) = if c.filter.trim().is_empty() {
        (default_filter(&c.dns_ports), "capture.dns_ports")
    } else {
        (c.filter.clone(), "capture.filter")
    };
    check_filter(&filter).map_err(|e| {
        usage(cfg.invalid(
            key,
            format!("libpcap cannot compile the filter {filter:?}: {e}"),
        ))
    })?;
    for iface in &c.interfaces {
        match interface_exists(iface) {
            Ok(true) => {}
            Ok(false) => {
                return Err(usage(cfg.invalid(
                    "capture.interfaces",
                    format!("no interface {iface:?} on this machine (see `ip link`)"),
                )))
            }
            Err(e) => {
                tracing::warn!("cannot list interfaces ({e}); capture.interfaces not checked");
                break;
            }
        }
    }
    let ch = &cfg.raw.storage.clickhouse;
    if ch.record == "all" && ch.url.is_empty() {
        tracing::warn!(
            "{}: storage.clickhouse.record = \"all\" applies only with a ClickHouse sink (storage.clickhouse.url is empty; `--clickhouse URL` would set it)",
            args.config.display()
        );
    }
    tracing::debug!(entries = watch.len(), "configuration valid");
    Ok(())
}
