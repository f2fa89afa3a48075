//! `dnswatch lookups`.

use std::io::{BufWriter, Write};

use super::ExitError;
use crate::cli::{Format, LookupsArgs};
use crate::store::query::{qtype_filter, rcode_filter, Cidr, FilterError};
use crate::store::sqlite::{LookupFilter, SqliteStore};
use crate::time;

pub(super) fn parse_time(flag: &str, value: &Option<String>) -> Result<Option<i64>, ExitError> {
    match value {
        None => Ok(None),
        Some(v) => time::parse(v).map(Some).ok_or_else(|| {
            ExitError::Usage(format!(
                "{flag} {v:?}: not a time (use RFC 3339, YYYY-MM-DD[ HH:MM[:SS]] in UTC, or @unix-seconds)"
            ))
        }),
    }
}

/// A filter option's value parsed, or a usage error naming the option and
/// the value (never an empty result for a typo).
fn parse_opt<T>(
    flag: &str,
    value: &Option<String>,
    parse: impl Fn(&str) -> Result<T, FilterError>,
) -> Result<Option<T>, ExitError> {
    value
        .as_deref()
        .map(|v| parse(v).map_err(|e| ExitError::Usage(format!("{flag} {v:?}: {e}"))))
        .transpose()
}

/// Ends a streamed output: the first write error (`io_err`) or a failed
/// flush is a runtime error, except a closed pipe (`| head`), which is a
/// normal way to stop reading.
pub(super) fn end_output(
    io_err: Option<std::io::Error>,
    out: &mut impl std::io::Write,
) -> Result<(), ExitError> {
    match io_err.map(|e| e.kind()) {
        // A closed pipe (`| head`) is a normal way to stop reading.
        Some(std::io::ErrorKind::BrokenPipe) | None => {}
        Some(k) => return Err(ExitError::Runtime(format!("writing output: {k}"))),
    }
    match out.flush() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(ExitError::Runtime(e.to_string()))
        }
        _ => Ok(()),
    }
}

pub(super) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The CSV columns after `source` (sensor to community_id).
fn csv_tail(l: &crate::model::Lookup) -> String {
    let opt = |v: Option<String>| v.unwrap_or_default();
    let authority: Vec<String> = l
        .authority
        .iter()
        .map(|a| format!("{} {} {}", a.name, a.rtype, a.data))
        .collect();
    let entries: Vec<&str> = l.entries().collect();
    [
        csv_field(&l.sensor),
        csv_field(&entries.join("|")),
        l.dns_id.to_string(),
        l.opcode.to_string(),
        l.counts.qd.to_string(),
        l.counts.an.to_string(),
        l.counts.ns.to_string(),
        l.counts.ar.to_string(),
        opt(l.edns.map(|e| e.version.to_string())),
        opt(l.edns.map(|e| e.udp_size.to_string())),
        opt(l.edns.map(|e| e.dnssec_ok.to_string())),
        opt(l.edns.map(|e| e.z.to_string())),
        opt(l.query_size.map(|v| v.to_string())),
        opt(l.response_size.map(|v| v.to_string())),
        csv_field(&authority.join("|")),
        l.community_id(),
    ]
    .join(",")
}

pub(super) fn lookups(args: LookupsArgs) -> Result<(), ExitError> {
    let filter = LookupFilter {
        name: args.name.clone(),
        querier: None,
        entry: args.entry.clone(),
        since_us: parse_time("--since", &args.since)?,
        until_us: parse_time("--until", &args.until)?,
        querier_net: parse_opt("--querier", &args.querier, Cidr::parse)?,
        server_net: parse_opt("--server", &args.server, Cidr::parse)?,
        qtype: parse_opt("--qtype", &args.qtype, qtype_filter)?,
        rcode: parse_opt("--rcode", &args.rcode, rcode_filter)?,
    };
    // The fleet: matching lookups of every sensor (or --sensor), copied into
    // a private SQLite database read as usual.
    let fleet = match &args.fleet.clickhouse {
        Some(_) => Some(super::fleet::materialize(&args.fleet, &filter, false)?),
        None => None,
    };
    let db = fleet.as_ref().map_or_else(|| args.db.clone(), |t| t.path());
    let store = SqliteStore::open_read_only(&db).map_err(|e| ExitError::Runtime(e.to_string()))?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut io_err: Option<std::io::Error> = None;
    let mut n = 0usize;
    let limit = args.limit.unwrap_or(usize::MAX);
    if args.format == Format::Csv {
        let _ = writeln!(
            out,
            "ts,querier,querier_port,server,server_port,transport,qname,qtype,qclass,flags,rcode,answers,rtt_us,ecs,query_seen,answered,source,\
             sensor,entries,dns_id,opcode,qdcount,ancount,nscount,arcount,edns_version,edns_udp_size,edns_do,edns_z,\
             query_size,response_size,authority,community_id"
        );
    }
    if args.format == Format::Table {
        let _ = writeln!(
            out,
            "{:<27} {:<39} {:<30} {:<6} {:<9} {:<9} ANSWERS",
            "TIME", "QUERIER", "QNAME", "QTYPE", "RCODE", "RTT(ms)"
        );
    }
    let res = store.lookups(&filter, &mut |l| {
        if n >= limit {
            return false;
        }
        n += 1;
        let answers: Vec<String> = l
            .answers
            .iter()
            .map(|a| format!("{} {}", a.rtype, a.data))
            .collect();
        let r = match args.format {
            Format::Json => writeln!(out, "{}", l.to_json()),
            Format::Ecs => writeln!(out, "{}", l.to_ecs()),
            Format::Csv => writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                time::rfc3339(l.ts_us),
                l.querier.ip(),
                l.querier.port(),
                l.server.ip(),
                l.server.port(),
                l.transport,
                csv_field(&l.qname),
                l.qtype,
                l.qclass,
                csv_field(&l.flags),
                l.rcode.as_deref().unwrap_or(""),
                csv_field(&answers.join("|")),
                l.rtt_us.map_or(String::new(), |v| v.to_string()),
                l.ecs.as_deref().unwrap_or(""),
                l.query_seen,
                l.answered,
                csv_field(&l.source),
                csv_tail(&l),
            ),
            Format::Table => writeln!(
                out,
                "{:<27} {:<39} {:<30} {:<6} {:<9} {:<9} {}",
                time::rfc3339(l.ts_us),
                l.querier.ip(),
                l.qname,
                l.qtype,
                l.rcode
                    .as_deref()
                    .unwrap_or(if l.answered { "?" } else { "-" }),
                l.rtt_us
                    .map_or("-".to_string(), |v| format!("{:.3}", v as f64 / 1000.0)),
                answers.join(", "),
            ),
        };
        match r {
            Ok(()) => true,
            Err(e) => {
                io_err = Some(e);
                false
            }
        }
    });
    res.map_err(|e| ExitError::Runtime(e.to_string()))?;
    end_output(io_err, &mut out)
}
