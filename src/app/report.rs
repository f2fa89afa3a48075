//! `dnswatch report`.

use super::ExitError;
use crate::cli::ReportArgs;

pub(super) fn report(args: ReportArgs) -> Result<(), ExitError> {
    let _ = args;
    Err(ExitError::Runtime("report: not yet".into()))
}
