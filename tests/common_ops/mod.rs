//! Helpers shared by the operations tests (reload, pools, admin, upstream mTLS, connection age):
//! an in-process gateway with its reloader and admin endpoint, a controllable upstream, the
//! binary with JSON logs, a plain HTTP client for the admin endpoint and a Prometheus text
//! parser.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use crate::common::{Got, Issued, Pki, STEP, eventually, tls_client};

/// `ANY /{proxy+}` -> `http://${stageVariables.backend}/{proxy}`.
pub const PROXY_ROUTE: &str = "[[api.inv.routes]]\nmethod = \"ANY\"\npath = \"/{proxy+}\"\nintegration = \"http://${stageVariables.backend}/{proxy}\"\n";

/// A configuration: one domain `localhost` on 127.0.0.1:0 mapping "/" to API `inv` stage
/// `prod` (stage variable `backend = "onprem"`), `routes`, `[upstream.onprem]` with `targets`
/// plus `pool_extra` lines, `domain_extra` lines in the `[[domain]]` table and `top` first.
pub fn ops_config(
    pki: &Pki,
    targets: &[SocketAddr],
    pool_extra: &str,
    routes: &str,
    domain_extra: &str,
    top: &str,
) -> String {
    let targets = targets
        .iter()
        .map(|t| format!("\"{t}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{top}\n{}{domain_extra}\n[[domain.mapping]]\nbase_path = \"/\"\napi = \"inv\"\nstage = \"prod\"\n\n[api.inv.stages.prod]\nvariables = {{ backend = \"onprem\" }}\n\n{routes}\n[upstream.onprem]\ntargets = [{targets}]\n{pool_extra}\n",
        pki.domain_toml("localhost", "127.0.0.1:0")
    )
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound, then released).
pub fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// Replace `path` atomically (write a sibling, then rename over it), as deploy tools do.
pub fn replace_file(path: &Path, contents: &[u8]) {
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Lower-case hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Plain HTTP/1.1 `GET path` to `addr` (the admin endpoint): status and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let fut = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let req = Request::get(path)
            .header("host", addr.to_string())
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    };
    tokio::time::timeout(STEP, fut)
        .await
        .map_err(|_| "timed out".to_string())?
}

/// One sample of a Prometheus text exposition.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Metric name, with any `_total` suffix.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Value.
    pub value: f64,
}

/// Parse the samples of a Prometheus / OpenMetrics text exposition.
pub fn parse_metrics(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (name, labels, rest) = match line.find('{') {
            Some(open) => {
                let close = line.rfind('}').expect("unclosed label set");
                (&line[..open], &line[open + 1..close], &line[close + 1..])
            }
            None => {
                let sp = line.find(' ').expect("sample without a value");
                (&line[..sp], "", &line[sp..])
            }
        };
        let mut map = BTreeMap::new();
        let mut rest_labels = labels;
        while let Some(eq) = rest_labels.find("=\"") {
            let key = rest_labels[..eq].trim_start_matches(',').trim().to_owned();
            let after = &rest_labels[eq + 2..];
            // Values are escaped; find the closing quote that is not escaped.
            let mut end = 0;
            let bytes = after.as_bytes();
            while end < bytes.len() {
                if bytes[end] == b'\\' {
                    end += 2;
                    continue;
                }
                if bytes[end] == b'"' {
                    break;
                }
                end += 1;
            }
            map.insert(
                key,
                after[..end].replace("\\\"", "\"").replace("\\\\", "\\"),
            );
            rest_labels = &after[(end + 1).min(after.len())..];
        }
        let value = rest
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN);
        out.push(Sample {
            name: name.to_owned(),
            labels: map,
            value,
        });
    }
    out
}

/// The samples named `name` whose labels include every pair of `labels`.
pub fn samples<'a>(all: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    all.iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

/// The sum of the samples named `name` with `labels` (0 when there are none).
pub fn metric_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples(&parse_metrics(text), name, labels)
        .iter()
        .map(|s| s.value)
        .sum()
}

/// The single sample named `name` with `labels`, if exactly one exists.
pub fn metric_one(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let all = parse_metrics(text);
    let found = samples(&all, name, labels);
    (found.len() == 1).then(|| found[0].value)
}

/// A running in-process gateway with its reloader and admin endpoint.
pub struct Running {
    /// The gateway (clones drive the same one).
    pub gw: portcullis::server::Gateway,
    /// Its reloader, reading `config`.
    pub reloader: portcullis::reload::Reloader,
    /// First listener.
    pub addr: SocketAddr,
    /// Admin endpoint.
    pub admin: SocketAddr,
    /// The configuration file.
    pub config: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// The `run` task; it ends when the drain is over.
    pub done: Option<tokio::task::JoinHandle<()>>,
    admin_task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Running {
    /// Write `config` to a file, load it, bind, run, and serve the admin endpoint on
    /// 127.0.0.1:0.
    pub async fn start(config: &str) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.toml");
        std::fs::write(&path, config).unwrap();
        let (snapshot, _warnings) = portcullis::state::load(&path, 1)
            .unwrap_or_else(|e| panic!("gateway refused config:\n{e}"));
        let gw = portcullis::server::Gateway::bind(snapshot).await.unwrap();
        let addr = gw.local_addrs()[0];
        let reloader = portcullis::reload::Reloader::new(path.clone(), gw.clone());
        let admin = portcullis::admin::Admin::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let admin_addr = admin.local_addr().unwrap();
        let admin_task = tokio::spawn(admin.run(gw.clone(), Some(reloader.clone())));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let g = gw.clone();
        let done = tokio::spawn(async move {
            g.run(async move {
                let _ = rx.await;
            })
            .await
        });
        // `run` marks the gateway ready once its listeners accept.
        let g = gw.clone();
        assert!(
            eventually(|| g.is_ready()).await,
            "the gateway never got ready"
        );
        Running {
            gw,
            reloader,
            addr,
            admin: admin_addr,
            config: path,
            stop: Some(tx),
            done: Some(done),
            admin_task,
            _dir: dir,
        }
    }

    /// Begin the graceful shutdown.
    pub fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    /// `GET path` on the admin endpoint, panicking on transport errors.
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        http_get(self.admin, path)
            .await
            .unwrap_or_else(|e| panic!("admin GET {path}: {e}"))
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        let (status, body) = self.admin_get("/metrics").await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The `/config` JSON.
    pub async fn config_json(&self) -> serde_json::Value {
        let (status, body) = self.admin_get("/config").await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("/config is not JSON ({e}): {body}"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown();
        self.admin_task.abort();
        if let Some(d) = self.done.take() {
            d.abort();
        }
    }
}

/// `GET path` on a fresh mTLS connection as the PKI's good client.
pub async fn get_at(addr: SocketAddr, pki: &Pki, path: &str) -> Result<Got, String> {
    crate::common::request(
        addr,
        "localhost",
        &pki.root.pem,
        Some(&pki.client),
        crate::common::get_req(path),
    )
    .await
}

/// A request with a method and an optional body.
pub fn req(method: &str, path: &str, body: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

/// One HTTP/1.1 keep-alive connection to the gateway.
pub struct KeepAlive {
    send: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    /// The connection task; it ends when the connection closes.
    pub conn: tokio::task::JoinHandle<()>,
}

impl KeepAlive {
    /// Connect as `client` (the PKI's good client when `None`).
    pub async fn open(addr: SocketAddr, pki: &Pki, client: Option<&Issued>) -> KeepAlive {
        let connector = tls_client(
            &pki.root.pem,
            Some(client.unwrap_or(&pki.client)),
            &[b"http/1.1"],
        );
        let fut = async {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let tls = connector
                .connect(ServerName::try_from("localhost").unwrap(), tcp)
                .await
                .unwrap();
            let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .unwrap();
            let conn = tokio::spawn(async move {
                let _ = conn.await;
            });
            KeepAlive { send, conn }
        };
        tokio::time::timeout(STEP, fut)
            .await
            .expect("keep-alive connect timed out")
    }

    /// Send one request on this connection.
    pub async fn send(&mut self, req: Request<Full<Bytes>>) -> Result<Got, String> {
        let fut = async {
            self.send
                .ready()
                .await
                .map_err(|e| format!("not ready: {e}"))?;
            let resp = self
                .send
                .send_request(req)
                .await
                .map_err(|e| format!("request: {e}"))?;
            crate::common::collect(resp).await
        };
        tokio::time::timeout(STEP, fut)
            .await
            .map_err(|_| "timed out".to_string())?
    }

    /// `GET path` on this connection.
    pub async fn get(&mut self, path: &str) -> Result<Got, String> {
        self.send(crate::common::get_req(path)).await
    }
}

/// One request as the controlled upstream saw it.
#[derive(Debug, Clone)]
pub struct SeenReq {
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Body length.
    pub body_len: usize,
}

/// A controllable HTTP/1.1 upstream on 127.0.0.1:0 answering `<name>:<path>`.
///
/// `/health` answers 200 or 500 as `healthy` says (not recorded in `seen`, counted in
/// `health_checks`); `/hold...` waits until `release()` (at most 10 s); every other request is
/// recorded and answered at once.
pub struct Controlled {
    /// Address.
    pub addr: SocketAddr,
    /// `/health` answers 200 while true, 500 otherwise.
    pub healthy: Arc<AtomicBool>,
    /// Health checks answered.
    pub health_checks: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<SeenReq>>>,
    release: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Controlled {
    /// Start an upstream whose bodies say `name`.
    pub async fn start(name: &'static str) -> Controlled {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let healthy = Arc::new(AtomicBool::new(true));
        let health_checks = Arc::new(AtomicUsize::new(0));
        let seen: Arc<Mutex<Vec<SeenReq>>> = Arc::default();
        let (release, release_rx) = tokio::sync::watch::channel(false);
        let (h, hc, s) = (healthy.clone(), health_checks.clone(), seen.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (h, hc, s, rx) = (h.clone(), hc.clone(), s.clone(), release_rx.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let (h, hc, s, mut rx) = (h.clone(), hc.clone(), s.clone(), rx.clone());
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let path = parts
                                .uri
                                .path_and_query()
                                .map(|p| p.to_string())
                                .unwrap_or_default();
                            if parts.uri.path() == "/health" {
                                hc.fetch_add(1, Ordering::Relaxed);
                                let mut r =
                                    Response::new(Full::new(Bytes::from(format!("{name}:health"))));
                                if !h.load(Ordering::Relaxed) {
                                    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                                }
                                return Ok::<_, std::convert::Infallible>(r);
                            }
                            s.lock().unwrap().push(SeenReq {
                                method: parts.method.to_string(),
                                path: path.clone(),
                                body_len: body.len(),
                            });
                            if parts.uri.path().starts_with("/hold") {
                                let _ = tokio::time::timeout(
                                    Duration::from_secs(10),
                                    rx.wait_for(|released| *released),
                                )
                                .await;
                            }
                            Ok(Response::new(Full::new(Bytes::from(format!(
                                "{name}:{path}"
                            )))))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        Controlled {
            addr,
            healthy,
            health_checks,
            seen,
            release,
            task,
        }
    }

    /// Requests seen so far (health checks excluded).
    pub fn seen(&self) -> Vec<SeenReq> {
        self.seen.lock().unwrap().clone()
    }

    /// Let every held `/hold` request (and later ones) answer.
    pub fn release(&self) {
        let _ = self.release.send(true);
    }

    /// Make `/health` answer 200 (`true`) or 500.
    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Relaxed);
    }
}

impl Drop for Controlled {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[allow(unused_imports)]
pub use crate::common::Served;

/// Poll the async `cond` every 50 ms for up to `bound`; true once it holds.
pub async fn within<F, Fut>(bound: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        if cond().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
