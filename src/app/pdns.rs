//! `dnswatch pdns`.

use std::io::{BufWriter, Write};

use super::lookups::{csv_field, end_output, parse_time};
use super::ExitError;
use crate::cli::{PdnsArgs, PdnsFormat};
use crate::store::pdns::{cof, PdnsQuery};
use crate::store::sqlite::SqliteStore;
use crate::store::StoreError;
use crate::time;

pub(super) fn pdns(args: PdnsArgs) -> Result<(), ExitError> {
    let q = PdnsQuery {
        name: args.name.clone(),
        rdata: args.rdata.clone(),
        since_us: parse_time("--since", &args.since)?,
        until_us: parse_time("--until", &args.until)?,
        sensor: args.sensor.clone(),
    };
    let store =
        SqliteStore::open_read_only(&args.db).map_err(|e| ExitError::Runtime(e.to_string()))?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut io_err: Option<std::io::Error> = None;
    let limit = args.limit.unwrap_or(usize::MAX);
    let mut n = 0usize;
    let header = match args.format {
        PdnsFormat::Csv => {
            Some("rrname,rrtype,rdata,time_first,time_last,count,bailiwick,sensor".to_string())
        }
        PdnsFormat::Table => Some(format!(
            "{:<40} {:<6} {:<40} {:<20} {:<20} {:>8} BAILIWICK",
            "RRNAME", "RRTYPE", "RDATA", "FIRST", "LAST", "COUNT"
        )),
        PdnsFormat::Json => None,
    };
    if let Some(h) = header {
        if let Err(e) = writeln!(out, "{h}") {
            io_err = Some(e);
        }
    }
    let seconds = |us: i64| {
        let mut t = time::rfc3339(us.div_euclid(1_000_000) * 1_000_000);
        // Whole seconds: drop a `.000000` fraction if the formatter wrote one.
        if let Some(dot) = t.find('.') {
            if let Some(z) = t[dot..].find('Z') {
                t.replace_range(dot..dot + z, "");
            }
        }
        t
    };
    let res = store.pdns(&q, &mut |r| {
        if n >= limit || io_err.is_some() {
            return false;
        }
        n += 1;
        let w = match args.format {
            PdnsFormat::Json => writeln!(out, "{}", cof(&r)),
            PdnsFormat::Csv => writeln!(
                out,
                "{},{},{},{},{},{},{},{}",
                csv_field(&r.rrname),
                r.rrtype,
                csv_field(&r.rdata),
                time::rfc3339(r.time_first_us),
                time::rfc3339(r.time_last_us),
                r.count,
                csv_field(&r.bailiwick),
                csv_field(&r.sensor),
            ),
            PdnsFormat::Table => writeln!(
                out,
                "{:<40} {:<6} {:<40} {:<20} {:<20} {:>8} {}",
                r.rrname,
                r.rrtype,
                r.rdata,
                seconds(r.time_first_us),
                seconds(r.time_last_us),
                r.count,
                if r.bailiwick.is_empty() {
                    "-"
                } else {
                    &r.bailiwick
                },
            ),
        };
        match w {
            Ok(()) => true,
            Err(e) => {
                io_err = Some(e);
                false
            }
        }
    });
    res.map_err(|e| match e {
        StoreError::PdnsQuery(q) => ExitError::Usage(q.to_string()),
        other => ExitError::Runtime(other.to_string()),
    })?;
    end_output(io_err, &mut out)
}
