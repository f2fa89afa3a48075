//! Conformance against tshark on real captures from public projects.
//!
//! Every capture in `$DNSWATCH_CORPUS` (default `../shared/pcaps/real`) is
//! replayed with the whole list watched (`.`), and the lookups are compared
//! with tshark 4.0's decode in `expected/<file>.jsonl`:
//!
//! * the multiset of (querier, server, qname, qtype) of lookups whose query
//!   was seen equals tshark's queries;
//! * the multiset of (querier, server, qname, qtype, rcode) of answered
//!   lookups equals tshark's responses (paired, or recorded on their own when
//!   the query was not captured);
//! * where we decode more than tshark, the extra items come only from frames
//!   tshark calls malformed (those need not match, but must not crash).
//!
//! Where we knowingly differ from tshark it is written down below with why.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use dnswatch::dns;
use support::{corpus_dir, corpus_files, replay_lookups};

#[derive(serde::Deserialize)]
struct Expected {
    src: String,
    dst: String,
    response: bool,
    rcode: Option<u16>,
    qname: Option<String>,
    qtype: Option<u16>,
    malformed: bool,
}

type Key = (String, String, String, String, Option<u16>);

fn counts<I: IntoIterator<Item = Key>>(items: I) -> BTreeMap<Key, i64> {
    let mut m = BTreeMap::new();
    for k in items {
        *m.entry(k).or_insert(0) += 1;
    }
    m
}

/// Items of `a` not covered by `b` (multiset difference).
fn minus(a: &BTreeMap<Key, i64>, b: &BTreeMap<Key, i64>) -> Vec<(Key, i64)> {
    a.iter()
        .filter_map(|(k, n)| {
            let extra = n - b.get(k).copied().unwrap_or(0);
            (extra > 0).then(|| (k.clone(), extra))
        })
        .collect()
}

fn expected(path: &Path) -> Vec<Expected> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", path.display())))
        .collect()
}

fn tshark_name(q: &Option<String>) -> String {
    q.clone().unwrap_or_default()
}

/// Our (qname, qtype) as tshark's expectation file shows them.
///
/// * tshark prints a label containing a dot unescaped, and the expectation
///   script strips trailing dots, so `,\.` (one label: comma, dot) appears
///   as `,`. We keep the RFC 4343 escape, which is unambiguous.
/// * For UPDATE messages (opcode 5) tshark files the first section under
///   "Zone", not "Queries", so its JSON has no qname/qtype. We keep the zone
///   (the same wire field as a question) as the qname: it is what the
///   update is about, and what an operator watching the zone wants.
fn as_tshark(l: &dnswatch::model::Lookup) -> (String, String) {
    if l.opcode == 5 {
        return (String::new(), "TYPE0".into());
    }
    let n = l.qname.replace("\\.", ".");
    let n = if n == "." {
        n
    } else {
        n.trim_end_matches('.').to_string()
    };
    (n, l.qtype.clone())
}

#[test]
fn every_corpus_file_agrees_with_tshark() {
    let dir = corpus_dir();
    let files = corpus_files(&dir);
    assert!(
        files.len() >= 70,
        "corpus at {} has only {} captures",
        dir.display(),
        files.len()
    );
    let mut failures = Vec::new();
    let mut checked_queries = 0;
    let mut checked_responses = 0;
    for file in &files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let exp = expected(&dir.join("expected").join(format!("{name}.jsonl")));
        let lookups = replay_lookups(&[file.as_path()], &["."]);

        // tshark's view, split into what it decoded cleanly and what it calls malformed.
        let q_key = |e: &Expected| -> Key {
            (
                e.src.clone(),
                e.dst.clone(),
                tshark_name(&e.qname),
                e.qtype
                    .map(dns::type_name)
                    .unwrap_or_else(|| "TYPE0".into()),
                None,
            )
        };
        let r_key = |e: &Expected| -> Key {
            (
                e.dst.clone(),
                e.src.clone(),
                tshark_name(&e.qname),
                e.qtype
                    .map(dns::type_name)
                    .unwrap_or_else(|| "TYPE0".into()),
                e.rcode,
            )
        };
        let t_queries = counts(
            exp.iter()
                .filter(|e| !e.response && !e.malformed)
                .map(q_key),
        );
        let t_queries_bad = counts(exp.iter().filter(|e| !e.response && e.malformed).map(q_key));
        let t_resp = counts(exp.iter().filter(|e| e.response && !e.malformed).map(r_key));
        let t_resp_bad = counts(exp.iter().filter(|e| e.response && e.malformed).map(r_key));

        // Ours. tshark shows the 4-bit header RCODE; we record the full
        // 12-bit extended RCODE of RFC 6891 (e.g. BADVERS = 16 where tshark
        // says 0 plus an OPT field), so compare the header bits.
        let o_queries = counts(lookups.iter().filter(|l| l.query_seen).map(|l| {
            let (qname, qtype) = as_tshark(l);
            (
                l.querier.ip().to_string(),
                l.server.ip().to_string(),
                qname,
                qtype,
                None,
            )
        }));
        let o_resp = counts(lookups.iter().filter(|l| l.answered).map(|l| {
            let rcode = l
                .rcode
                .as_deref()
                .and_then(dns::rcode_value)
                .map(|r| r & 0xf);
            let (qname, qtype) = as_tshark(l);
            (
                l.querier.ip().to_string(),
                l.server.ip().to_string(),
                qname,
                qtype,
                rcode,
            )
        }));
        checked_queries += t_queries.values().sum::<i64>();
        checked_responses += t_resp.values().sum::<i64>();

        let missing_q = minus(&t_queries, &o_queries);
        let missing_r = minus(&t_resp, &o_resp);
        // Extra items are fine only when tshark saw them in a malformed frame.
        let extra_q: Vec<_> = minus(&o_queries, &t_queries)
            .into_iter()
            .filter(|(k, n)| t_queries_bad.get(k).copied().unwrap_or(0) < *n)
            .collect();
        let extra_r: Vec<_> = minus(&o_resp, &t_resp)
            .into_iter()
            .filter(|(k, n)| t_resp_bad.get(k).copied().unwrap_or(0) < *n)
            .collect();
        if !(missing_q.is_empty()
            && missing_r.is_empty()
            && extra_q.is_empty()
            && extra_r.is_empty())
        {
            failures.push(format!(
                "{name}:\n  queries tshark has, we lack: {missing_q:?}\n  responses tshark has, we lack: {missing_r:?}\n  queries only we have: {extra_q:?}\n  responses only we have: {extra_r:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} files disagree:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
    assert!(
        checked_queries > 400 && checked_responses > 400,
        "{checked_queries} {checked_responses}"
    );
}
