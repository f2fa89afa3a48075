//! Processes for the live tests (tests/live.rs, tests/dnstap.rs): a child
//! killed when dropped, `dnswatch run` with its log collected, the metrics
//! endpoint, root and free ports.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Fails (never skips) a test that needs root: `.ci/run` runs as root.
pub fn must_be_root(what: &str) {
    let uid = Command::new("id").arg("-u").output().expect("id");
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "{what} need root (run them through .ci/run)"
    );
}

/// A child process, killed and reaped when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    /// SIGTERM and wait up to 10 s (tcpdump and fstrm_capture flush their files).
    pub fn term(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A TCP port nothing listens on right now (for metrics endpoints).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The body of `GET /metrics` from 127.0.0.1:`port`.
pub fn metrics(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("metrics endpoint");
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

/// The value of an unlabelled metric; panics naming it when absent.
pub fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in metrics:\n{text}"))
}

/// Sum of a metric over its label sets (0 when absent).
pub fn metric_sum(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| {
            l.starts_with(name) && matches!(l.as_bytes().get(name.len()), Some(b' ' | b'{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// `dnswatch run ARGS` with its stderr (RUST_LOG=info) collected.
pub struct Daemon {
    pub proc: Proc,
    pub log: Arc<Mutex<String>>,
}

impl Daemon {
    /// Starts the daemon as root and waits until it logs "capturing".
    pub fn start(args: &[&str]) -> Self {
        Self::start_as(args, false)
    }

    /// Starts it, optionally as `nobody` without any capability
    /// (`setpriv`), and waits until it logs "capturing".
    pub fn start_as(args: &[&str], unprivileged: bool) -> Self {
        let d = Self::spawn_as(args, unprivileged);
        d.wait_log("capturing");
        d
    }

    /// Starts `dnswatch run` as root without waiting for it to be ready.
    pub fn spawn(args: &[&str]) -> Self {
        Self::spawn_as(args, false)
    }

    fn spawn_as(args: &[&str], unprivileged: bool) -> Self {
        let bin = env!("CARGO_BIN_EXE_dnswatch");
        let mut cmd = if unprivileged {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--",
                bin,
            ]);
            c
        } else {
            Command::new(bin)
        };
        let mut child = cmd
            .arg("run")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env("RUST_LOG", "info")
            .spawn()
            .expect("start dnswatch run");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let l2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                l2.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        Self {
            proc: Proc(child),
            log,
        }
    }

    /// Waits up to 15 s for `needle` in the log; panics with the log.
    pub fn wait_log(&self, needle: &str) {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(15) {
            if self.log.lock().unwrap().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "dnswatch never logged {needle:?}:\n{}",
            self.log.lock().unwrap()
        );
    }

    /// Sends a signal (`-HUP`, `-TERM`, ...).
    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .args([sig, &self.proc.0.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// SIGTERM; asserts a clean exit within 20 s and returns the log.
    pub fn stop(mut self) -> String {
        self.signal("-TERM");
        let t = Instant::now();
        loop {
            if let Some(st) = self.proc.0.try_wait().unwrap() {
                assert!(st.success(), "exit {st:?}:\n{}", self.log.lock().unwrap());
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(20), "did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(100));
        let log = self.log.lock().unwrap().clone();
        log
    }
}
