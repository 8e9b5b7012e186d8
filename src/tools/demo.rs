//! The quick start: a dev PKI, a built-in sample "on-prem inventory service", and the gateway
//! in front of it on `config/demo.toml` (the same path `serve` takes).

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

/// Where the sample on-prem service listens (the demo config's `[upstream.onprem-demo]`).
pub const SAMPLE_SERVICE_ADDR: &str = "127.0.0.1:18001";

/// The demo configuration, used when `config/demo.toml` is not on disk.
pub const EMBEDDED_DEMO_CONFIG: &str = include_str!("../../config/demo.toml");

/// Answer like a small on-prem REST service would.
async fn sample(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let client = req
        .headers()
        .get("x-forwarded-client-cert")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let subject = client
        .split(';')
        .find_map(|kv| kv.strip_prefix("Subject="))
        .unwrap_or("\"\"")
        .to_owned();
    let path = req.uri().path();
    let (status, body) = if path == "/rest-service/inventory" {
        (
            StatusCode::OK,
            format!(
                r#"{{"items":[{{"sku":"WIDGET-1","name":"Widget","quantity":42}},{{"sku":"GADGET-7","name":"Gadget","quantity":7}}],"served_by":"onprem-inventory","client_subject":{subject}}}"#
            ),
        )
    } else if let Some(sku) = path.strip_prefix("/rest-service/items/") {
        (
            StatusCode::OK,
            format!(
                r#"{{"sku":"{}","quantity":1,"client_subject":{subject}}}"#,
                sku.replace('"', "")
            ),
        )
    } else if path == "/health" {
        (StatusCode::OK, r#"{"status":"ok"}"#.to_owned())
    } else {
        (
            StatusCode::NOT_FOUND,
            r#"{"message":"not found"}"#.to_owned(),
        )
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// Serve the sample on-prem service on `listener` until the task is dropped.
pub async fn run_sample_service(listener: TcpListener) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tcp), service_fn(sample))
                .await;
        });
    }
}

/// Bind the sample service's address, with an error that says what to do when it is taken.
pub async fn bind_sample_service() -> std::io::Result<(TcpListener, SocketAddr)> {
    let l = TcpListener::bind(SAMPLE_SERVICE_ADDR).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "the sample on-prem service cannot listen on {SAMPLE_SERVICE_ADDR}: {e} (is another demo running?)"
            ),
        )
    })?;
    let a = l.local_addr()?;
    Ok((l, a))
}
