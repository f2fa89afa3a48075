use super::*;

#[test]
fn unknown_key_names_file_line_and_key() {
    let text = "[storage]\ncommit_interval_ms = 5\n\n[capture]\nsnaplen = 1500\nbogus_key = 1\n";
    let err = Config::from_str(text, Path::new("/etc/dnswatch/x.toml")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("/etc/dnswatch/x.toml:6:"), "{msg}");
    assert!(msg.contains("bogus_key"), "{msg}");
}

#[test]
fn wrong_type_and_bad_values() {
    let err = Config::from_str("[capture]\nsnaplen = \"big\"\n", Path::new("c.toml")).unwrap_err();
    assert!(err.to_string().starts_with("c.toml:2:"), "{err}");
    let err =
        Config::from_str("[limits]\nresponse_timeout_s = -1\n", Path::new("c.toml")).unwrap_err();
    assert!(
        err.to_string().contains("limits.response_timeout_s"),
        "{err}"
    );
    let err = Config::from_str(
        "[watch]\nentries = [\"ok.com\", \"10.0.0.0/99\"]\n",
        Path::new("c.toml"),
    )
    .unwrap()
    .watchlist(&[])
    .unwrap_err();
    assert!(err.to_string().contains("watch.entries[1]"), "{err}");
}

#[test]
fn dnstap_keys_are_validated_with_file_line_and_key() {
    let text = "[capture]\ndnstap_sockets = [\"dnstap.sock\"]\ndnstap_tcp = [\"127.0.0.1\"]\n";
    let err = Config::from_str(text, Path::new("/etc/dnswatch/d.toml")).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("/etc/dnswatch/d.toml:3: capture.dnstap_tcp:"),
        "{msg}"
    );
    let err = Config::from_str(
        "[capture]\ndnstap_socket_mode = \"0777x\"\n",
        Path::new("d.toml"),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("d.toml:2: capture.dnstap_socket_mode:"),
        "{err}"
    );
    let err =
        Config::from_str("[capture]\ndnstap_max_frame = 5\n", Path::new("d.toml")).unwrap_err();
    assert!(
        err.to_string().contains("capture.dnstap_max_frame"),
        "{err}"
    );
    let ok = Config::from_str(
        "[capture]\ndnstap_sockets = [\"dnstap.sock\"]\ndnstap_tcp = [\"127.0.0.1:6000\"]\n",
        Path::new("/etc/dnswatch/d.toml"),
    )
    .unwrap();
    let l = ok.dnstap_listen().unwrap();
    assert_eq!(l.unix, vec![PathBuf::from("/etc/dnswatch/dnstap.sock")]);
    assert_eq!(l.unix_mode, 0o660);
    assert_eq!(l.tcp.len(), 1);
}

#[test]
fn watch_files_must_be_regular_files() {
    let err = Config::from_str("[watch]\nfiles = [\"/dev/zero\"]\n", Path::new("c.toml"))
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(err.to_string().contains("regular file"), "{err}");
}

#[test]
fn relative_paths_resolve_against_the_file() {
    let cfg = Config::from_str(
        "[storage]\ndatabase = \"state/x.db\"\n",
        Path::new("/etc/dnswatch/d.toml"),
    )
    .unwrap();
    assert_eq!(
        cfg.raw.storage.database,
        Some(PathBuf::from("/etc/dnswatch/state/x.db"))
    );
}

#[test]
fn detector_reference_files_resolve_and_errors_name_file_and_line() {
    let dir = std::env::temp_dir().join(format!("dnswatch-cfgref-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("orgs.csv"), "# prefix,org\n198.51.100.0/23,Bank\n").unwrap();
    std::fs::write(dir.join("days.txt"), "2016-12-25\nsecret-token\n").unwrap();
    let cfg_path = dir.join("d.toml");
    let ok = Config::from_str(
        "[detectors]\norganisations_file = \"orgs.csv\"\n",
        &cfg_path,
    )
    .unwrap();
    assert_eq!(
        ok.raw.detectors.organisations_file,
        Some(dir.join("orgs.csv"))
    );
    let err = Config::from_str("[detectors]\nholidays_file = \"days.txt\"\n", &cfg_path)
        .unwrap_err()
        .to_string();
    assert!(err.contains("detectors.holidays_file"), "{err}");
    assert!(err.contains("days.txt:2"), "{err}");
    assert!(!err.contains("secret-token"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn key_paths(v: &toml::Value, prefix: &str, out: &mut Vec<String>) {
    if let toml::Value::Table(t) = v {
        for (k, v) in t {
            let p = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            key_paths(v, &p, out);
            out.push(p);
        }
    }
}

#[test]
fn clickhouse_errors_name_file_line_and_key() {
    let path = Path::new("/etc/dnswatch/x.toml");
    for (text, key, line) in [
        (
            "[storage.clickhouse]\nurl = \"ftp://x\"\n",
            "storage.clickhouse.url",
            2,
        ),
        (
            "[storage.clickhouse]\n\nbatch_rows = 0\n",
            "storage.clickhouse.batch_rows",
            3,
        ),
        (
            "[storage.clickhouse]\nrecord = \"everything\"\n",
            "storage.clickhouse.record",
            2,
        ),
        ("[storage]\n\npdns = \"everything\"\n", "storage.pdns", 3),
        (
            "[storage.clickhouse]\ntls_cert_file = \"c.pem\"\n",
            "storage.clickhouse.tls_cert_file",
            2,
        ),
    ] {
        let e = Config::from_str(text, path).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("/etc/dnswatch/x.toml:{line}: {key}:")),
            "{e}"
        );
    }
    let cfg = Config::from_str(
        "[capture]\nsensor = \"s1\"\n[storage.clickhouse]\nurl = \"http://127.0.0.1:8123\"\nspool_dir = \"sp\"\n",
        path,
    )
    .unwrap();
    let s = cfg.clickhouse(None, Path::new("d.db")).unwrap();
    assert_eq!(s.sensor, "s1");
    assert_eq!(s.spool_dir, Path::new("/etc/dnswatch/sp"));
    let s = cfg
        .clickhouse(Some("http://h:1"), Path::new("d.db"))
        .unwrap();
    assert_eq!(s.endpoint.url, "http://h:1");
    let s = Config::default()
        .clickhouse(Some("http://h:1"), Path::new("/x/d.db"))
        .unwrap();
    assert_eq!(s.spool_dir, Path::new("/x/d.db.clickhouse-spool"));
    assert!(Config::default()
        .clickhouse(None, Path::new("d.db"))
        .is_none());
}

#[test]
fn complete_example_covers_every_key() {
    let defaults = toml::Value::try_from(RawConfig::default()).unwrap();
    let mut want = Vec::new();
    key_paths(&defaults, "", &mut want);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/dnswatch.toml");
    let example: toml::Value = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut have = Vec::new();
    key_paths(&example, "", &mut have);
    let missing: Vec<&String> = want.iter().filter(|k| !have.contains(k)).collect();
    assert!(missing.is_empty(), "config/dnswatch.toml lacks {missing:?}");
    assert!(want.len() > 40, "{want:?}");
}

#[test]
fn shipped_example_configs_parse() {
    for f in ["config/dnswatch.toml", "config/replay.toml"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(f);
        let cfg = Config::load(&path);
        assert!(cfg.is_ok(), "{f}: {:?}", cfg.err());
    }
}
