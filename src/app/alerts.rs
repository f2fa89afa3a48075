//! `dnswatch alerts`.

use std::io::Write;
use std::time::Duration;

use super::ExitError;
use crate::cli::{AlertFormat, AlertsArgs};
use crate::model::Alert;
use crate::store::sqlite::SqliteStore;
use crate::time;

fn keep(a: &Alert, args: &AlertsArgs, since: Option<i64>, until: Option<i64>) -> bool {
    since.is_none_or(|s| a.ts_us >= s)
        && until.is_none_or(|u| a.ts_us < u)
        && args.kind.as_deref().is_none_or(|k| a.kind == k)
        && args.entry.as_deref().is_none_or(|e| a.entry == e)
}

/// Header of `--format csv`.
pub(super) const CSV_HEADER: &str = "ts,severity,kind,entry,name,querier,message";

/// One alert as a CSV row (RFC 4180 quoting).
pub(super) fn csv_row(a: &Alert) -> String {
    use super::lookups::csv_field;
    format!(
        "{},{},{},{},{},{},{}",
        time::rfc3339(a.ts_us),
        a.severity.as_str(),
        csv_field(&a.kind),
        csv_field(&a.entry),
        csv_field(&a.name),
        csv_field(a.querier.as_deref().unwrap_or("")),
        csv_field(&a.message)
    )
}

/// `--since`/`--until` of `alerts`, or a usage error naming the option.
pub(super) fn time_opt(flag: &str, v: &Option<String>) -> Result<Option<i64>, ExitError> {
    v.as_deref()
        .map(|s| {
            time::parse(s).ok_or_else(|| {
                ExitError::Usage(format!(
                    "{flag} {s:?}: not a time (use RFC 3339, YYYY-MM-DD[ HH:MM[:SS]] in UTC, or @unix-seconds)"
                ))
            })
        })
        .transpose()
}

fn print(out: &mut impl Write, a: &Alert, format: AlertFormat) -> std::io::Result<()> {
    match format {
        AlertFormat::Csv => writeln!(out, "{}", csv_row(a)),
        AlertFormat::Json => writeln!(out, "{}", a.to_json()),
        AlertFormat::Ecs => writeln!(out, "{}", a.to_ecs()),
        AlertFormat::Table => writeln!(
            out,
            "{:<27} {:<8} {:<13} {:<24} {}",
            time::rfc3339(a.ts_us),
            a.severity.as_str(),
            a.kind,
            a.entry,
            a.message
        ),
    }
}

pub(super) fn alerts(args: AlertsArgs) -> Result<(), ExitError> {
    if args.fleet.clickhouse.is_some() {
        return super::fleet::alerts(&args);
    }
    let since = time_opt("--since", &args.since)?;
    let until = time_opt("--until", &args.until)?;
    let store =
        SqliteStore::open_read_only(&args.db).map_err(|e| ExitError::Runtime(e.to_string()))?;
    let stdout = std::io::stdout();
    let mut last_id = 0i64;
    if args.format == AlertFormat::Table {
        let _ = writeln!(
            stdout.lock(),
            "{:<27} {:<8} {:<13} {:<24} MESSAGE",
            "TIME",
            "SEVERITY",
            "KIND",
            "ENTRY"
        );
    }
    if args.format == AlertFormat::Csv {
        let _ = writeln!(stdout.lock(), "{CSV_HEADER}");
    }
    loop {
        let batch = store
            .alerts_after(last_id)
            .map_err(|e| ExitError::Runtime(e.to_string()))?;
        let mut out = stdout.lock();
        for (id, a) in &batch {
            last_id = *id;
            if keep(a, &args, since, until) {
                if let Err(e) = print(&mut out, a, args.format) {
                    // A closed pipe ends a follow quietly.
                    return match e.kind() {
                        std::io::ErrorKind::BrokenPipe => Ok(()),
                        _ => Err(ExitError::Runtime(e.to_string())),
                    };
                }
            }
        }
        let _ = out.flush();
        if !args.follow {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
