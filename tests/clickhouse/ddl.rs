//! The DDL follows the server's version (`schema::Ddl`); here against the
//! test server: 18.16 on the CI machines (plain `String`, no `TTL`), and
//! ClickHouse 26.9 behind scripts/chdb-http.py (`LowCardinality`, `TTL`;
//! scripts/chdb-tests.sh).

use dnswatch::store::clickhouse::schema::{self, Ddl};
use dnswatch::store::clickhouse::ClickHouseSink;
use dnswatch::store::Sink;

use super::{client, count, settings, unique, url};

/// A fresh database is at the newest schema version, with the column
/// types and `TTL` the server's version calls for.
#[test]
fn a_fresh_database_gets_the_ddl_of_its_server_version() {
    let url = url();
    let db = unique("ddl");
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&url, &db, "d", &dir.path().join("sp"));
    s.retention_days = 30;
    let mut sink = ClickHouseSink::open(s).unwrap();
    sink.close().unwrap();
    let c = client(&url);
    let version = c.query("SELECT version()").unwrap();
    let ddl = Ddl::for_server(&version, 30);
    assert_eq!(
        count(
            &url,
            &format!("SELECT max(version) FROM {db}.schema_version")
        ),
        u64::from(schema::SCHEMA_VERSION)
    );
    let ty = |table: &str, col: &str| {
        c.query(&format!(
            "SELECT type FROM system.columns WHERE database = '{db}' AND table = '{table}' AND name = '{col}'"
        ))
        .unwrap()
        .trim()
        .to_string()
    };
    let want = if ddl.low_cardinality {
        "LowCardinality(String)"
    } else {
        "String"
    };
    assert_eq!(ty("lookups", "qtype"), want, "server {version}");
    assert_eq!(ty("lookups", "entry"), want, "server {version}");
    assert_eq!(ty("lookups", "qname"), "String");
    let engine = c
        .query(&format!(
            "SELECT engine_full FROM system.tables WHERE database = '{db}' AND name = 'lookups' FORMAT TabSeparatedRaw"
        ))
        .unwrap();
    assert_eq!(
        engine.contains(" TTL "),
        ddl.ttl,
        "server {version}: {engine}"
    );
    if version.starts_with("18.") {
        assert_eq!(
            ddl,
            Ddl {
                retention_days: 30,
                ..Ddl::LEGACY
            }
        );
    }
}
