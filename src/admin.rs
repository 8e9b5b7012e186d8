//! The admin endpoint, on its own (loopback by default) listener: `/healthz` (process alive),
//! `/readyz` (listening, configuration loaded, not draining), `/metrics` (Prometheus text) and
//! `/config` (generation, load time, SHA-256 of the file, reload errors).

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

pub use crate::config::DEFAULT_ADMIN_LISTEN;
use crate::metrics::{CertLabels, TargetLabels};
use crate::reload::Reloader;
use crate::server::Gateway;

/// A bound admin listener.
pub struct Admin {
    listener: TcpListener,
}

impl Admin {
    /// Bind the admin address.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Admin> {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot listen on {addr} (admin): {e}"))
        })?;
        Ok(Admin { listener })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serve the admin endpoint for `gateway` until the task is dropped.
    pub async fn run(self, gateway: Gateway, reloader: Option<Reloader>) {
        if let Ok(a) = self.listener.local_addr() {
            tracing::info!(listen = %a, "admin endpoint listening");
        }
        loop {
            let Ok((tcp, _)) = self.listener.accept().await else {
                continue;
            };
            let gateway = gateway.clone();
            let reloader = reloader.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let resp = answer(&req, &gateway, reloader.as_ref());
                    async move { Ok::<_, Infallible>(resp) }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    }
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    r
}

fn answer(
    req: &Request<Incoming>,
    gateway: &Gateway,
    reloader: Option<&Reloader>,
) -> Response<Full<Bytes>> {
    match req.uri().path() {
        "/healthz" => text(StatusCode::OK, "text/plain", "ok\n".into()),
        "/readyz" => {
            if gateway.is_ready() {
                text(StatusCode::OK, "text/plain", "ready\n".into())
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    "not ready\n".into(),
                )
            }
        }
        "/metrics" => {
            refresh_gauges(gateway);
            text(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                gateway.metrics().encode(),
            )
        }
        "/config" => {
            let snapshot = gateway.state().load_full();
            let mut status = reloader.map(Reloader::status).unwrap_or_default();
            status.generation = snapshot.generation;
            if status.source.is_empty() {
                status.source = snapshot.config.source.display().to_string();
            }
            text(
                StatusCode::OK,
                "application/json",
                serde_json::to_string_pretty(&status).unwrap_or_default() + "\n",
            )
        }
        _ => text(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    }
}

/// Values computed at scrape time: certificate expiry and target health.
fn refresh_gauges(gateway: &Gateway) {
    let snapshot = gateway.state().load_full();
    let metrics = gateway.metrics();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for domain in snapshot.listeners.iter().flat_map(|l| l.domains.iter()) {
        for (kind, subject, not_after) in &domain.cert_expiry {
            metrics
                .cert_expiry_days
                .get_or_create(&CertLabels {
                    domain: domain.name.to_string(),
                    kind,
                    subject: subject.clone(),
                })
                .set((*not_after - now) as f64 / 86_400.0);
        }
    }
    for (name, pool) in snapshot.upstreams.pools() {
        for t in &pool.targets {
            metrics
                .target_healthy
                .get_or_create(&TargetLabels {
                    upstream: name.as_str().into(),
                    target: t.authority.as_str().into(),
                    zone: t.zone.clone(),
                })
                .set(i64::from(t.is_healthy()));
        }
    }
}
