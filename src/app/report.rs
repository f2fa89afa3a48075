//! `dnswatch report`: the command-line face of [`crate::report`].
//!
//! Checks the arguments (times, the events file), builds the report, writes
//! the SVG when asked and the report to stdout, and maps [`ReportError`] to
//! an exit status: a bad events file is a usage error (2), anything else a
//! runtime failure (1).

use std::io::{BufWriter, Write};

use super::ExitError;
use crate::cli::{ReportArgs, ReportFormat};
use crate::report::{self, Events, ReportError};
use crate::store::sqlite::SqliteStore;
use crate::time;

fn parse_time(flag: &str, value: &Option<String>) -> Result<Option<i64>, ExitError> {
    match value {
        None => Ok(None),
        Some(v) => report::parse_when(v).map(Some).ok_or_else(|| {
            ExitError::Usage(format!(
                "{flag} {v:?}: not a time (use RFC 3339, YYYY-MM-DD[ HH:MM[:SS]] in UTC, or @unix-seconds)"
            ))
        }),
    }
}

/// The exit status and message of a failed report.
fn exit_error(e: ReportError) -> ExitError {
    match e {
        ReportError::ReadEvents { .. } => ExitError::Usage(format!("--events {e}")),
        e if e.is_usage() => ExitError::Usage(e.to_string()),
        e => ExitError::Runtime(e.to_string()),
    }
}

pub(super) fn report(args: ReportArgs) -> Result<(), ExitError> {
    // Usage errors first: times and the events file.
    let from = parse_time("--from", &args.from)?;
    let to = parse_time("--to", &args.to)?;
    if let (Some(f), Some(t)) = (from, to) {
        if f >= t {
            return Err(ExitError::Usage(format!(
                "--from {} is not before --to {}",
                time::rfc3339(f),
                time::rfc3339(t)
            )));
        }
    }
    let events = match &args.events {
        None => None,
        Some(path) => Some(Events::load(path).map_err(exit_error)?),
    };
    // The fleet: the entry's lookups and the alerts of every sensor, copied
    // into a private SQLite database the report reads as usual.
    let fleet = match &args.fleet.clickhouse {
        Some(_) => Some(super::fleet::materialize(
            &args.fleet,
            &crate::store::sqlite::LookupFilter {
                entry: Some(args.entry.clone()),
                since_us: from,
                until_us: to,
                ..Default::default()
            },
            true,
        )?),
        None => None,
    };
    let db = fleet.as_ref().map_or_else(|| args.db.clone(), |t| t.path());
    let store = SqliteStore::open_read_only(&db).map_err(|e| ExitError::Runtime(e.to_string()))?;
    let r = report::build(&args.entry, from, to, &store, events).map_err(exit_error)?;

    if let Some(path) = &args.svg {
        report::svg::write_file(path, &r).map_err(exit_error)?;
    }

    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let res = match args.format {
        ReportFormat::Json => report::json::write(&mut out, &r),
        ReportFormat::Text => report::text::write_text(&mut out, &r),
    }
    .and_then(|()| out.flush());
    match res {
        // A closed pipe (`| head`) is a normal way to stop reading.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(ExitError::Runtime(format!("writing output: {e}")))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn bad_events_file_is_a_usage_error() {
        let e = exit_error(
            Events::parse(Path::new("ev.csv"), "2016-07-08,a\nnot a date,b\n").unwrap_err(),
        );
        assert_eq!(e.code(), 2);
        assert!(e.message().contains("ev.csv:2"), "{}", e.message());
        let e = exit_error(Events::load(Path::new("/nonexistent/ev.csv")).unwrap_err());
        assert_eq!(e.code(), 2);
        assert!(
            e.message().starts_with("--events /nonexistent/ev.csv: "),
            "{}",
            e.message()
        );
        let e = exit_error(ReportError::WriteSvg {
            path: "t.svg".into(),
            source: std::io::Error::other("full"),
        });
        assert_eq!(e.code(), 1);
        assert_eq!(e.message(), "writing t.svg: full");
    }
}
