//! `dnswatch db prune|stats`.

use super::ExitError;
use crate::cli::DbCommand;
use crate::store::sqlite::SqliteStore;
use crate::time;

pub(super) fn db(cmd: DbCommand) -> Result<(), ExitError> {
    let rt = |e: crate::store::StoreError| ExitError::Runtime(e.to_string());
    match cmd {
        DbCommand::Prune(a) => {
            let mut store = SqliteStore::open(&a.db).map_err(rt)?;
            let now_us = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as i64);
            let before = now_us - i64::from(a.older_than_days) * 86_400_000_000;
            let n = store.prune(before).map_err(rt)?;
            println!("deleted {n} lookups before {}", time::rfc3339(before));
            Ok(())
        }
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
