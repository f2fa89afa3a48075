//! Commands: wiring of config, sources, pipeline, store and output.

mod alerts;
mod db;
mod fleet;
mod lookups;
mod replay;
mod report;
pub mod writer;

use std::path::PathBuf;

use crate::cli::{Cli, Command, CommonArgs};
use crate::config::{Config, DEFAULT_DB};
use crate::watch::Watchlist;

/// A failed command, mapped to the exit status.
#[derive(Debug)]
pub enum ExitError {
    /// Runtime failure (exit 1): the message was already printed or is here.
    Runtime(String),
    /// Usage or configuration error (exit 2).
    Usage(String),
}

impl ExitError {
    /// Process exit status.
    pub fn code(&self) -> u8 {
        match self {
            Self::Runtime(_) => 1,
            Self::Usage(_) => 2,
        }
    }
    /// The message.
    pub fn message(&self) -> &str {
        match self {
            Self::Runtime(m) | Self::Usage(m) => m,
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), ExitError> {
    match cli.command {
        Command::Replay(args) => replay::replay(args),
        Command::Run(args) => crate::daemon::run(args),
        Command::Lookups(args) => lookups::lookups(args),
        Command::Alerts(args) => alerts::alerts(args),
        Command::Report(args) => report::report(args),
        Command::Db(cmd) => db::db(cmd),
        Command::Detect(args) => fleet::detect(args),
        Command::CheckConfig(args) => {
            let cfg = Config::load(&args.config).map_err(|e| ExitError::Usage(e.to_string()))?;
            let watch = cfg
                .watchlist(&[])
                .map_err(|e| ExitError::Usage(e.to_string()))?;
            tracing::debug!(entries = watch.len(), "configuration valid");
            Ok(())
        }
    }
}

/// Config, watch list and paths resolved from the shared options.
#[derive(Debug)]
pub(crate) struct Setup {
    pub(crate) config: Config,
    pub(crate) watch: Watchlist,
    pub(crate) db: PathBuf,
    pub(crate) alerts: Option<PathBuf>,
    /// The ClickHouse sink's settings, when one is configured or given.
    pub(crate) clickhouse: Option<crate::store::clickhouse::Settings>,
}

/// The sink(s) to write: SQLite, plus ClickHouse when configured.
/// `require_server`: fail now when ClickHouse cannot be reached or its
/// schema is wrong (replay) instead of spooling until it can (daemon).
pub(crate) fn sinks(
    s: &Setup,
    sqlite: crate::store::sqlite::SqliteStore,
    require_server: bool,
) -> Result<
    (
        Box<dyn crate::store::Sink>,
        Option<crate::store::clickhouse::StatsHandle>,
    ),
    ExitError,
> {
    let Some(settings) = s.clickhouse.clone() else {
        return Ok((Box::new(sqlite), None));
    };
    let settings = crate::store::clickhouse::Settings {
        require_server,
        ..settings
    };
    let ch = crate::store::clickhouse::ClickHouseSink::open(settings)
        .map_err(|e| ExitError::Runtime(e.to_string()))?;
    let stats = ch.stats_handle();
    Ok((
        Box::new(crate::store::Tee::new(vec![Box::new(sqlite), Box::new(ch)])),
        Some(stats),
    ))
}

pub(crate) fn setup(common: &CommonArgs) -> Result<Setup, ExitError> {
    let usage = |e: crate::config::ConfigError| ExitError::Usage(e.to_string());
    let mut config = match &common.config {
        Some(path) => Config::load(path).map_err(usage)?,
        None => Config::default(),
    };
    if !common.ports.is_empty() {
        config.raw.capture.dns_ports = common.ports.clone();
    }
    crate::store::set_file_mode(config.file_mode().map_err(usage)?);
    let watch = config.watchlist(&common.watch).map_err(usage)?;
    let db = common
        .db
        .clone()
        .or_else(|| config.raw.storage.database.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DB));
    let alerts = common
        .alerts
        .clone()
        .or_else(|| config.raw.alerts.log.clone());
    let clickhouse = config.clickhouse(common.clickhouse.as_deref(), common.sensor.as_deref(), &db);
    if let Some(url) = &common.clickhouse {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ExitError::Usage(format!(
                "--clickhouse {url}: the URL must start with http:// or https://"
            )));
        }
    }
    Ok(Setup {
        config,
        watch,
        db,
        alerts,
        clickhouse,
    })
}
