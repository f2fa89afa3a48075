//! Moving the rows of a schema-7 lookups table (text everywhere) into the
//! compact table of schema 8, in the migration's transaction (times
//! absolute, as schema 8 stores them: schema 9 gives them the base 0).

use rusqlite::Connection;

use super::write::{insert_lookups, Interner, Seqs};
use crate::model::{Answer, Lookup};
use crate::store::StoreError;

/// Lookups moved per insert call (bounds the memory of a migration).
const CHUNK: usize = 10_000;

/// Reads every row of `lookups_v7` as schema 7 read it, in its order
/// (`ts_us`, then `id`), writes it to the new `lookups` and drops the old
/// table.
pub fn migrate_rows(conn: &Connection) -> Result<(), StoreError> {
    let mut intern = Interner::default();
    let mut seqs = Seqs::default();
    let mut stmt = conn.prepare(
        "SELECT ts_us, entry, querier, querier_port, server, server_port, transport, qname, qtype, qclass,
                opcode, flags, rcode, answers, rtt_us, ecs, query_seen, answered, source, also, sensor,
                dns_id, qdcount, ancount, nscount, arcount, edns_version, edns_udp_size, edns_do, edns_z,
                query_size, response_size, authority, id
         FROM lookups_v7 ORDER BY ts_us, id",
    )?;
    let mut rows = stmt.query([])?;
    let mut chunk = Vec::with_capacity(CHUNK);
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(33)?;
        chunk.push(v7_lookup(r).map_err(|e| corrupt(id, e))?);
        if chunk.len() == CHUNK {
            insert_lookups(conn, &mut intern, &mut seqs, 0, &chunk)?;
            chunk.clear();
        }
    }
    insert_lookups(conn, &mut intern, &mut seqs, 0, &chunk)?;
    drop(rows);
    drop(stmt);
    conn.execute_batch("DROP TABLE lookups_v7")?;
    Ok(())
}

fn corrupt(id: i64, e: StoreError) -> StoreError {
    StoreError::Corrupt {
        table: "lookups",
        row: format!("id {id} (schema 7)"),
        reason: e.to_string(),
    }
}

/// One schema-7 row, decoded exactly as schema 7's reader decoded it
/// (an address that does not parse reads as 0.0.0.0, as it did).
fn v7_lookup(r: &rusqlite::Row<'_>) -> Result<Lookup, StoreError> {
    let parse_ip = |s: &str| {
        s.parse::<std::net::IpAddr>()
            .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]))
    };
    let querier: String = r.get(2)?;
    let server: String = r.get(4)?;
    Ok(Lookup {
        ts_us: r.get(0)?,
        entry: r.get(1)?,
        also: serde_json::from_str(&r.get::<_, String>(19)?)?,
        querier: std::net::SocketAddr::new(parse_ip(&querier), r.get(3)?),
        server: std::net::SocketAddr::new(parse_ip(&server), r.get(5)?),
        transport: r.get(6)?,
        qname: r.get(7)?,
        qtype: r.get(8)?,
        qclass: r.get(9)?,
        opcode: r.get(10)?,
        flags: r.get(11)?,
        rcode: r.get(12)?,
        answers: serde_json::from_str::<Vec<Answer>>(&r.get::<_, String>(13)?)?,
        rtt_us: r.get(14)?,
        ecs: r.get(15)?,
        query_seen: r.get(16)?,
        answered: r.get(17)?,
        source: r.get(18)?,
        sensor: r.get(20)?,
        dns_id: r.get(21)?,
        counts: crate::model::Counts {
            qd: r.get(22)?,
            an: r.get(23)?,
            ns: r.get(24)?,
            ar: r.get(25)?,
        },
        edns: match (r.get::<_, Option<u8>>(26)?, r.get::<_, Option<u16>>(27)?) {
            (Some(version), Some(udp_size)) => Some(crate::model::Edns {
                version,
                udp_size,
                dnssec_ok: r.get::<_, Option<bool>>(28)?.unwrap_or(false),
                z: r.get::<_, Option<u16>>(29)?.unwrap_or(0),
            }),
            _ => None,
        },
        query_size: r.get(30)?,
        response_size: r.get(31)?,
        authority: serde_json::from_str::<Vec<Answer>>(&r.get::<_, String>(32)?)?,
    })
}
