//! `dnswatch db prune|stats`.

use super::ExitError;
use crate::cli::DbCommand;
use crate::store::sqlite::SqliteStore;
use crate::time;

pub(super) fn db(cmd: DbCommand) -> Result<(), ExitError> {
    let rt = |e: crate::store::StoreError| ExitError::Runtime(e.to_string());
    match cmd {
        DbCommand::Prune(a) => {
            let now_us = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
            let before = time::days_before(now_us, a.older_than_days)
                .filter(|_| a.older_than_days <= time::MAX_DAYS)
                .ok_or_else(|| {
                    ExitError::Usage(format!(
                        "--older-than-days {}: more than {} days (100 years) is not a representable horizon; nothing deleted",
                        a.older_than_days,
                        time::MAX_DAYS
                    ))
                })?;
            // Pruning a database that is not there is a mistake (a wrong
            // path), not a reason to create an empty one.
            match std::fs::metadata(&a.db) {
                Ok(m) if m.is_file() => {}
                Ok(_) => {
                    return Err(ExitError::Usage(format!(
                        "--db {}: not a database file; nothing pruned",
                        a.db.display()
                    )))
                }
                Err(e) => {
                    return Err(ExitError::Usage(format!(
                        "--db {}: no such database ({e}); nothing pruned",
                        a.db.display()
                    )))
                }
            }
            let mut store = SqliteStore::open(&a.db).map_err(rt)?;
            let n = store.prune(before).map_err(rt)?;
            println!("deleted {n} lookups before {}", time::rfc3339(before));
            Ok(())
        }
        DbCommand::Stats(a) if a.fleet.clickhouse.is_some() => super::fleet::stats(&a.fleet),
        DbCommand::Stats(a) => {
            let store = SqliteStore::open_read_only(&a.db).map_err(rt)?;
            let s = store.stats().map_err(rt)?;
            for (k, v) in s {
                println!("{k:<22} {v}");
            }
            Ok(())
        }
    }
}
