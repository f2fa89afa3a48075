//! Fleet reads: `lookups`, `alerts`, `report`, `db stats` and `detect`
//! with `--clickhouse URL`.
//!
//! `lookups` and `report` copy the fleet's matching lookups (and alerts)
//! from ClickHouse into a private temporary SQLite database and run the
//! ordinary command on it, so every format, filter and report section is
//! the same code for one sensor and for the fleet.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::ExitError;
use crate::cli::{DetectArgs, FleetArgs};
use crate::config::Config;
use crate::store::clickhouse::client::Client;
use crate::store::clickhouse::{read, schema, Settings};
use crate::store::sqlite::{LookupFilter, SqliteStore};
use crate::store::{Batch, Sink};

fn rt(e: impl std::fmt::Display) -> ExitError {
    ExitError::Runtime(e.to_string())
}

/// The server and settings named by `--clickhouse` and `--config`.
pub(super) fn connect(
    url: &str,
    config: Option<&Path>,
) -> Result<(Client, Settings, Config), ExitError> {
    let cfg = match config {
        Some(p) => Config::load(p).map_err(|e| ExitError::Usage(e.to_string()))?,
        None => Config::default(),
    };
    let settings = cfg
        .clickhouse(Some(url), Path::new("unused"))
        .ok_or_else(|| ExitError::Usage("--clickhouse needs a URL".into()))?;
    let client = Client::new(&settings.endpoint).map_err(rt)?;
    Ok((client, settings, cfg))
}

/// A temporary SQLite database, removed on drop.
pub(super) struct TempDb {
    dir: PathBuf,
}

impl TempDb {
    pub(super) fn path(&self) -> PathBuf {
        self.dir.join("fleet.db")
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Copies the fleet's lookups matching `filter` (and, with `alerts`, the
/// alerts) into a temporary SQLite database.
pub(super) fn materialize(
    fleet: &FleetArgs,
    filter: &LookupFilter,
    alerts: bool,
) -> Result<TempDb, ExitError> {
    let url = fleet.clickhouse.as_deref().unwrap_or_default();
    let (client, settings, _) = connect(url, fleet.config.as_deref())?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!("dnswatch-fleet-{}-{nanos}", std::process::id()));
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| rt(format!("{}: {e}", dir.display())))?;
    }
    let tmp = TempDb { dir };
    let mut store = SqliteStore::open(&tmp.path()).map_err(rt)?;
    let mut batch = Batch::default();
    let mut failed: Option<crate::store::StoreError> = None;
    read::lookups(
        &client,
        &settings,
        filter,
        fleet.sensor.as_deref(),
        &mut |l| {
            batch.lookups.push(l.lookup);
            if batch.lookups.len() >= 20_000 {
                if let Err(e) = store.write(&batch) {
                    failed = Some(e);
                    return false;
                }
                batch.lookups.clear();
            }
            true
        },
    )
    .map_err(rt)?;
    if let Some(e) = failed {
        return Err(rt(e));
    }
    if alerts {
        batch.alerts = read::alerts(&client, &settings, fleet.sensor.as_deref(), None, None)
            .map_err(rt)?
            .into_iter()
            .map(|a| a.alert)
            .collect();
    }
    store.write(&batch).map_err(rt)?;
    Ok(tmp)
}

/// `alerts --clickhouse`: every sensor's alerts and the fleet's, with
/// `sensor` and `scope`.
pub(super) fn alerts(args: &crate::cli::AlertsArgs) -> Result<(), ExitError> {
    let url = args.fleet.clickhouse.as_deref().unwrap_or_default();
    let (client, settings, _) = connect(url, args.fleet.config.as_deref())?;
    let since = super::alerts::time_opt("--since", &args.since)?;
    let until = super::alerts::time_opt("--until", &args.until)?;
    let list = read::alerts(
        &client,
        &settings,
        args.fleet.sensor.as_deref(),
        args.kind.as_deref(),
        args.entry.as_deref(),
    )
    .map_err(rt)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let table = args.format == crate::cli::AlertFormat::Table;
    if table {
        let _ = writeln!(
            out,
            "{:<27} {:<16} {:<8} {:<13} {:<24} MESSAGE",
            "TIME", "SENSOR", "SEVERITY", "KIND", "ENTRY"
        );
    }
    let csv = args.format == crate::cli::AlertFormat::Csv;
    if csv {
        let _ = writeln!(out, "{},sensor", super::alerts::CSV_HEADER);
    }
    for a in list
        .iter()
        .filter(|a| since.is_none_or(|s| a.alert.ts_us >= s))
        .filter(|a| until.is_none_or(|u| a.alert.ts_us < u))
    {
        let res = if table {
            writeln!(
                out,
                "{:<27} {:<16} {:<8} {:<13} {:<24} {}",
                crate::time::rfc3339(a.alert.ts_us),
                a.sensor,
                a.alert.severity.as_str(),
                a.alert.kind,
                a.alert.entry,
                a.alert.message
            )
        } else if csv {
            writeln!(
                out,
                "{},{}",
                super::alerts::csv_row(&a.alert),
                super::lookups::csv_field(&a.sensor)
            )
        } else {
            let shape = if args.format == crate::cli::AlertFormat::Ecs {
                crate::model::Shape::Ecs
            } else {
                crate::model::Shape::Json
            };
            writeln!(out, "{}", fleet_json(&a.alert, &a.sensor, &a.scope, shape))
        };
        if let Err(e) = res {
            return match e.kind() {
                std::io::ErrorKind::BrokenPipe => Ok(()),
                _ => Err(rt(e)),
            };
        }
    }
    Ok(())
}

fn fleet_json(
    a: &crate::model::Alert,
    sensor: &str,
    scope: &str,
    shape: crate::model::Shape,
) -> serde_json::Value {
    let mut v = a.render(shape);
    match shape {
        crate::model::Shape::Json => {
            if let Some(o) = v.as_object_mut() {
                o.insert("sensor".into(), sensor.into());
                o.insert("scope".into(), scope.into());
            }
        }
        crate::model::Shape::Ecs => {
            v["observer"]["hostname"] = sensor.into();
            v["dnswatch"]["scope"] = scope.into();
        }
    }
    v
}

/// `db stats --clickhouse`: rows per table, sensor and day.
pub(super) fn stats(fleet: &FleetArgs) -> Result<(), ExitError> {
    let url = fleet.clickhouse.as_deref().unwrap_or_default();
    let (client, settings, _) = connect(url, fleet.config.as_deref())?;
    let rows = read::stats(&client, &settings).map_err(rt)?;
    println!(
        "{:<20} {:<20} {:<10} {:>12}",
        "TABLE", "SENSOR", "DAY", "ROWS"
    );
    for (t, s, d, n) in rows {
        if fleet.sensor.as_deref().is_some_and(|f| f != s) {
            continue;
        }
        println!("{t:<20} {s:<20} {d:<10} {n:>12}");
    }
    Ok(())
}

/// `detect --clickhouse URL --since T [--until T]`.
pub(super) fn detect(args: DetectArgs) -> Result<(), ExitError> {
    let url = args.clickhouse.as_deref().unwrap_or_default();
    let (client, settings, cfg) = connect(url, args.config.as_deref())?;
    let since = crate::time::parse(&args.since)
        .ok_or_else(|| ExitError::Usage(format!("--since {:?}: not a time", args.since)))?;
    let until = match &args.until {
        Some(u) => Some(
            crate::time::parse(u)
                .ok_or_else(|| ExitError::Usage(format!("--until {u:?}: not a time")))?,
        ),
        None => None,
    };
    let filter = LookupFilter {
        since_us: Some(since),
        until_us: until,
        ..LookupFilter::default()
    };
    let mut engine =
        crate::detect::Engine::new(cfg.raw.detectors.clone(), &crate::model::Preload::default());
    let mut last = since;
    let mut n = 0u64;
    read::lookups(
        &client,
        &settings,
        &filter,
        args.sensor.as_deref(),
        &mut |l| {
            engine.advance(l.lookup.ts_us);
            engine.lookup(&l.lookup);
            last = last.max(l.lookup.ts_us);
            n += 1;
            true
        },
    )
    .map_err(rt)?;
    engine.advance(until.unwrap_or(last));
    engine.finish();
    let alerts = engine.take_alerts();
    tracing::info!(lookups = n, alerts = alerts.len(), "fleet detection done");
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for a in &alerts {
        let _ = writeln!(
            out,
            "{}",
            fleet_json(a, "fleet", "fleet", crate::model::Shape::Json)
        );
    }
    if args.dry_run || alerts.is_empty() {
        return Ok(());
    }
    // Store them, leaving out those already stored by an earlier run.
    let prepared = crate::store::clickhouse::prepare(&settings).map_err(rt)?;
    let table = format!(
        "{}.{}",
        schema::quote_ident(&settings.database),
        schema::quote_ident(&format!("{}alerts", settings.table_prefix))
    );
    let ids: Vec<String> = alerts.iter().map(|a| schema::quote_str(&a.id)).collect();
    let existing = prepared
        .query(&format!(
            "SELECT alert_id FROM {table} WHERE scope = 'fleet' AND alert_id IN ({}) FORMAT TabSeparated",
            ids.join(", ")
        ))
        .map_err(rt)?;
    let have: std::collections::HashSet<&str> = existing.lines().collect();
    let mut body = Vec::new();
    let mut rows = 0;
    for a in alerts.iter().filter(|a| !have.contains(a.id.as_str())) {
        schema::alert_row(&mut body, a, "fleet", "fleet", 0);
        rows += 1;
    }
    if rows > 0 {
        let cols: Vec<String> = schema::ALERTS
            .columns
            .iter()
            .map(|(c, _)| schema::quote_ident(c))
            .collect();
        prepared
            .insert(&table, &cols.join(", "), &body, "")
            .map_err(rt)?;
    }
    Ok(())
}
