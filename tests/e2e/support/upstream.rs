//! One recording, controllable upstream, whose answers say which target served which path.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Method.
    pub method: http::Method,
    /// Path and query.
    pub path_and_query: String,
    /// Headers.
    pub headers: HeaderMap,
    /// Body length.
    pub body_len: usize,
    /// The gateway's end of the connection it came over: one address per upstream connection.
    pub peer: SocketAddr,
}

/// What the connection tasks share with the test.
struct Shared {
    name: &'static str,
    seen: Mutex<Vec<Seen>>,
    healthy: AtomicBool,
    health_checks: AtomicUsize,
    release: watch::Receiver<bool>,
}

/// A recording HTTP/1.1 upstream on 127.0.0.1:0, answering 200 `<name>:<path?query>`.
///
/// `/health` answers 200 or 500 as `set_healthy` says (counted in `health_checks`, not
/// recorded); `/hold...` waits until `release()` (at most 10 s); `/slow...` waits 3 s; `/big/N`
/// answers N bytes. Every request but health checks is recorded.
pub struct Upstream {
    /// Address.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    release: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    /// An upstream whose bodies say `upstream`.
    pub async fn start() -> Upstream {
        Self::start_named("upstream").await
    }

    /// An upstream whose bodies say `<name>:<path>`, so tests can tell targets apart.
    pub async fn start_named(name: &'static str) -> Upstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (release, release_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            name,
            seen: Mutex::default(),
            healthy: AtomicBool::new(true),
            health_checks: AtomicUsize::new(0),
            release: release_rx,
        });
        let s = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, peer)) = listener.accept().await else {
                    continue;
                };
                let s = s.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| answer(s.clone(), peer, req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        Upstream {
            addr,
            shared,
            release,
            task,
        }
    }

    /// Requests seen so far (health checks excluded).
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// Health checks answered so far.
    pub fn health_checks(&self) -> usize {
        self.shared.health_checks.load(Ordering::Relaxed)
    }

    /// Let every held `/hold` request (and later ones) answer.
    pub fn release(&self) {
        let _ = self.release.send(true);
    }

    /// Make `/health` answer 200 (`true`) or 500.
    pub fn set_healthy(&self, healthy: bool) {
        self.shared.healthy.store(healthy, Ordering::Relaxed);
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Record and answer one request.
async fn answer(
    s: Arc<Shared>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let path = parts.uri.path();
    let name = s.name;
    if path == "/health" {
        s.health_checks.fetch_add(1, Ordering::Relaxed);
        let mut r = Response::new(Full::new(Bytes::from(format!("{name}:health"))));
        if !s.healthy.load(Ordering::Relaxed) {
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        }
        return Ok(r);
    }
    s.seen.lock().unwrap().push(Seen {
        method: parts.method.clone(),
        path_and_query: pq.clone(),
        headers: parts.headers.clone(),
        body_len: body.len(),
        peer,
    });
    if path.starts_with("/hold") {
        let mut rx = s.release.clone();
        let _ =
            tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|released| *released)).await;
    }
    if path.starts_with("/slow") {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let out = match path.strip_prefix("/big/") {
        Some(n) => Bytes::from(vec![b'x'; n.parse().unwrap_or(0)]),
        None => Bytes::from(format!("{name}:{pq}")),
    };
    Ok(Response::new(Full::new(out)))
}

/// A TLS upstream on 127.0.0.1:0 whose certificate, from `ca`, names `name`; answers
/// `tls-upstream:<path>`.
pub async fn tls_upstream(ca: &super::Ca, name: &str) -> std::net::SocketAddr {
    let leaf = super::issue(ca, super::Leaf::server(name));
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(leaf.chain_der.clone(), leaf.key())
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = service_fn(|req: http::Request<hyper::body::Incoming>| async move {
                    let body = format!("tls-upstream:{}", req.uri().path());
                    Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from(
                        body,
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    addr
}
