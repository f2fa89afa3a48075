//! dnstap input against real software: Debian's unbound 1.17 streaming
//! dnstap to `dnswatch run --dnstap-socket` (and to `fstrm_capture`, the
//! reference Frame Streams tool), queried with dig, dig +tcp and kdig +tls;
//! tcpdump captures the same plain queries for the equivalence check. Needs
//! root, unbound, fstrm-bin, dnsutils, knot-dnsutils and tcpdump, which
//! `.ci/run` installs (scripts/ensure-deps.sh test): a missing tool fails
//! the test, it is never skipped.
//!
//! The hostile-input test needs nothing but the binary.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

mod support;
use support::daemon::{free_port, metric_sum, metrics, must_be_root, Daemon, Proc};

use dnswatch::dnstap::frame::{encode_data, Control, ControlType};
use dnswatch::dnstap::map::build;
use dnswatch::dnstap::proto::{MessageType, SocketProtocol};

/// unbound's plain DNS port and its DNS-over-TLS port (loopback only).
const PORT: u16 = 10553;
const TLS_PORT: u16 = 10853;

/// The unbound tests share ports: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// unbound serving `lab.example` from local-data on 127.0.0.1 and ::1,
/// plain DNS on PORT and DNS over TLS on TLS_PORT (self-signed
/// certificate), logging client queries and responses to `socket`.
fn start_unbound(dir: &Path, socket: &Path) -> Proc {
    if !dir.join("cert.pem").exists() {
        let st = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=localhost",
                "-keyout",
            ])
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl");
        assert!(st.success());
    }
    let d = dir.display();
    let conf = format!(
        "server:\n  verbosity: 1\n  interface: 127.0.0.1@{PORT}\n  interface: ::1@{PORT}\n  interface: 127.0.0.1@{TLS_PORT}\n\
         tls-port: {TLS_PORT}\n  tls-service-key: \"{d}/key.pem\"\n  tls-service-pem: \"{d}/cert.pem\"\n\
         port: {PORT}\n  do-daemonize: no\n  use-syslog: no\n  logfile: \"{d}/unbound.log\"\n  username: \"\"\n  chroot: \"\"\n\
         directory: \"{d}\"\n  pidfile: \"{d}/unbound.pid\"\n  access-control: 127.0.0.0/8 allow\n  access-control: ::1 allow\n\
         num-threads: 1\n  module-config: \"iterator\"\n\
         local-zone: \"lab.example.\" static\n\
         local-data: \"www.lab.example. 300 IN A 192.0.2.10\"\n\
         local-data: \"www.lab.example. 300 IN AAAA 2001:db8::10\"\n\
         local-data: \"mail.lab.example. 300 IN MX 10 mx.lab.example.\"\n\
         local-data: \"mx.lab.example. 300 IN A 192.0.2.25\"\n\
         dnstap:\n  dnstap-enable: yes\n  dnstap-socket-path: \"{}\"\n  dnstap-send-identity: yes\n\
         dnstap-identity: \"ub-test\"\n  dnstap-send-version: yes\n\
         dnstap-log-client-query-messages: yes\n  dnstap-log-client-response-messages: yes\n",
        socket.display()
    );
    std::fs::write(dir.join("unbound.conf"), conf).unwrap();
    let child = Command::new("unbound")
        .args(["-d", "-c"])
        .arg(dir.join("unbound.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start unbound (apt-get install unbound)");
    let p = Proc(child);
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        if dig(&["@127.0.0.1", "mx.lab.example", "A"]).contains("192.0.2.25") {
            return p;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "unbound did not answer: {}",
        std::fs::read_to_string(dir.join("unbound.log")).unwrap_or_default()
    );
}

fn dig(args: &[&str]) -> String {
    let out = Command::new("dig")
        .args([
            "-p",
            &PORT.to_string(),
            "+short",
            "+tries=1",
            "+time=2",
            "+nocookie",
        ])
        .args(args)
        .output()
        .expect("dig (apt-get install dnsutils)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn kdig_tls(name: &str, qtype: &str) -> String {
    let out = Command::new("kdig")
        .args([
            "+tls",
            "+short",
            "+time=2",
            "+retry=0",
            "-p",
            &TLS_PORT.to_string(),
            "@127.0.0.1",
            name,
            qtype,
        ])
        .output()
        .expect("kdig (apt-get install knot-dnsutils)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The queries both unbound tests send: (how, qname, qtype, expected short answer).
fn send_queries() -> Vec<(&'static str, &'static str, &'static str)> {
    let q = vec![
        ("udp", "www.lab.example", "A"),
        ("tcp", "www.lab.example", "AAAA"),
        ("udp6", "mail.lab.example", "MX"),
        ("udp", "nothere.lab.example", "A"),
        ("dot", "www.lab.example", "A"),
    ];
    for (how, name, qtype) in &q {
        let out = match *how {
            "udp" => dig(&["@127.0.0.1", name, qtype]),
            "tcp" => dig(&["@127.0.0.1", "+tcp", name, qtype]),
            "udp6" => dig(&["@::1", name, qtype]),
            _ => kdig_tls(name, qtype),
        };
        if *name != "nothere.lab.example" {
            assert!(!out.trim().is_empty(), "{how} {name} {qtype}: no answer");
        }
    }
    q
}

fn lookups(db: &Path) -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_dnswatch"))
        .args(["lookups", "--format", "json", "--db"])
        .arg(db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Waits until the database holds `n` lookups (the daemon commits every 200 ms).
fn wait_lookups(db: &Path, n: usize) -> Vec<serde_json::Value> {
    let t = Instant::now();
    loop {
        let got = if db.exists() { lookups(db) } else { Vec::new() };
        if got.len() >= n || t.elapsed() > Duration::from_secs(20) {
            return got;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// (querier, querier port, server, transport, qname, qtype, rcode, answers), sorted.
fn shape(v: &[serde_json::Value]) -> Vec<String> {
    let mut s: Vec<String> = v
        .iter()
        .map(|l| {
            format!(
                "{} {} {} {} {} {} {} {}",
                l["querier"],
                l["querier_port"],
                l["server"],
                l["transport"],
                l["qname"],
                l["qtype"],
                l["rcode"],
                l["answers"]
            )
        })
        .collect();
    s.sort();
    s
}

/// Every query is exactly one lookup, with the right querier, qname,
/// qtype, rcode, answers and transport.
fn check_expected(got: &[serde_json::Value], sent: &[(&str, &str, &str)]) {
    assert_eq!(got.len(), sent.len(), "{got:#?}");
    for (how, name, qtype) in sent {
        let (transport, querier, port) = match *how {
            "udp" => ("udp", "127.0.0.1", PORT),
            "tcp" => ("tcp", "127.0.0.1", PORT),
            "udp6" => ("udp", "::1", PORT),
            // unbound 1.17 reports its DNS-over-TLS clients with
            // socket_protocol TCP (the DOT value is sent from 1.18 on):
            // dnswatch records what the resolver says; the port tells.
            _ => ("tcp", "127.0.0.1", TLS_PORT),
        };
        let hits: Vec<_> = got
            .iter()
            .filter(|l| {
                l["qname"] == *name
                    && l["qtype"] == *qtype
                    && l["transport"] == transport
                    && l["server_port"] == port
            })
            .collect();
        assert_eq!(hits.len(), 1, "{how} {name} {qtype}: {got:#?}");
        let l = hits[0];
        assert_eq!(l["querier"], querier, "{l}");
        assert_eq!(l["server"], querier, "{l}");
        // The dnstap identity unbound sends is the sensor.
        assert_eq!(l["sensor"], "ub-test", "{l}");
        assert!(l["query_seen"].as_bool().unwrap() && l["answered"].as_bool().unwrap());
        let answers = l["answers"].to_string();
        match (*name, *qtype) {
            ("www.lab.example", "A") => {
                assert_eq!(l["rcode"], "NOERROR");
                assert!(answers.contains("192.0.2.10"), "{l}");
            }
            ("www.lab.example", "AAAA") => assert!(answers.contains("2001:db8::10"), "{l}"),
            ("mail.lab.example", "MX") => assert!(answers.contains("10 mx.lab.example."), "{l}"),
            _ => {
                assert_eq!(l["rcode"], "NXDOMAIN", "{l}");
                assert_eq!(l["answers"], serde_json::json!([]));
            }
        }
    }
}

fn tcpdump(pcap: &Path) -> Proc {
    let p = Proc(
        Command::new("tcpdump")
            .args(["-i", "lo", "-n", "-s", "0", "-U", "-w"])
            .arg(pcap)
            .args(["port", &PORT.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tcpdump (apt-get install tcpdump)"),
    );
    std::thread::sleep(Duration::from_millis(700));
    p
}

fn replay(db: &Path, files: &[&Path]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_dnswatch"))
        .args([
            "replay",
            "--no-progress",
            "--port",
            &PORT.to_string(),
            "--watch",
            "lab.example",
            "--db",
        ])
        .arg(db)
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A directory an unprivileged daemon can write to.
fn open_dir() -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o777)).unwrap();
    (dir, run)
}

#[test]
fn unbound_streams_to_the_daemon_which_needs_no_capture_privilege_and_matches_tcpdump() {
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    must_be_root("dnstap tests with unbound");
    let (dir, run) = open_dir();
    let socket = run.join("dnstap.sock");
    let db = run.join("live.db");
    let mport = free_port();
    let cfg = run.join("d.toml");
    std::fs::write(
        &cfg,
        format!("[metrics]\nlisten = \"127.0.0.1:{mport}\"\n[storage]\ncommit_interval_ms = 200\n"),
    )
    .unwrap();
    // Only a dnstap socket: no interface, run as nobody with no capability.
    let d = Daemon::start_as(
        &[
            "--dnstap-socket",
            socket.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            "--watch",
            "lab.example",
        ],
        true,
    );
    let pcap = dir.path().join("same-time.pcap");
    let dump = tcpdump(&pcap);
    let unbound = start_unbound(dir.path(), &socket);
    // The readiness probe of start_unbound is a lookup of its own.
    let sent = send_queries();
    let got = wait_lookups(&db, sent.len() + 1);
    let before = got.len();
    // Metrics are rendered once a second.
    std::thread::sleep(Duration::from_millis(1200));
    let m = metrics(mport);
    assert_eq!(metric_sum(&m, "dnswatch_dnstap_connected_peers"), 1, "{m}");
    assert!(
        m.contains("type=\"CLIENT_QUERY\"} 6") && m.contains("type=\"CLIENT_RESPONSE\"} 6"),
        "{m}"
    );
    assert_eq!(metric_sum(&m, "dnswatch_dnstap_decode_errors_total"), 0);
    assert_eq!(metric_sum(&m, "dnswatch_dnstap_drops_total"), 0);
    dump.term();
    let got: Vec<_> = got
        .into_iter()
        .filter(|l| l["qname"] != "mx.lab.example")
        .collect();
    check_expected(&got, &sent);
    for l in &got {
        assert!(l["source"].as_str().unwrap().starts_with("unix:"), "{l}");
    }

    // Equivalence: tcpdump's capture of the plain queries replays to the
    // same lookups as the dnstap stream gave.
    let db2 = dir.path().join("replay.db");
    replay(&db2, &[&pcap]);
    let from_pcap: Vec<_> = lookups(&db2)
        .into_iter()
        .filter(|l| l["qname"] != "mx.lab.example")
        .collect();
    let plain: Vec<_> = got
        .iter()
        .filter(|l| l["server_port"] == PORT)
        .cloned()
        .collect();
    assert_eq!(from_pcap.len(), 4, "{from_pcap:#?}");
    assert_eq!(shape(&from_pcap), shape(&plain));

    // unbound restarts: its new connection is picked up.
    drop(unbound);
    let _unbound = start_unbound(dir.path(), &socket);
    assert!(dig(&["@127.0.0.1", "www.lab.example", "AAAA"]).contains("2001:db8::10"));
    // Its readiness probe and the AAAA query.
    let after = wait_lookups(&db, before + 2);
    assert_eq!(
        after.len(),
        before + 2,
        "not picked up after reconnect: {after:#?}"
    );
    std::thread::sleep(Duration::from_millis(1200));
    let m = metrics(mport);
    assert!(m.contains("type=\"CLIENT_QUERY\"} 8"), "{m}");
    let log = d.stop();
    assert!(log.contains("dnstap: peer connected"), "{log}");
    assert!(!log.contains("cannot capture"), "{log}");
}

/// A Frame Streams tee: accepts one sender on `listen` (the resolver),
/// connects to each of `outs` as a sender, and copies every frame to all of
/// them; the end of the input (STOP or a close) ends every output with
/// STOP and waits for its FINISH.
fn tee(listen: &Path, outs: Vec<PathBuf>) -> std::thread::JoinHandle<u64> {
    let l = std::os::unix::net::UnixListener::bind(listen).unwrap();
    std::thread::spawn(move || {
        let (mut inp, _) = l.accept().unwrap();
        assert_eq!(read_control(&mut inp).kind, ControlType::Ready);
        inp.write_all(&Control::dnstap(ControlType::Accept).encode())
            .unwrap();
        assert_eq!(read_control(&mut inp).kind, ControlType::Start);
        let mut outs: Vec<UnixStream> = outs
            .iter()
            .map(|p| {
                let mut s = UnixStream::connect(p).unwrap();
                handshake(&mut s);
                s
            })
            .collect();
        let mut frames = 0u64;
        loop {
            let mut len = [0u8; 4];
            if inp.read_exact(&mut len).is_err() {
                break; // the resolver was killed between frames
            }
            let n = u32::from_be_bytes(len) as usize;
            if n == 0 {
                break; // STOP (the only control frame after START)
            }
            let mut data = vec![0u8; n];
            inp.read_exact(&mut data).unwrap();
            let mut f = Vec::with_capacity(n + 4);
            encode_data(&data, &mut f);
            for o in &mut outs {
                o.write_all(&f).unwrap();
            }
            frames += 1;
        }
        let stop = Control {
            kind: ControlType::Stop,
            content_types: vec![],
        }
        .encode();
        for o in &mut outs {
            o.write_all(&stop).unwrap();
            assert_eq!(read_control(o).kind, ControlType::Finish);
        }
        frames
    })
}

#[test]
fn an_fstrm_capture_file_of_the_same_stream_replays_to_the_live_lookups() {
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    must_be_root("dnstap tests with unbound");
    let (dir, run) = open_dir();
    // unbound → tee → fstrm_capture (file) and → dnswatch run (live).
    let fsock = run.join("fstrm.sock");
    let dsock = run.join("dnswatch.sock");
    let tsock = run.join("tee.sock");
    let file = dir.path().join("unbound.dnstap");
    let capture = Proc(
        Command::new("fstrm_capture")
            .args(["-t", "protobuf:dnstap.Dnstap", "-u"])
            .arg(&fsock)
            .arg("-w")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("fstrm_capture (apt-get install fstrm-bin)"),
    );
    let live_db = run.join("live.db");
    let cfg = run.join("d.toml");
    std::fs::write(
        &cfg,
        "[storage]\ncommit_interval_ms = 200\n[metrics]\nlisten = \"\"\n",
    )
    .unwrap();
    let d = Daemon::start_as(
        &[
            "--dnstap-socket",
            dsock.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "--db",
            live_db.to_str().unwrap(),
            "--watch",
            "lab.example",
        ],
        false,
    );
    let t = Instant::now();
    while !fsock.exists() && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let tee = tee(&tsock, vec![fsock.clone(), dsock.clone()]);
    let pcap = dir.path().join("same-time.pcap");
    let dump = tcpdump(&pcap);
    let unbound = start_unbound(dir.path(), &tsock);
    let sent = send_queries();
    let live_now = wait_lookups(&live_db, sent.len() + 1);
    assert_eq!(live_now.len(), sent.len() + 1, "{live_now:#?}");
    std::thread::sleep(Duration::from_millis(500));
    drop(unbound);
    assert_eq!(
        tee.join().unwrap(),
        12,
        "probe + 5 queries, query and response each"
    );
    dump.term();
    d.stop();
    capture.term();

    let db = dir.path().join("file.db");
    let summary = replay(&db, &[&file]);
    assert!(
        summary.contains("dnstap frames    12 (0 not dnstap messages)"),
        "{summary}"
    );
    let from_file = lookups(&db);
    // The same lookups, field by field, as the live run (provenance aside).
    let strip = |v: Vec<serde_json::Value>| -> Vec<serde_json::Value> {
        v.into_iter()
            .map(|mut l| {
                l.as_object_mut().unwrap().remove("source");
                l
            })
            .collect()
    };
    let live = lookups(&live_db);
    assert_eq!(strip(from_file.clone()), strip(live.clone()));
    let got: Vec<_> = from_file
        .iter()
        .filter(|l| l["qname"] != "mx.lab.example")
        .cloned()
        .collect();
    check_expected(&got, &sent);
    assert!(got.iter().all(|l| l["source"]
        .as_str()
        .unwrap()
        .starts_with(file.to_str().unwrap())));

    // And the plain queries agree with tcpdump's capture of the same moments.
    let db2 = dir.path().join("pcap.db");
    replay(&db2, &[&pcap]);
    let from_pcap: Vec<_> = lookups(&db2)
        .into_iter()
        .filter(|l| l["qname"] != "mx.lab.example")
        .collect();
    let plain: Vec<_> = got
        .iter()
        .filter(|l| l["server_port"] == PORT)
        .cloned()
        .collect();
    assert_eq!(shape(&from_pcap), shape(&plain));

    // Replaying it twice gives identical lookups (dnstap time is the clock).
    let db3 = dir.path().join("again.db");
    replay(&db3, &[&file]);
    assert_eq!(lookups(&db3), from_file);
}

/// The unbound 1.17 stream shipped in tests/data (captured with
/// fstrm_capture: UDP, TCP and DoT queries) replays without root.
#[test]
fn the_shipped_unbound_capture_replays_to_its_four_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("f.db");
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/unbound-1.17.dnstap");
    let summary = replay(&db, &[&file]);
    assert!(
        summary.contains("dnstap frames    8 (0 not dnstap messages)"),
        "{summary}"
    );
    let got = lookups(&db);
    let rows: Vec<String> = got
        .iter()
        .map(|l| {
            format!(
                "{} {} {} {} {} {}",
                l["transport"], l["server_port"], l["qname"], l["qtype"], l["rcode"], l["answers"]
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            r#""udp" 5391 "www.lab.example" "A" "NOERROR" [{"name":"www.lab.example","type":"A","ttl":300,"data":"192.0.2.10"}]"#,
            r#""tcp" 5391 "www.lab.example" "AAAA" "NOERROR" [{"name":"www.lab.example","type":"AAAA","ttl":300,"data":"2001:db8::10"}]"#,
            r#""tcp" 8531 "mail.lab.example" "MX" "NOERROR" [{"name":"mail.lab.example","type":"MX","ttl":300,"data":"10 mx.lab.example."}]"#,
            r#""udp" 5391 "nx.lab.example" "A" "NXDOMAIN" []"#,
        ]
    );
    // Cut short inside a frame: the lookups before the cut, and the damage reported.
    let bytes = std::fs::read(&file).unwrap();
    let cut = dir.path().join("cut.dnstap");
    std::fs::write(&cut, &bytes[..bytes.len() - 40]).unwrap();
    let db2 = dir.path().join("cut.db");
    let summary = replay(&db2, &[&cut]);
    assert!(
        summary.contains("damaged") && summary.contains("dnstap file cut short"),
        "{summary}"
    );
    assert_eq!(
        lookups(&db2).len(),
        4,
        "the last response is lost, its query is unanswered"
    );
}

// ---------------------------------------------------------------------
// Hostile peers (no unbound needed).

fn read_control(s: &mut impl Read) -> Control {
    let mut head = [0u8; 8];
    s.read_exact(&mut head).expect("a control frame");
    assert_eq!(&head[..4], &[0, 0, 0, 0]);
    let len = u32::from_be_bytes(head[4..8].try_into().unwrap()) as usize;
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    let mut all = head.to_vec();
    all.extend(body);
    match dnswatch::dnstap::frame::parse(&all, 1 << 20).unwrap() {
        Some((dnswatch::dnstap::frame::Frame::Control(c), _)) => c,
        other => panic!("{other:?}"),
    }
}

/// Handshake as a resolver does: READY, ACCEPT back, START.
fn handshake(s: &mut (impl Read + Write)) {
    s.write_all(&Control::dnstap(ControlType::Ready).encode())
        .unwrap();
    assert_eq!(read_control(s).kind, ControlType::Accept);
    s.write_all(&Control::dnstap(ControlType::Start).encode())
        .unwrap();
}

fn dns(id: u16, name: &str, response: bool, rcode: u8) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[
        if response { 0x81 } else { 0x01 },
        if response { 0x80 | rcode } else { 0 },
    ]);
    m.extend_from_slice(&[0, 1, 0, if response { 1 } else { 0 }, 0, 0, 0, 0]);
    for l in name.split('.') {
        m.push(l.len() as u8);
        m.extend_from_slice(l.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    if response {
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 7]);
    }
    m
}

fn client_pair(id: u16, name: &str, port: u16, t: i64) -> [Vec<u8>; 2] {
    let c: std::net::SocketAddr = format!("192.0.2.1:{port}").parse().unwrap();
    let s: std::net::SocketAddr = "192.0.2.53:53".parse().unwrap();
    [
        build(
            b"good",
            MessageType::ClientQuery,
            SocketProtocol::Udp,
            c,
            s,
            Some((t, &dns(id, name, false, 0))),
            None,
        ),
        build(
            b"good",
            MessageType::ClientResponse,
            SocketProtocol::Udp,
            c,
            s,
            None,
            Some((t + 500, &dns(id, name, true, 0))),
        ),
    ]
}

#[test]
fn hostile_peers_are_counted_and_dropped_while_a_good_peer_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("dnstap.sock");
    let db = dir.path().join("h.db");
    let mport = free_port();
    let tport = free_port();
    let cfg = dir.path().join("d.toml");
    std::fs::write(
        &cfg,
        format!("[metrics]\nlisten = \"127.0.0.1:{mport}\"\n[storage]\ncommit_interval_ms = 200\n"),
    )
    .unwrap();
    let d = Daemon::start_as(
        &[
            "--dnstap-socket",
            socket.to_str().unwrap(),
            "--dnstap-tcp",
            &format!("127.0.0.1:{tport}"),
            "--config",
            cfg.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            "--watch",
            "good.example",
        ],
        false,
    );
    let t0 = 1_700_000_000_000_000i64;
    // The good peer connects first and stays connected throughout.
    let mut good = UnixStream::connect(&socket).unwrap();
    handshake(&mut good);
    let mut out = Vec::new();
    for i in 0..50u16 {
        for f in client_pair(
            i,
            &format!("h{i}.good.example"),
            10_000 + i,
            t0 + i64::from(i) * 1000,
        ) {
            encode_data(&f, &mut out);
        }
    }
    good.write_all(&out).unwrap();

    let tcp = || TcpStream::connect(("127.0.0.1", tport)).unwrap();
    let start = Control::dnstap(ControlType::Start).encode();
    // 1. A truncated frame: 100 bytes announced, 10 sent, then closed.
    let mut s = tcp();
    handshake(&mut s);
    s.write_all(&100u32.to_be_bytes()).unwrap();
    s.write_all(&[7u8; 10]).unwrap();
    drop(s);
    // 2. A 4 GiB frame length.
    let mut s = UnixStream::connect(&socket).unwrap();
    handshake(&mut s);
    s.write_all(&u32::MAX.to_be_bytes()).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest); // the daemon hangs up
                                      // 3. A control frame in the wrong state: START before READY.
    let mut s = tcp();
    s.write_all(&start).unwrap();
    let _ = s.read_to_end(&mut rest);
    // 4. Plain garbage.
    let mut s = UnixStream::connect(&socket).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let _ = s.read_to_end(&mut rest);
    // 5. Protobuf that is not dnstap, and a dnstap message whose DNS payload is garbage.
    let mut s = tcp();
    handshake(&mut s);
    let mut frames = Vec::new();
    encode_data(&[0x28, 0x96, 0x01], &mut frames);
    let c: std::net::SocketAddr = "192.0.2.9:5000".parse().unwrap();
    let srv: std::net::SocketAddr = "192.0.2.53:53".parse().unwrap();
    encode_data(
        &build(
            b"bad",
            MessageType::ClientQuery,
            SocketProtocol::Udp,
            c,
            srv,
            Some((
                t0,
                b"\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x3fabc",
            )),
            None,
        ),
        &mut frames,
    );
    s.write_all(&frames).unwrap();
    s.write_all(
        &dnswatch::dnstap::frame::Control {
            kind: ControlType::Stop,
            content_types: vec![],
        }
        .encode(),
    )
    .unwrap();
    assert_eq!(read_control(&mut s).kind, ControlType::Finish);

    // The good peer goes on and ends cleanly.
    let mut out = Vec::new();
    for i in 50..100u16 {
        for f in client_pair(
            i,
            &format!("h{i}.good.example"),
            10_000 + i,
            t0 + i64::from(i) * 1000,
        ) {
            encode_data(&f, &mut out);
        }
    }
    good.write_all(&out).unwrap();
    good.write_all(
        &Control {
            kind: ControlType::Stop,
            content_types: vec![],
        }
        .encode(),
    )
    .unwrap();
    assert_eq!(read_control(&mut good).kind, ControlType::Finish);

    let got = wait_lookups(&db, 100);
    assert_eq!(got.len(), 100, "{got:#?}");
    assert!(got
        .iter()
        .all(|l| l["rcode"] == "NOERROR" && l["answers"][0]["data"] == "192.0.2.7"));
    std::thread::sleep(Duration::from_millis(1200));
    let m = metrics(mport);
    // Truncated, 4 GiB, START before READY, garbage: four streams dropped.
    assert_eq!(
        metric_sum(&m, "dnswatch_dnstap_stream_errors_total"),
        4,
        "{m}"
    );
    // The protobuf that is not dnstap.
    assert_eq!(
        metric_sum(&m, "dnswatch_dnstap_decode_errors_total"),
        1,
        "{m}"
    );
    // The garbage DNS payload reached the DNS decoder and was counted there.
    assert!(
        m.contains("dnswatch_decode_errors_total{kind=\"dns_bad_question\"} 1"),
        "{m}"
    );
    assert_eq!(metric_sum(&m, "dnswatch_dnstap_frames_total"), 202, "{m}");
    let log = d.stop();
    assert!(log.contains("4294967295 bytes exceeds the bound"), "{log}");
    assert!(
        log.contains("control frame START not allowed before READY"),
        "{log}"
    );
}
