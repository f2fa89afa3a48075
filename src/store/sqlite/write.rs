//! Writing lookups in the compact layout of schema 8: names and answer
//! sets interned (with an in-memory cache in the writer), addresses as
//! blobs, mnemonics as small integers ([`super::codec`]).

use rusqlite::{params, Connection, OptionalExtension};
use rustc_hash::FxHashMap;

use super::codec::{fnv64, port_code, split_source, Coded, Hdr, IpBytes};
use crate::model::{Answer, Lookup};
use crate::store::StoreError;

/// Schema 8: the compact lookups table and the tables it refers to. The
/// rows of the old table are moved by [`migrate_rows`] in the same
/// transaction.
pub const MIGRATION: &str = "
    DROP INDEX IF EXISTS lookups_ts;
    DROP INDEX IF EXISTS lookups_qname;
    DROP INDEX IF EXISTS lookups_querier;
    DROP INDEX IF EXISTS lookups_entry;
    ALTER TABLE lookups RENAME TO lookups_v7;
    -- Watch entries, query names, sensors and capture file names.
    CREATE TABLE names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
    -- Distinct answer (and authority) sections, as JSON, found by hash.
    CREATE TABLE answer_sets (id INTEGER PRIMARY KEY, hash INTEGER NOT NULL, body TEXT NOT NULL);
    CREATE INDEX answer_sets_hash ON answer_sets (hash);
    CREATE TABLE lookups (
        ts_us INTEGER NOT NULL,
        -- Order of lookups with the same ts_us (0 for the first).
        seq INTEGER NOT NULL,
        entry INTEGER NOT NULL,         -- names.id
        qname INTEGER NOT NULL,         -- names.id
        querier BLOB NOT NULL,          -- 4 or 16 bytes
        querier_port INTEGER NOT NULL,
        server BLOB NOT NULL,
        server_port INTEGER NOT NULL,
        -- No declared type (no affinity): an integer code or the text.
        transport NOT NULL,
        qtype NOT NULL,
        qclass NOT NULL,
        flags NOT NULL,
        rcode,
        answers INTEGER,                -- answer_sets.id, NULL: none
        rtt_us INTEGER,
        ecs TEXT,
        src_file INTEGER,               -- names.id of `file` in `file#packet`
        source NOT NULL,            -- the packet number, or the whole text
        sensor INTEGER NOT NULL,        -- names.id
        also TEXT,                      -- JSON list, NULL: none
        authority INTEGER,              -- answer_sets.id, NULL: none
        -- opcode, query_seen, answered, dns_id, counts, EDNS, sizes
        -- (codec::Hdr): no query filters on them, and one column costs
        -- one header byte where eleven cost eleven.
        hdr BLOB NOT NULL,
        PRIMARY KEY (ts_us, seq)
    ) WITHOUT ROWID;
    CREATE INDEX lookups_qname ON lookups (qname, ts_us);
    CREATE INDEX lookups_querier ON lookups (querier, ts_us);";

/// Interned ids cached in the writer (bounded: cleared when full).
#[derive(Debug, Default)]
pub struct Interner {
    names: FxHashMap<String, i64>,
    /// Keyed by the records themselves: a hit costs no serialisation.
    sets: FxHashMap<Vec<Answer>, i64>,
    /// The last name and id of each [`Slot`]: the entry, sensor and
    /// capture file of a lookup are nearly always the previous one's, and
    /// a string comparison is cheaper than hashing.
    last: [Option<(String, i64)>; 3],
}

/// The columns whose previous name [`Interner::name_in`] remembers.
#[derive(Clone, Copy, Debug)]
pub enum Slot {
    /// `entry`.
    Entry = 0,
    /// `sensor`.
    Sensor = 1,
    /// `src_file`.
    SrcFile = 2,
}

/// Cached names or answer sets before the cache is cleared.
const CACHE_MAX: usize = 200_000;

impl Interner {
    /// Forgets every cached id (after a failed transaction, whose new ids
    /// were rolled back).
    pub fn clear(&mut self) {
        self.names.clear();
        self.sets.clear();
        self.last = Default::default();
    }

    /// [`Interner::name`], first trying the previous name of `slot`.
    pub fn name_in(
        &mut self,
        conn: &Connection,
        slot: Slot,
        name: &str,
    ) -> Result<i64, StoreError> {
        if let Some((last, id)) = &self.last[slot as usize] {
            if last == name {
                return Ok(*id);
            }
        }
        let id = self.name(conn, name)?;
        match &mut self.last[slot as usize] {
            Some((last, last_id)) => {
                last.clear();
                last.push_str(name);
                *last_id = id;
            }
            empty => *empty = Some((name.to_string(), id)),
        }
        Ok(id)
    }

    /// The id of `name` in `names`, adding it when new.
    pub fn name(&mut self, conn: &Connection, name: &str) -> Result<i64, StoreError> {
        if let Some(id) = self.names.get(name) {
            return Ok(*id);
        }
        let found = conn
            .prepare_cached("SELECT id FROM names WHERE name = ?")?
            .query_row([name], |r| r.get(0))
            .optional()?;
        let id = match found {
            Some(id) => id,
            None => {
                conn.prepare_cached("INSERT INTO names (name) VALUES (?)")?
                    .execute([name])?;
                conn.last_insert_rowid()
            }
        };
        if self.names.len() >= CACHE_MAX {
            self.names.clear();
        }
        self.names.insert(name.to_string(), id);
        Ok(id)
    }

    /// The id of the answer set `records` in `answer_sets` (`None` when
    /// empty), adding it when new.
    pub fn set(
        &mut self,
        conn: &Connection,
        records: &[Answer],
    ) -> Result<Option<i64>, StoreError> {
        if records.is_empty() {
            return Ok(None);
        }
        if let Some(id) = self.sets.get(records) {
            return Ok(Some(*id));
        }
        let body = serde_json::to_string(records)?;
        let hash = fnv64(body.as_bytes());
        let found = conn
            .prepare_cached("SELECT id FROM answer_sets WHERE hash = ?1 AND body = ?2")?
            .query_row(params![hash, body], |r| r.get(0))
            .optional()?;
        let id = match found {
            Some(id) => id,
            None => {
                conn.prepare_cached("INSERT INTO answer_sets (hash, body) VALUES (?1, ?2)")?
                    .execute(params![hash, body])?;
                conn.last_insert_rowid()
            }
        };
        if self.sets.len() >= CACHE_MAX {
            self.sets.clear();
        }
        self.sets.insert(records.to_vec(), id);
        Ok(Some(id))
    }
}

/// The next `seq` of each `ts_us`, kept in memory so an insert costs no
/// extra B-tree seek: it gives exactly what
/// `SELECT coalesce(max(seq) + 1, 0) FROM lookups WHERE ts_us = ?` gives.
///
/// Invariant: every `ts_us` above `watermark` that the table holds is in
/// `next` with its next seq (so a `ts_us` above it and not in `next` has
/// no rows: seq 0). A `ts_us` at or below it and not in `next` is asked
/// of the table. The cache is only valid while this connection alone
/// changes the table: [`Seqs::check`] forgets it when anything else wrote
/// to the database, and [`Seqs::clear`] after a failed transaction.
#[derive(Debug, Default)]
pub struct Seqs {
    /// `None`: not known (read `max(ts_us)` at the next insert);
    /// `Some(None)`: the table was empty.
    watermark: Option<Option<i64>>,
    next: FxHashMap<i64, i64>,
    /// Highest `ts_us` in `next`.
    high: Option<i64>,
    /// `PRAGMA data_version` and `total_changes()` after the last batch
    /// this cache saw through: a change of either means another
    /// connection, or another statement on this one, wrote.
    stamp: Option<(i64, u64)>,
}

/// Timestamps in [`Seqs::next`] before it is folded into the watermark.
const SEQS_MAX: usize = 100_000;

impl Seqs {
    /// Forgets everything (the table may have changed).
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Forgets everything unless only this cache's own inserts changed the
    /// database since [`Seqs::seal`]; call inside the write transaction.
    pub fn check(&mut self, conn: &Connection) -> Result<(), StoreError> {
        let stamp = Some(stamp(conn)?);
        if stamp != self.stamp {
            self.clear();
        }
        Ok(())
    }

    /// Records the database's state after a committed batch (when it
    /// cannot be read, the next [`Seqs::check`] forgets the cache).
    pub fn seal(&mut self, conn: &Connection) {
        self.stamp = stamp(conn).ok();
    }

    /// The seq of a new row at `ts_us`.
    fn take(&mut self, conn: &Connection, ts_us: i64) -> Result<i64, StoreError> {
        if let Some(n) = self.next.get_mut(&ts_us) {
            let seq = *n;
            *n += 1;
            return Ok(seq);
        }
        let watermark = match self.watermark {
            Some(w) => w,
            None => {
                let w = conn
                    .prepare_cached("SELECT max(ts_us) FROM lookups")?
                    .query_row([], |r| r.get::<_, Option<i64>>(0))?;
                self.watermark = Some(w);
                w
            }
        };
        let seq = if watermark.is_some_and(|w| ts_us <= w) {
            conn.prepare_cached("SELECT coalesce(max(seq) + 1, 0) FROM lookups WHERE ts_us = ?")?
                .query_row([ts_us], |r| r.get(0))?
        } else {
            0
        };
        if self.next.len() >= SEQS_MAX {
            // Everything above the new watermark is in `next`: nothing.
            self.watermark = Some(watermark.max(self.high));
            self.next.clear();
            self.high = None;
        }
        self.next.insert(ts_us, seq + 1);
        self.high = self.high.max(Some(ts_us));
        Ok(seq)
    }
}

fn stamp(conn: &Connection) -> Result<(i64, u64), StoreError> {
    let v = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
    Ok((v, conn.total_changes()))
}

/// Schema 9: `lookups.ts_us` holds the time minus a base kept in `meta`
/// (the first lookup's time), so that it and the copies of it in both
/// indexes take 6 bytes instead of 8 (4 for the first 35 minutes). A
/// database with rows of schema 8 keeps them: its base is 0. Rows written
/// from schema 9 on also store ports as [`port_code`]s and mark the usual
/// opcode and qdcount in `hdr` instead of writing them
/// ([`super::codec::Hdr`]); schema-8 values read back the same, but a
/// schema-8 binary could not read the new ones, hence the version.
pub const MIGRATION_TS_BASE: &str = "
    INSERT INTO meta (key, value)
        SELECT 'lookups_ts_base', '0' WHERE EXISTS (SELECT 1 FROM lookups);";

/// The `meta` key of the time base.
const TS_BASE_KEY: &str = "lookups_ts_base";

/// The time base of `lookups.ts_us` (stored = time - base), `None` when
/// none is set yet (no lookup was written since schema 9).
pub fn ts_base(conn: &Connection) -> Result<Option<i64>, StoreError> {
    let v: Option<String> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?")?
        .query_row([TS_BASE_KEY], |r| r.get(0))
        .optional()?;
    v.map(|s| {
        s.parse::<i64>().map_err(|_| StoreError::Corrupt {
            table: "meta",
            row: TS_BASE_KEY.into(),
            reason: format!("{s:?} is not an integer"),
        })
    })
    .transpose()
}

/// The time base to write `lookups` with, setting it (in the caller's
/// transaction) to the first lookup's time when none is set.
pub fn ts_base_for(conn: &Connection, lookups: &[Lookup]) -> Result<i64, StoreError> {
    if let Some(base) = ts_base(conn)? {
        return Ok(base);
    }
    let rows: bool = conn.query_row("SELECT EXISTS (SELECT 1 FROM lookups)", [], |r| r.get(0))?;
    // Rows without a base are absolute (and cannot be there: the
    // migration sets the base 0 for them). A negative base is not
    // chosen, so that no time at or after 0 can overflow.
    let base = match lookups.first() {
        Some(l) if !rows => l.ts_us.max(0),
        _ => 0,
    };
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)",
        params![TS_BASE_KEY, base.to_string()],
    )?;
    Ok(base)
}

/// Inserts `lookups` in order (same-time lookups keep their order by
/// `seq`), their times relative to `base`.
pub fn insert_lookups(
    conn: &Connection,
    intern: &mut Interner,
    seqs: &mut Seqs,
    base: i64,
    lookups: &[Lookup],
) -> Result<(), StoreError> {
    let mut ins = conn.prepare_cached(
        "INSERT INTO lookups (ts_us, seq, entry, qname, querier, querier_port, server, server_port,
            transport, qtype, qclass, flags, rcode, answers, rtt_us, ecs,
            src_file, source, sensor, also, authority, hdr)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
            ?19, ?20, ?21, ?22)",
    )?;
    let mut hdr = Vec::with_capacity(32);
    for l in lookups {
        Hdr {
            query_seen: l.query_seen,
            answered: l.answered,
            opcode: l.opcode,
            dns_id: l.dns_id,
            counts: l.counts,
            edns: l.edns,
            query_size: l.query_size,
            response_size: l.response_size,
        }
        .encode(&mut hdr);
        let entry = intern.name_in(conn, Slot::Entry, &l.entry)?;
        let qname = intern.name(conn, &l.qname)?;
        let sensor = intern.name_in(conn, Slot::Sensor, &l.sensor)?;
        let (src_file, source) = match split_source(&l.source) {
            Some((file, n)) => (
                Some(intern.name_in(conn, Slot::SrcFile, file)?),
                rusqlite::types::Value::Integer(n),
            ),
            None => (None, rusqlite::types::Value::Text(l.source.clone())),
        };
        let answers = intern.set(conn, &l.answers)?;
        let authority = intern.set(conn, &l.authority)?;
        let also = if l.also.is_empty() {
            None
        } else {
            Some(serde_json::to_string(&l.also)?)
        };
        let ts = l.ts_us.checked_sub(base).ok_or_else(|| {
            rusqlite::Error::ToSqlConversionFailure(
                format!("time {} is too far before the time base {base}", l.ts_us).into(),
            )
        })?;
        let seq = seqs.take(conn, ts)?;
        ins.execute(params![
            ts,
            seq,
            entry,
            qname,
            IpBytes::of(l.querier.ip()).as_slice(),
            port_code(l.querier.port()),
            IpBytes::of(l.server.ip()).as_slice(),
            port_code(l.server.port()),
            Coded::Transport.encode(&l.transport),
            Coded::Qtype.encode(&l.qtype),
            Coded::Qclass.encode(&l.qclass),
            Coded::Flags.encode(&l.flags),
            l.rcode.as_deref().map(|r| Coded::Rcode.encode(r)),
            answers,
            l.rtt_us,
            l.ecs,
            src_file,
            source,
            sensor,
            also,
            authority,
            hdr,
        ])?;
    }
    Ok(())
}
