//! Commands: wiring of config, sources, pipeline, store and output.

mod alerts;
mod db;
mod fleet;
mod lookups;
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
