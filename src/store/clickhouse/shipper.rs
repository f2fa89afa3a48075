//! The shipper thread: sends spooled batches oldest first, checks the
//! schema after a failure, retries with back-off and never sends a part
//! the server already has.

use super::*;

/// The shipper thread's state.
pub(super) struct Shipper {
    pub(super) settings: Settings,
    pub(super) client: Client,
    pub(super) shared: Arc<Shared>,
    /// Schema checked since the last failure.
    pub(super) ready: bool,
    pub(super) failing: bool,
}

const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Inserts of one group sent at once.
const PARALLEL_INSERTS: usize = 4;

impl Shipper {
    pub(super) fn run(mut self) {
        let mut backoff = Duration::from_millis(200);
        loop {
            let Some(group) = self.next_group() else {
                return;
            };
            match self.ship(&group) {
                Ok(()) => {
                    backoff = Duration::from_millis(200);
                    if self.failing {
                        self.failing = false;
                        tracing::info!(url = %self.client.url(), "ClickHouse accepts inserts again");
                    }
                }
                Err(e) => {
                    self.shared.stats.failures.fetch_add(1, Ordering::Relaxed);
                    self.ready = false;
                    if !self.failing {
                        self.failing = true;
                        tracing::error!("{e}; batches stay in the spool and are retried (dnswatch_clickhouse_spool_batches)");
                    } else {
                        tracing::debug!("{e}");
                    }
                    let mut q = self.shared.lock();
                    q.last_error = Some(e.to_string());
                    for item in q.items.iter_mut().take(group.len()) {
                        item.fresh = false;
                    }
                    // Sleep, but wake for a stop.
                    let until = Instant::now() + backoff;
                    loop {
                        let now = Instant::now();
                        if now >= until || q.deadline.is_some_and(|d| now >= d) {
                            break;
                        }
                        q = self
                            .shared
                            .cv
                            .wait_timeout(q, until - now)
                            .map(|(g, _)| g)
                            .unwrap_or_else(|p| p.into_inner().0);
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Waits for batches to send; None when it is time to stop.
    fn next_group(&self) -> Option<Vec<(Entry, bool)>> {
        let mut q = self.shared.lock();
        loop {
            let now = Instant::now();
            // Retention once everything before it is sent.
            if q.items.is_empty() {
                if let Some(before) = q.prune_before.take() {
                    drop(q);
                    if let Err(e) = self.prune(before) {
                        tracing::warn!("retention postponed: {e}");
                    }
                    q = self.shared.lock();
                    continue;
                }
            }
            if q.stop && (q.items.is_empty() || q.deadline.is_some_and(|d| now >= d)) {
                return None;
            }
            if let Some(front) = q.items.front() {
                // Coalesce while under batch_rows (estimated from bytes: rows
                // are about 100 bytes of RowBinary) and the spool's size.
                let target = (self.settings.batch_rows as u64).saturating_mul(100);
                let mut bytes = 0;
                let mut n = 0;
                for i in &q.items {
                    if n > 0 && bytes + i.entry.bytes > target {
                        break;
                    }
                    bytes += i.entry.bytes;
                    n += 1;
                }
                let waited = now.duration_since(front.since);
                if q.stop
                    || n < q.items.len()
                    || bytes >= target
                    || waited >= self.settings.flush_interval
                    || !front.fresh
                {
                    return Some(q.items.iter().take(n).map(|i| (i.entry, i.fresh)).collect());
                }
                let left = self.settings.flush_interval - waited;
                q = self
                    .shared
                    .cv
                    .wait_timeout(q, left)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
            } else {
                q = self
                    .shared
                    .cv
                    .wait_timeout(q, Duration::from_secs(1))
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
        }
    }

    /// Drops whole days of lookups older than `before_us` (retention);
    /// summaries, hourly counters and alerts are kept, as in SQLite (a
    /// summary's partial rows are kept whole, so first-seen times stay
    /// true).
    fn prune(&self, before_us: i64) -> Result<(), ChError> {
        let day = schema::day_of(before_us);
        for t in [&schema::LOOKUPS, &schema::BY_QUERIER, &schema::PDNS_RRSETS] {
            let name = format!("{}{}", self.settings.table_prefix, t.name);
            let parts = self.client.query(&format!(
                "SELECT DISTINCT partition FROM system.parts WHERE active AND database = {} AND table = {} FORMAT TabSeparated",
                quote_str(&self.settings.database),
                quote_str(&name)
            ))?;
            for p in parts.lines() {
                let Ok(d) = p.trim().trim_matches('\'').parse::<i64>() else {
                    continue;
                };
                if d < day {
                    self.client.query(&format!(
                        "ALTER TABLE {} DROP PARTITION {d}",
                        self.settings.table(t)
                    ))?;
                }
            }
        }
        Ok(())
    }

    /// Sends a group of spooled batches; removes them when confirmed.
    fn ship(&mut self, group: &[(Entry, bool)]) -> Result<(), ChError> {
        if !self.ready {
            migrate(&self.client, &self.settings)?;
            self.ready = true;
        }
        let dir = self.settings.spool_dir.clone();
        let mut records: Vec<Option<Record>> = Vec::with_capacity(group.len());
        for (e, _) in group {
            match spool::read(&dir, e.seq) {
                Ok(r) => records.push(Some(r)),
                Err(err) => {
                    self.shared
                        .stats
                        .corrupt_records
                        .fetch_add(1, Ordering::Relaxed);
                    match spool::quarantine(&dir, e.seq) {
                        Ok(to) => tracing::error!("{err}; set aside as {}", to.display()),
                        Err(e2) => tracing::error!("{err}; cannot set it aside: {e2}"),
                    }
                    records.push(None);
                }
            }
        }
        let uncertain = group.iter().any(|(_, fresh)| !fresh);
        if uncertain {
            self.wait_for_running_inserts()?;
        }
        // (table, day) → [(record index, part index)]
        let mut by_part: BTreeMap<(u8, i64), Vec<(usize, usize)>> = BTreeMap::new();
        for (ri, r) in records.iter().enumerate() {
            if let Some(r) = r {
                for (pi, p) in r.parts.iter().enumerate() {
                    by_part.entry((p.table, p.day)).or_default().push((ri, pi));
                }
            }
        }
        let first_id = records
            .iter()
            .flatten()
            .map(|r| r.batch_id)
            .next()
            .unwrap_or(0);
        let mut jobs: Vec<(&TableDef, u8, i64, Vec<u8>, u64)> = Vec::new();
        for ((table, day), members) in &by_part {
            let Some(t) = TABLES.get(usize::from(*table)) else {
                continue;
            };
            let mut send: Vec<(usize, usize)> = members.clone();
            if uncertain {
                let present = self.present(t, *day, members, &records, group)?;
                send.retain(|m| !present.contains(m));
                self.shared
                    .stats
                    .parts_already_present
                    .fetch_add((members.len() - send.len()) as u64, Ordering::Relaxed);
            }
            if send.is_empty() {
                continue;
            }
            let mut body = Vec::new();
            let mut rows = 0u64;
            for (ri, pi) in &send {
                if let Some(Some(r)) = records.get(*ri) {
                    if let Some(p) = r.parts.get(*pi) {
                        body.extend_from_slice(&p.body);
                        rows += u64::from(p.rows);
                    }
                }
            }
            jobs.push((t, *table, *day, body, rows));
        }
        // The inserts of one group go in parallel, a few at a time (the
        // server parses and writes each on its own thread); each is
        // independent, and the group leaves the spool only when all succeeded.
        let prefix = self.query_id_prefix();
        for chunk in jobs.chunks(PARALLEL_INSERTS) {
            let results: Vec<Result<(), ChError>> = std::thread::scope(|scope| {
                let handles: Vec<_> = chunk
                    .iter()
                    .map(|(t, table, day, body, rows)| {
                        let client = &self.client;
                        let shared = &self.shared;
                        let target = self.settings.table(t);
                        let qid = format!("{prefix}{first_id:016x}-{table}-{day}");
                        scope.spawn(move || {
                            let cols: Vec<String> =
                                t.columns.iter().map(|(c, _)| quote_ident(c)).collect();
                            let started = Instant::now();
                            client.insert(&target, &cols.join(", "), body, &qid)?;
                            let s = &shared.stats;
                            s.inserts.fetch_add(1, Ordering::Relaxed);
                            s.insert_us_total.fetch_add(
                                u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                                Ordering::Relaxed,
                            );
                            s.rows_sent.fetch_add(*rows, Ordering::Relaxed);
                            if *table == 0 {
                                s.lookups_sent.fetch_add(*rows, Ordering::Relaxed);
                            }
                            Ok(())
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(ChError::Config("an insert thread panicked".into()))
                        })
                    })
                    .collect()
            });
            for r in results {
                r?;
            }
        }
        // Every part is on the server: the batches leave the spool.
        for (e, _) in group {
            match spool::remove(&dir, e.seq) {
                Ok(()) => {}
                Err(SpoolError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(err.into()),
            }
        }
        let mut q = self.shared.lock();
        for _ in 0..group.len() {
            if let Some(i) = q.items.pop_front() {
                q.bytes = q.bytes.saturating_sub(i.entry.bytes);
            }
        }
        self.shared.stats.publish_spool(&q);
        self.shared
            .stats
            .batches_sent
            .fetch_add(group.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn query_id_prefix(&self) -> String {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        h.write(self.settings.sensor.as_bytes());
        h.write(self.settings.spool_dir.as_os_str().as_encoded_bytes());
        format!("dnswatch-{:016x}-", h.finish())
    }

    /// Waits while an insert of this spool still runs on the server (one
    /// whose client gave up may still commit).
    fn wait_for_running_inserts(&self) -> Result<(), ChError> {
        let started = Instant::now();
        loop {
            let n = self.client.query(&format!(
                "SELECT count() FROM system.processes WHERE startsWith(query_id, {})",
                quote_str(&self.query_id_prefix())
            ))?;
            if n.trim() == "0" {
                return Ok(());
            }
            if started.elapsed() > self.settings.endpoint.timeout * 4 {
                return Err(ChError::Protocol {
                    url: self.client.url().to_string(),
                    message: "an earlier insert of this sensor is still running".into(),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Members whose rows are already on the server.
    fn present(
        &self,
        t: &TableDef,
        day: i64,
        members: &[(usize, usize)],
        records: &[Option<Record>],
        group: &[(Entry, bool)],
    ) -> Result<Vec<(usize, usize)>, ChError> {
        // Fresh batches were never sent: no need to ask about them.
        let ask: Vec<(usize, usize, u64, u32)> = members
            .iter()
            .filter(|(ri, _)| group.get(*ri).is_some_and(|(_, fresh)| !fresh))
            .filter_map(|(ri, pi)| {
                let r = records.get(*ri)?.as_ref()?;
                Some((*ri, *pi, r.batch_id, r.parts.get(*pi)?.rows))
            })
            .collect();
        if ask.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = ask.iter().map(|a| a.2.to_string()).collect();
        let text = self.client.query(&format!(
            "SELECT batch_id, count() FROM {} WHERE {tc} >= {lo} AND {tc} < {hi} AND batch_id IN ({ids}) GROUP BY batch_id FORMAT TabSeparated",
            self.settings.table(t),
            tc = t.time_column,
            lo = day.saturating_mul(schema::DAY_US),
            hi = (day + 1).saturating_mul(schema::DAY_US),
            ids = ids.join(", "),
        ))?;
        let mut counts: HashMap<u64, u64> = HashMap::new();
        for line in text.lines() {
            let mut f = line.split('\t');
            if let (Some(Ok(id)), Some(Ok(n))) = (
                f.next().map(str::parse::<u64>),
                f.next().map(str::parse::<u64>),
            ) {
                counts.insert(id, n);
            }
        }
        let mut present = Vec::new();
        for (ri, pi, id, rows) in ask {
            let n = counts.get(&id).copied().unwrap_or(0);
            if n > 0 {
                if n != u64::from(rows) {
                    tracing::error!(
                        table = t.name,
                        batch_id = id,
                        expected = rows,
                        found = n,
                        "a batch is partly on the server; not sending it again"
                    );
                }
                present.push((ri, pi));
            }
        }
        Ok(present)
    }
}
