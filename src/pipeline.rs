//! The packet → lookup pipeline shared by `replay` and `run`:
//! decode → pre-parse → watch match → pair → (full decode) → [`Lookup`].
//!
//! Everything here is driven by packet timestamps, so the same packets give
//! the same lookups whether they come from a file or an interface.

use std::sync::Arc;

use crate::decode::{Datagram, DecodeConfig, Decoder, ErrorKind, LinkType};
use crate::dns::pairing::{qname_hash, PairKey, Pairing, PendingQuery, WatchedQuery};
use crate::dns::wire::{self, NameBuf, WireError};
use crate::dns::{self, parse, Flags, Message};
use crate::model::{HourRow, Lookup, PdnsScope, Rrset, RrsetAggregator};
use crate::watch::{EntryId, Watchlist};

/// Pipeline settings.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// Decoder settings.
    pub decode: DecodeConfig,
    /// How long a query waits for its response (µs of packet time).
    pub response_timeout_us: i64,
    /// How much longer a watched query still pairs with a late response
    /// before it is recorded as unanswered (µs).
    pub late_response_us: i64,
    /// Cap on queries waiting for a response.
    pub max_pending: usize,
    /// Sensor name recorded on every lookup (sources may override it).
    pub sensor: String,
    /// Which answered responses feed the rrset aggregator (`storage.pdns`).
    pub pdns: PdnsScope,
    /// Record every lookup decoded, watched or not (ClickHouse with
    /// `storage.clickhouse.record = "all"`): those nothing on the watch
    /// list matched come out with an empty `entry` and are counted in
    /// [`DnsStats::unwatched`], not in the other counters.
    pub record_all: bool,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            decode: DecodeConfig::default(),
            response_timeout_us: 10_000_000,
            late_response_us: 20_000_000,
            max_pending: 100_000,
            sensor: String::new(),
            pdns: PdnsScope::default(),
            record_all: false,
        }
    }
}

/// Decoder counters and state sizes (see [`Pipeline::decoder_stats`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct DecoderStats {
    /// Frames in.
    pub packets: u64,
    /// Datagrams reassembled from fragments.
    pub reassembled: u64,
    /// TCP holes given up on.
    pub tcp_gaps: u64,
    /// TCP streams with state now.
    pub tcp_streams: u64,
    /// TCP streams evicted by the caps.
    pub tcp_evicted: u64,
    /// Datagrams being reassembled now.
    pub fragment_buffers: u64,
    /// Bytes held for reassembly now.
    pub fragment_bytes: u64,
    /// Fragment buffers evicted by the caps.
    pub fragment_evicted: u64,
}

/// Counters of the DNS stage.
#[derive(Clone, Debug, Default)]
pub struct DnsStats {
    /// DNS messages seen (decodable or not).
    pub messages: u64,
    /// Query messages.
    pub queries: u64,
    /// Response messages.
    pub responses: u64,
    /// Lookups recorded (touching the watch list).
    pub lookups: u64,
    /// Of which: queries never answered.
    pub unanswered: u64,
    /// Of which: responses whose query was not captured.
    pub unsolicited: u64,
    /// Of which: answers that came after the response timeout, within the
    /// late window, paired with their query.
    pub late: u64,
    /// DNS decode errors by kind (indices of [`ErrorKind`]).
    pub errors: [u64; ErrorKind::COUNT],
    /// Lookups nothing on the watch list touched, recorded only because
    /// every lookup is (`record_all`); not in `lookups`.
    pub unwatched: u64,
}

/// The pseudo entry id of a query nothing on the watch list matched, kept
/// (decoded, waiting for its response like a watched one) because every
/// lookup is recorded (`record_all`). Its lookup's entry is empty.
const UNWATCHED: EntryId = EntryId::MAX;

const HOUR_US: i64 = 3_600_000_000;

#[derive(Debug, Default)]
struct Hour {
    start: Option<i64>,
    packets: u64,
    messages: u64,
    queries: u64,
    responses: u64,
    rcodes: Vec<(u16, u64)>,
    errors_at_start: u64,
}

/// The DNS half of the pipeline (everything after the decoder).
#[derive(Debug)]
struct DnsStage {
    watch: Arc<Watchlist>,
    pairing: Pairing,
    name: NameBuf,
    source: u32,
    frame: u64,
    sources: Vec<Source>,
    sensor: String,
    stats: DnsStats,
    out: Vec<Lookup>,
    pdns: PdnsScope,
    rrsets: RrsetAggregator,
    record_all: bool,
    /// Buffers of the full decode, kept from one message to the next.
    scratch: parse::Scratch,
}

/// Packet in, lookups out.
#[derive(Debug)]
pub struct Pipeline {
    decoder: Decoder,
    stage: DnsStage,
    hour: Hour,
    hourly: Vec<HourRow>,
    now: i64,
}

impl Pipeline {
    /// A pipeline matching against `watch`.
    pub fn new(cfg: &PipelineConfig, watch: Arc<Watchlist>) -> Self {
        Self {
            decoder: Decoder::new(&cfg.decode),
            stage: DnsStage {
                watch,
                pairing: Pairing::new(
                    cfg.response_timeout_us,
                    cfg.late_response_us,
                    cfg.max_pending,
                ),
                name: NameBuf::default(),
                source: 0,
                frame: 0,
                sources: Vec::new(),
                sensor: cfg.sensor.clone(),
                stats: DnsStats::default(),
                out: Vec::new(),
                pdns: cfg.pdns,
                rrsets: RrsetAggregator::default(),
                record_all: cfg.record_all,
                scratch: parse::Scratch::default(),
            },
            hour: Hour::default(),
            hourly: Vec::new(),
            now: i64::MIN,
        }
    }

    /// Packet time of the latest packet (the clock of everything downstream).
    pub fn now(&self) -> i64 {
        self.now
    }

    /// Swaps the watch list (SIGHUP); pending queries keep their match.
    pub fn set_watchlist(&mut self, watch: Arc<Watchlist>) {
        self.stage.watch = watch;
    }

    /// Swaps the DNS ports the decoder reads (SIGHUP).
    pub fn set_dns_ports(&mut self, ports: &[u16]) {
        self.decoder.set_dns_ports(ports);
    }

    /// The sensor name recorded by default (on lookups and alerts).
    pub fn sensor(&self) -> &str {
        &self.stage.sensor
    }

    /// True when every lookup is recorded, watched or not (lookups with an
    /// empty entry are the unwatched ones).
    pub fn records_all(&self) -> bool {
        self.stage.record_all
    }

    /// The watch list in use.
    pub fn watchlist(&self) -> &Arc<Watchlist> {
        &self.stage.watch
    }

    /// Starts a new packet source (file or interface); `name` is used in provenance.
    pub fn begin_source(&mut self, name: &str) -> u32 {
        let sensor = self.stage.sensor.clone();
        self.stage.sources.push(Source {
            name: name.to_string(),
            sensor,
        });
        self.stage.source = (self.stage.sources.len() - 1) as u32;
        self.stage.source
    }

    /// Sets the sensor recorded on lookups of `source` (a dnstap peer's
    /// identity, say); the default is the pipeline's sensor.
    pub fn set_source_sensor(&mut self, source: u32, sensor: &str) {
        if let Some(s) = self.stage.sources.get_mut(source as usize) {
            s.sensor = sensor.to_string();
        }
    }

    /// Makes an earlier source current again (live capture interleaves interfaces).
    pub fn select_source(&mut self, source: u32) {
        if (source as usize) < self.stage.sources.len() {
            self.stage.source = source;
        }
    }

    /// Decoder counters and state sizes now.
    pub fn decoder_stats(&self) -> DecoderStats {
        let d = &self.decoder;
        DecoderStats {
            packets: d.stats.packets,
            reassembled: d.stats.reassembled,
            tcp_gaps: d.tcp.gaps,
            tcp_streams: d.tcp.in_use() as u64,
            tcp_evicted: d.tcp.evicted,
            fragment_buffers: d.defrag.in_use() as u64,
            fragment_bytes: d.defrag.bytes() as u64,
            fragment_evicted: d.defrag.evicted,
        }
    }

    /// DNS-stage counters.
    pub fn dns_stats(&self) -> &DnsStats {
        &self.stage.stats
    }

    /// Queries dropped from pairing to stay under the cap.
    pub fn pending_evictions(&self) -> u64 {
        self.stage.pairing.evicted
    }

    /// Queries waiting for a response.
    pub fn pending_queries(&self) -> usize {
        self.stage.pairing.len()
    }

    /// Total decode errors (link to DNS).
    pub fn total_errors(&self) -> u64 {
        self.decoder.stats.total_errors() + self.stage.stats.errors.iter().sum::<u64>()
    }

    /// Errors by kind, decoder and DNS stage together.
    pub fn errors_by_kind(&self) -> Vec<(ErrorKind, u64)> {
        ErrorKind::ALL
            .iter()
            .map(|k| {
                let i = *k as usize;
                (
                    *k,
                    self.decoder.stats.errors[i] + self.stage.stats.errors[i],
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Processes one captured frame.
    pub fn packet(&mut self, ts: i64, frame: u64, link: LinkType, data: &[u8]) {
        self.roll_hour(ts);
        self.now = self.now.max(ts);
        self.hour.packets += 1;
        self.stage.frame = frame;
        let stage = &mut self.stage;
        let hour = &mut self.hour;
        stage.pairing_expire(ts);
        self.decoder
            .packet(ts, frame, link, data, &mut |d: &Datagram<'_>| {
                stage.datagram(d, hour)
            });
    }

    /// Processes one DNS message that arrives already decoded from its
    /// transport, with its endpoints (dnstap): `src` sent it to `dst`.
    /// It takes the same path as a message decoded from captured frames.
    #[allow(clippy::too_many_arguments)]
    pub fn message(
        &mut self,
        ts: i64,
        frame: u64,
        src: std::net::SocketAddr,
        dst: std::net::SocketAddr,
        transport: crate::decode::Transport,
        payload: &[u8],
    ) {
        self.roll_hour(ts);
        self.now = self.now.max(ts);
        self.hour.packets += 1;
        self.stage.frame = frame;
        self.stage.pairing_expire(ts);
        let d = Datagram {
            ts,
            src,
            dst,
            transport,
            payload,
        };
        self.stage.datagram(&d, &mut self.hour);
    }

    /// End of input: frames what TCP still holds and records every query
    /// still waiting as unanswered.
    pub fn finish(&mut self) {
        let stage = &mut self.stage;
        let hour = &mut self.hour;
        self.decoder
            .flush(&mut |d: &Datagram<'_>| stage.datagram(d, hour));
        let s = &mut self.stage;
        let mut expired = Vec::new();
        s.pairing.drain(&mut |k, q| expired.push((k, q)));
        for (k, q) in expired {
            s.unanswered(k, q);
        }
        self.close_hour();
    }

    /// End of input, step 1: frames what TCP reassembly still holds.
    pub fn flush_decoder(&mut self) {
        let stage = &mut self.stage;
        let hour = &mut self.hour;
        self.decoder
            .flush(&mut |d: &Datagram<'_>| stage.datagram(d, hour));
    }

    /// End of input, step 2: records up to `max` waiting queries as
    /// unanswered (in bounded steps, so memory stays flat); true while more wait.
    pub fn drain_pending(&mut self, max: usize) -> bool {
        let s = &mut self.stage;
        let mut expired = Vec::new();
        let more = s.pairing.drain_some(max, &mut |k, q| expired.push((k, q)));
        for (k, q) in expired {
            s.unanswered(k, q);
        }
        more
    }

    /// Lookups produced since the last call.
    pub fn take_lookups(&mut self) -> Vec<Lookup> {
        std::mem::take(&mut self.stage.out)
    }

    /// Gives back a vector [`Pipeline::take_lookups`] returned, emptied:
    /// the next lookups are pushed into its room (no regrowing and copying
    /// on the way).
    pub fn recycle_lookups(&mut self, mut v: Vec<Lookup>) {
        if self.stage.out.is_empty() && v.capacity() > self.stage.out.capacity() {
            v.clear();
            self.stage.out = v;
        }
    }

    /// Rrsets aggregated since the last call (see [`RrsetAggregator`]).
    pub fn take_rrsets(&mut self) -> Vec<Rrset> {
        self.stage.rrsets.take()
    }

    /// Distinct rrsets waiting for [`Pipeline::take_rrsets`].
    pub fn rrsets_pending(&self) -> usize {
        self.stage.rrsets.len()
    }

    /// Hourly counter rows completed since the last call (the current hour
    /// is included when `include_current`).
    pub fn take_hourly(&mut self, include_current: bool) -> Vec<HourRow> {
        if include_current {
            self.close_hour();
        }
        std::mem::take(&mut self.hourly)
    }

    fn roll_hour(&mut self, ts: i64) {
        let start = ts.div_euclid(HOUR_US) * HOUR_US;
        if self.hour.start != Some(start) {
            self.close_hour();
            self.hour.start = Some(start);
        }
    }

    fn close_hour(&mut self) {
        let errors = self.total_errors();
        let h = std::mem::take(&mut self.hour);
        self.hour.errors_at_start = errors;
        let Some(start) = h.start else {
            return;
        };
        self.hour.start = Some(start);
        let mut push = |metric: String, value: u64| {
            if value > 0 {
                self.hourly.push(HourRow {
                    hour_us: start,
                    metric,
                    value,
                });
            }
        };
        push("packets".into(), h.packets);
        push("messages".into(), h.messages);
        push("queries".into(), h.queries);
        push("responses".into(), h.responses);
        push(
            "decode_errors".into(),
            errors.saturating_sub(h.errors_at_start),
        );
        for (rcode, n) in h.rcodes {
            push(format!("rcode_{}", dns::rcode_name(rcode)), n);
        }
    }
}

/// Appends the decimal form of `v` (what `Display` writes).
fn push_u64(out: &mut String, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        // A digit: 0..=9.
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

/// A packet or message source (a file, an interface, a dnstap peer).
#[derive(Debug)]
struct Source {
    /// Used in provenance (`name#frame`).
    name: String,
    /// Recorded as the lookup's sensor.
    sensor: String,
}

impl DnsStage {
    fn sensor_of(&self, source: u32) -> String {
        self.sources
            .get(source as usize)
            .map_or_else(|| self.sensor.clone(), |s| s.sensor.clone())
    }

    /// `name#frame` (built by hand: `format!` costs more than the rest of
    /// the lookup's strings together).
    fn provenance(&self, source: (u32, u64)) -> String {
        let name = self
            .sources
            .get(source.0 as usize)
            .map_or("-", |s| s.name.as_str());
        let mut out = String::with_capacity(name.len() + 21);
        out.push_str(name);
        out.push('#');
        push_u64(&mut out, source.1);
        out
    }

    fn pairing_expire(&mut self, now: i64) {
        let mut expired = Vec::new();
        self.pairing.expire(now, &mut |k, q| {
            if q.watched.is_some() {
                expired.push((k, q));
            }
        });
        for (k, q) in expired {
            self.unanswered(k, q);
        }
    }

    fn error(&mut self, kind: ErrorKind) {
        self.stats.errors[kind as usize] += 1;
    }

    fn datagram(&mut self, d: &Datagram<'_>, hour: &mut Hour) {
        self.stats.messages += 1;
        hour.messages += 1;
        let want_addrs = self.watch.watches_addresses();
        let peek = match wire::peek(d.payload, &mut self.name, want_addrs) {
            Ok(p) => p,
            Err(WireError::ShortHeader) => return self.error(ErrorKind::DnsShortHeader),
            Err(WireError::BadQuestion) => return self.error(ErrorKind::DnsBadQuestion),
        };
        let h = peek.header;
        let key_name = qname_hash(self.name.as_bytes());
        if !h.is_response() {
            self.stats.queries += 1;
            hour.queries += 1;
            let watched = self
                .watch
                .match_name(&self.name)
                .or(self.record_all.then_some(UNWATCHED));
            // The query's EDNS record: read by the full decode when there
            // is one, else off the wire here.
            let mut edns = None;
            let message = watched.map(|id| {
                let m = if id == UNWATCHED {
                    // Decode errors of unwatched messages are not counted
                    // (so counters do not depend on `record_all`).
                    parse::message_peeked_with(d.payload, &peek, &self.name, &mut self.scratch)
                } else {
                    self.full(d.payload, &peek)
                };
                edns = Some(m.edns);
                Box::new(WatchedQuery::new(m, self.entry_name(id)))
            });
            let key = PairKey {
                client: d.src,
                server: d.dst.ip(),
                id: h.id,
                qtype: peek.qtype,
                qname_hash: key_name,
            };
            let q = PendingQuery {
                ts: d.ts,
                source: (self.source, self.frame),
                server_port: d.dst.port(),
                transport: d.transport,
                flags: h.flags,
                qclass: peek.qclass,
                size: u16::try_from(d.payload.len()).unwrap_or(u16::MAX),
                edns: edns.unwrap_or_else(|| wire::edns(d.payload, &h, peek.question_end)),
                watched,
                message,
            };
            if let Some((k, old)) = self.pairing.insert(key, q) {
                if old.watched.is_some() {
                    self.unanswered(k, old);
                }
            }
            return;
        }
        self.stats.responses += 1;
        hour.responses += 1;
        let key = PairKey {
            client: d.dst,
            server: d.src.ip(),
            id: h.id,
            qtype: peek.qtype,
            qname_hash: key_name,
        };
        let query = self.pairing.take(&key);
        // The entry a watched query matched when it was seen (the list may
        // have been swapped since), else what the response matches now.
        // (An unwatched query recorded for `record_all` has an empty entry:
        // the response may still match, by an address in its answers.)
        let query_entry = query
            .as_ref()
            .and_then(|q| q.message.as_ref())
            .map(|m| String::from(&*m.entry))
            .filter(|e| !e.is_empty());
        let entry = match query_entry {
            Some(e) => Some(e),
            None => self
                .watch
                .match_name(&self.name)
                .or_else(|| peek.addrs.iter().find_map(|a| self.watch.match_addr(*a)))
                .map(|id| self.watch.entry(id).to_string())
                .or_else(|| self.record_all.then(String::new)),
        };
        let watched = entry.as_ref().is_some_and(|e| !e.is_empty());
        let response = match &entry {
            Some(_) if watched => Some(self.full(d.payload, &peek)),
            // Unwatched (`record_all`): decode errors not counted, as above.
            Some(_) => Some(parse::message_peeked_with(
                d.payload,
                &peek,
                &self.name,
                &mut self.scratch,
            )),
            None => None,
        };
        // Count the rcode (extended rcode only known after a full decode,
        // which only watched responses get for the counters).
        let rcode = match &response {
            Some(m) if watched => m.rcode,
            _ => h.rcode(),
        };
        match hour.rcodes.iter_mut().find(|(r, _)| *r == rcode) {
            Some(slot) => slot.1 += 1,
            None => hour.rcodes.push((rcode, 1)),
        }
        let (Some(entry), Some(resp)) = (entry, response) else {
            if self.pdns == PdnsScope::All && h.ancount > 0 {
                self.unwatched_answers(d, &peek, query.as_ref());
            }
            return;
        };
        if self.pdns == PdnsScope::All || (watched && self.pdns != PdnsScope::Off) {
            self.add_rrsets(d.ts, query.as_ref(), &resp);
        }
        let mut also: Vec<String> = Vec::new();
        for a in &peek.addrs {
            if let Some(id) = self.watch.match_addr(*a) {
                let e = self.watch.entry(id);
                if e != entry && !also.iter().any(|x| x == e) {
                    also.push(e.to_string());
                }
            }
        }
        let lookup = match query {
            Some(q) => {
                let qmsg = q.message.as_deref();
                if watched && d.ts.saturating_sub(q.ts) > self.pairing.timeout_us() {
                    self.stats.late += 1;
                }
                Lookup {
                    ts_us: q.ts,
                    entry,
                    also,
                    querier: d.dst,
                    server: d.src,
                    transport: d.transport.as_str().into(),
                    qname: resp.qname.unwrap_or_default(),
                    qtype: dns::type_name(peek.qtype),
                    qclass: dns::class_name(q.qclass),
                    opcode: resp.opcode,
                    flags: resp.flags.mnemonics(),
                    rcode: Some(dns::rcode_name(resp.rcode)),
                    answers: resp.answers,
                    rtt_us: Some(d.ts - q.ts),
                    ecs: qmsg
                        .and_then(|m| m.ecs.as_deref().map(str::to_string))
                        .or(resp.ecs),
                    query_seen: true,
                    answered: true,
                    source: self.provenance(q.source),
                    sensor: self.sensor_of(q.source.0),
                    dns_id: h.id,
                    counts: resp.counts,
                    edns: q.edns.or(resp.edns),
                    query_size: Some(u32::from(q.size)),
                    response_size: Some(resp.size),
                    authority: resp.authority,
                }
            }
            None => {
                if watched {
                    self.stats.unsolicited += 1;
                }
                Lookup {
                    ts_us: d.ts,
                    entry,
                    also,
                    querier: d.dst,
                    server: d.src,
                    transport: d.transport.as_str().into(),
                    qname: resp.qname.unwrap_or_default(),
                    qtype: dns::type_name(peek.qtype),
                    qclass: dns::class_name(peek.qclass),
                    opcode: resp.opcode,
                    flags: resp.flags.mnemonics(),
                    rcode: Some(dns::rcode_name(resp.rcode)),
                    answers: resp.answers,
                    rtt_us: None,
                    ecs: resp.ecs,
                    query_seen: false,
                    answered: true,
                    source: self.provenance((self.source, self.frame)),
                    sensor: self.sensor_of(self.source),
                    dns_id: h.id,
                    counts: resp.counts,
                    edns: resp.edns,
                    query_size: None,
                    response_size: Some(resp.size),
                    authority: resp.authority,
                }
            }
        };
        if watched {
            self.stats.lookups += 1;
        } else {
            self.stats.unwatched += 1;
        }
        self.out.push(lookup);
    }

    /// `storage.pdns = "all"`: a response nothing on the watch list touched
    /// still feeds the rrset aggregator (decoded here only for that; decode
    /// errors are not counted twice, so counters do not depend on the scope).
    fn unwatched_answers(
        &mut self,
        d: &Datagram<'_>,
        peek: &wire::Peek,
        query: Option<&PendingQuery>,
    ) {
        let resp = parse::message_peeked_with(d.payload, peek, &self.name, &mut self.scratch);
        self.add_rrsets(d.ts, query, &resp);
    }

    /// Adds the answers of `resp` (seen at `ts`) to the rrset aggregate,
    /// under its query's time and sensor when it has one.
    fn add_rrsets(&mut self, ts: i64, query: Option<&PendingQuery>, resp: &Message) {
        if resp.answers.is_empty() {
            return;
        }
        let (ts, source) = query.map_or((ts, self.source), |q| (q.ts, q.source.0));
        // Field borrows, not `sensor_of` (which borrows all of `self`).
        let sensor = self
            .sources
            .get(source as usize)
            .map_or(self.sensor.as_str(), |s| s.sensor.as_str());
        self.rrsets.add(ts, &resp.answers, &resp.bailiwick, sensor);
    }

    /// The text of a watch entry id (empty for [`UNWATCHED`]).
    fn entry_name(&self, id: EntryId) -> &str {
        if id == UNWATCHED {
            ""
        } else {
            self.watch.entry(id)
        }
    }

    /// The full decode of the message `peek` pre-parsed (its question name
    /// is in `self.name`).
    fn full(&mut self, payload: &[u8], peek: &wire::Peek) -> Message {
        let m = parse::message_peeked_with(payload, peek, &self.name, &mut self.scratch);
        if !m.complete {
            self.error(ErrorKind::DnsBadRecords);
        }
        m
    }

    fn unanswered(&mut self, key: PairKey, q: PendingQuery) {
        let Some(entry) = q.watched else {
            return;
        };
        let msg = q.message.as_deref();
        let entry = msg.map_or_else(
            || self.entry_name(entry).to_string(),
            |m| String::from(&*m.entry),
        );
        if entry.is_empty() {
            self.stats.unwatched += 1;
        } else {
            self.stats.unanswered += 1;
            self.stats.lookups += 1;
        }
        let lookup = Lookup {
            ts_us: q.ts,
            entry,
            also: Vec::new(),
            querier: key.client,
            server: std::net::SocketAddr::new(key.server, q.server_port),
            transport: q.transport.as_str().into(),
            qname: msg.map(|m| String::from(&*m.qname)).unwrap_or_default(),
            qtype: dns::type_name(key.qtype),
            qclass: dns::class_name(q.qclass),
            opcode: ((q.flags >> 11) & 0xf) as u8,
            flags: Flags(q.flags & 0x07b0).mnemonics(),
            rcode: None,
            answers: Vec::new(),
            rtt_us: None,
            ecs: msg.and_then(|m| m.ecs.as_deref().map(str::to_string)),
            query_seen: true,
            answered: false,
            source: self.provenance(q.source),
            sensor: self.sensor_of(q.source.0),
            dns_id: key.id,
            counts: msg.map_or_else(Default::default, |m| m.counts),
            edns: q.edns,
            query_size: Some(u32::from(q.size)),
            response_size: None,
            authority: Vec::new(),
        };
        self.out.push(lookup);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Raw IPv4 + UDP + a DNS message for `a.example` A.
    fn packet(response: bool) -> Vec<u8> {
        let mut dns = vec![
            0x12,
            0x34,
            if response { 0x81 } else { 0x01 },
            0x00,
            0,
            1,
            0,
            0,
            0,
            0,
            0,
            0,
        ];
        dns.extend_from_slice(b"\x01a\x07example\x00\x00\x01\x00\x01");
        let (src, dst, sport, dport) = if response {
            ([192, 0, 2, 53], [192, 0, 2, 1], 53u16, 4000u16)
        } else {
            ([192, 0, 2, 1], [192, 0, 2, 53], 4000, 53)
        };
        let mut udp = sport.to_be_bytes().to_vec();
        udp.extend_from_slice(&dport.to_be_bytes());
        udp.extend_from_slice(&((8 + dns.len()) as u16).to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend(dns);
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&((20 + udp.len()) as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0]);
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        ip.extend(udp);
        ip
    }

    #[test]
    fn a_query_keeps_its_entry_across_a_watch_list_swap() {
        let mut p = Pipeline::new(
            &PipelineConfig::default(),
            Arc::new(Watchlist::new(["a.example"]).unwrap()),
        );
        p.begin_source("t");
        p.packet(0, 1, LinkType::Raw, &packet(false));
        p.set_watchlist(Arc::new(
            Watchlist::new(["b.example", "c.example"]).unwrap(),
        ));
        p.packet(1000, 2, LinkType::Raw, &packet(true));
        let l = p.take_lookups();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].entry, "a.example");
        assert_eq!(l[0].rtt_us, Some(1000));
    }

    #[test]
    fn record_all_keeps_unwatched_lookups_with_an_empty_entry() {
        let cfg = PipelineConfig {
            record_all: true,
            ..PipelineConfig::default()
        };
        let mut p = Pipeline::new(&cfg, Arc::new(Watchlist::new(["b.example"]).unwrap()));
        p.begin_source("t");
        // Answered, then a query never answered.
        p.packet(0, 1, LinkType::Raw, &packet(false));
        p.packet(1000, 2, LinkType::Raw, &packet(true));
        p.packet(2000, 3, LinkType::Raw, &packet(false));
        p.finish();
        let l = p.take_lookups();
        assert_eq!(l.len(), 2);
        assert!(l
            .iter()
            .all(|l| l.entry.is_empty() && l.qname == "a.example"));
        assert!(l[0].answered && !l[1].answered);
        let s = p.dns_stats();
        assert_eq!((s.lookups, s.unanswered, s.unwatched), (0, 0, 2));
        // Off: nothing.
        let mut p = Pipeline::new(
            &PipelineConfig::default(),
            Arc::new(Watchlist::new(["b.example"]).unwrap()),
        );
        p.begin_source("t");
        p.packet(0, 1, LinkType::Raw, &packet(false));
        p.packet(1000, 2, LinkType::Raw, &packet(true));
        p.finish();
        assert!(p.take_lookups().is_empty());
        assert_eq!(p.dns_stats().unwatched, 0);
    }
}
