//! A small blocking client for ClickHouse's HTTP interface: statements as
//! POST bodies, inserts as `INSERT INTO t (cols) FORMAT RowBinary` in the
//! query string with the rows as body, HTTP basic authentication, optional
//! TLS (CA file, client certificate, skip-verify). Errors name the URL and
//! carry the server's exception code and text.

use std::sync::Arc;
use std::time::Duration;

use super::ChError;

/// TLS options (`storage.clickhouse.tls_*`).
#[derive(Clone, Debug, Default)]
pub struct Tls {
    /// PEM file of CA certificates to trust instead of the built-in roots.
    pub ca_file: Option<std::path::PathBuf>,
    /// PEM client certificate chain.
    pub cert_file: Option<std::path::PathBuf>,
    /// PEM client private key.
    pub key_file: Option<std::path::PathBuf>,
    /// Do not verify the server's certificate (testing only).
    pub skip_verify: bool,
}

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// `http://host:port` or `https://host:port` (a trailing `/` is ignored).
    pub url: String,
    /// User.
    pub user: String,
    /// Password.
    pub password: String,
    /// TLS options.
    pub tls: Tls,
    /// Whole-request timeout.
    pub timeout: Duration,
}

/// A connection pool to one server (keep-alive).
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
    auth: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("url", &self.base).finish()
    }
}

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for c in input.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                out.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn load_pem(path: &std::path::Path) -> Result<Vec<ureq::tls::PemItem<'static>>, ChError> {
    let bytes =
        std::fs::read(path).map_err(|e| ChError::Config(format!("{}: {e}", path.display())))?;
    ureq::tls::parse_pem(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ChError::Config(format!("{}: not PEM: {e}", path.display())))
}

impl Client {
    /// Builds the client (reads TLS files; no connection yet).
    pub fn new(ep: &Endpoint) -> Result<Self, ChError> {
        let base = ep.url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ChError::Config(format!(
                "{}: the ClickHouse URL must start with http:// or https://",
                ep.url
            )));
        }
        let mut tls = ureq::tls::TlsConfig::builder().disable_verification(ep.tls.skip_verify);
        if let Some(ca) = &ep.tls.ca_file {
            let certs: Vec<_> = load_pem(ca)?
                .into_iter()
                .filter_map(|i| match i {
                    ureq::tls::PemItem::Certificate(c) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(ChError::Config(format!(
                    "{}: no certificate in it",
                    ca.display()
                )));
            }
            tls = tls.root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs)));
        }
        match (&ep.tls.cert_file, &ep.tls.key_file) {
            (Some(c), Some(k)) => {
                let chain: Vec<_> = load_pem(c)?
                    .into_iter()
                    .filter_map(|i| match i {
                        ureq::tls::PemItem::Certificate(c) => Some(c),
                        _ => None,
                    })
                    .collect();
                let key = load_pem(k)?.into_iter().find_map(|i| match i {
                    ureq::tls::PemItem::PrivateKey(k) => Some(k),
                    _ => None,
                });
                let Some(key) = key else {
                    return Err(ChError::Config(format!(
                        "{}: no private key in it",
                        k.display()
                    )));
                };
                tls = tls.client_cert(Some(ureq::tls::ClientCert::new_with_certs(&chain, key)));
            }
            (None, None) => {}
            _ => {
                return Err(ChError::Config(
                    "tls_cert_file and tls_key_file go together".into(),
                ))
            }
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(ep.timeout))
            .timeout_connect(Some(ep.timeout.min(Duration::from_secs(5))))
            .max_idle_connections_per_host(4)
            .tls_config(tls.build())
            .build()
            .into();
        let auth = format!(
            "Basic {}",
            base64(format!("{}:{}", ep.user, ep.password).as_bytes())
        );
        Ok(Self { agent, base, auth })
    }

    /// The server URL (for messages).
    pub fn url(&self) -> &str {
        &self.base
    }

    fn post(&self, params: &[(&str, &str)], body: &[u8]) -> Result<Vec<u8>, ChError> {
        let mut req = self
            .agent
            .post(format!("{}/", self.base))
            .header("Authorization", &self.auth);
        for (k, v) in params {
            req = req.query(*k, *v);
        }
        let mut resp = req.send(body).map_err(|e| ChError::Connect {
            url: self.base.clone(),
            message: e.to_string(),
        })?;
        let status = resp.status().as_u16();
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .map_err(|e| ChError::Connect {
                url: self.base.clone(),
                message: format!("reading the response: {e}"),
            })?;
        if status != 200 {
            let text = String::from_utf8_lossy(&bytes).trim().to_string();
            return Err(ChError::Server {
                url: self.base.clone(),
                status,
                code: exception_code(&text),
                message: text.chars().take(600).collect(),
            });
        }
        Ok(bytes)
    }

    /// Runs a statement; returns the response (for `SELECT`, the rows in
    /// the format the statement names, `TabSeparated` by default).
    pub fn query(&self, sql: &str) -> Result<String, ChError> {
        let b = self.post(&[], sql.as_bytes())?;
        String::from_utf8(b).map_err(|_| ChError::Protocol {
            url: self.base.clone(),
            message: "response is not UTF-8".into(),
        })
    }

    /// Runs a statement and returns the raw response bytes.
    pub fn query_bytes(&self, sql: &str) -> Result<Vec<u8>, ChError> {
        self.post(&[], sql.as_bytes())
    }

    /// Inserts RowBinary `rows` into `table` (qualified and quoted) naming
    /// `columns`; `query_id` lets a retry see whether the insert still runs.
    pub fn insert(
        &self,
        table: &str,
        columns: &str,
        rows: &[u8],
        query_id: &str,
    ) -> Result<(), ChError> {
        let q = format!("INSERT INTO {table} ({columns}) FORMAT RowBinary");
        self.post(
            &[
                ("query", &q),
                ("query_id", query_id),
                // One block per insert, so each insert into one partition is
                // one part: all its rows or none.
                ("max_insert_block_size", "100000000"),
            ],
            rows,
        )?;
        Ok(())
    }
}

/// The `Code: N` of a ClickHouse exception text.
fn exception_code(text: &str) -> Option<u32> {
    let rest = text.split("Code: ").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_codes() {
        assert_eq!(base64(b"default:"), "ZGVmYXVsdDo=");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(
            exception_code("Code: 60, e.displayText() = DB::Exception: Table x doesn't exist"),
            Some(60)
        );
        assert_eq!(exception_code("oops"), None);
    }
}
