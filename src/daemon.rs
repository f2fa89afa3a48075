//! `dnswatch run`: live capture (issue 4).

use crate::app::ExitError;
use crate::cli::RunArgs;

/// Runs the daemon.
pub fn run(args: RunArgs) -> Result<(), ExitError> {
    let _ = args;
    Err(ExitError::Runtime("live capture is not built yet".into()))
}
