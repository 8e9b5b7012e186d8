//! Helpers shared by the TLS / client-certificate tests: configurable rustls clients that report
//! what was negotiated, configuration text with extra domain keys, and refusal assertions.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, HandshakeKind, ProtocolVersion, SupportedProtocolVersion};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::common::{Got, Issued, Pki, STEP, Upstream};

/// Both TLS versions the gateway may speak.
pub const BOTH: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];
/// TLS 1.2 only.
pub const TLS12_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];
/// TLS 1.3 only.
pub const TLS13_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];

/// A rustls client configuration trusting every root in `roots_pem` for the server, presenting
/// `client` if given, speaking `versions` and offering `alpn`. Resumption is disabled; set
/// `resumption` on the result to change that.
pub fn client_config(
    roots_pem: &[&str],
    client: Option<&Issued>,
    versions: &[&'static SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for pem in roots_pem {
        for c in rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let b = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    let mut cfg = match client {
        Some(c) => b
            .with_client_auth_cert(c.chain_der.clone(), c.key())
            .unwrap(),
        None => b.with_no_client_auth(),
    };
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    cfg.resumption = rustls::client::Resumption::disabled();
    cfg
}

/// What the client side of a TLS connection negotiated.
#[derive(Debug, Clone)]
pub struct Negotiated {
    /// TLS version.
    pub version: Option<ProtocolVersion>,
    /// ALPN protocol.
    pub alpn: Option<Vec<u8>>,
    /// Full or resumed.
    pub kind: Option<HandshakeKind>,
}

/// One connection attempt: the client's own address, and the outcome.
#[derive(Debug)]
pub struct Attempt {
    /// The client socket's local address (what the gateway logs as `client=`).
    pub local: Option<SocketAddr>,
    /// The response and what TLS negotiated, or why it failed.
    pub result: Result<(Got, Negotiated), String>,
}

impl Attempt {
    /// The response, panicking with the failure.
    pub fn ok(self) -> (Got, Negotiated) {
        self.result
            .unwrap_or_else(|e| panic!("expected a response, got an error: {e}"))
    }
}

/// A `ServerName` for a DNS name.
pub fn dns(name: &str) -> ServerName<'static> {
    ServerName::try_from(name.to_owned()).unwrap()
}

/// A `ServerName` for 127.0.0.1: rustls sends no SNI for IP addresses.
pub fn loopback_ip() -> ServerName<'static> {
    ServerName::IpAddress(std::net::IpAddr::from([127, 0, 0, 1]).into())
}

/// Connect to `addr` with `cfg` as `name`, and send `req` over HTTP/1.1 or HTTP/2 (whichever
/// ALPN chose; HTTP/1.1 when none). Everything is bounded by `STEP`.
pub async fn exchange(
    addr: SocketAddr,
    name: ServerName<'static>,
    cfg: Arc<ClientConfig>,
    req: Request<Full<Bytes>>,
) -> Attempt {
    let connector = TlsConnector::from(cfg);
    let tcp = match tokio::time::timeout(STEP, TcpStream::connect(addr)).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => {
            return Attempt {
                local: None,
                result: Err(format!("connect: {e}")),
            };
        }
        Err(_) => {
            return Attempt {
                local: None,
                result: Err("connect timed out".into()),
            };
        }
    };
    let local = tcp.local_addr().ok();
    let fut = async move {
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let conn = tls.get_ref().1;
        let negotiated = Negotiated {
            version: conn.protocol_version(),
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
            kind: conn.handshake_kind(),
        };
        let resp = if negotiated.alpn.as_deref() == Some(b"h2") {
            let (mut send, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                    .await
                    .map_err(|e| format!("h2 handshake: {e}"))?;
            tokio::spawn(conn);
            send.send_request(req)
                .await
                .map_err(|e| format!("request: {e}"))?
        } else {
            let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            send.send_request(req)
                .await
                .map_err(|e| format!("request: {e}"))?
        };
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok((
            Got {
                status: parts.status,
                headers: parts.headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            },
            negotiated,
        ))
    };
    let result = tokio::time::timeout(STEP, fut)
        .await
        .unwrap_or_else(|_| Err("timed out".into()));
    Attempt { local, result }
}

/// A GET for `path`, with an absolute `https://localhost` URI so it also works over HTTP/2.
pub fn get_abs(path: &str) -> Request<Full<Bytes>> {
    Request::get(format!("https://localhost{path}"))
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// Assert a connection attempt was refused and the upstream saw nothing.
pub fn assert_refused<T: std::fmt::Debug>(what: &str, result: &Result<T, String>, up: &Upstream) {
    assert!(
        result.is_err(),
        "{what}: expected the gateway to refuse the client, got {result:?}"
    );
    let seen = up.seen();
    assert!(
        seen.is_empty(),
        "{what}: the upstream must see nothing, saw {seen:?}"
    );
}

/// Like `common::simple_config` (one domain `localhost` on 127.0.0.1:0 mapping "/" to the
/// inventory API), with `domain_extra` lines added to the `[[domain]]` table and `top` (such
/// as a `[limits]` table) put before it.
pub fn config_with(pki: &Pki, upstream: SocketAddr, domain_extra: &str, top: &str) -> String {
    format!(
        "{top}\n{}{domain_extra}\n[[domain.mapping]]\nbase_path = \"/\"\napi = \"inv\"\nstage = \"prod\"\n\n[api.inv.stages.prod]\nvariables = {{ backend = \"onprem\" }}\n\n{}\n[upstream.onprem]\ntargets = [\"{upstream}\"]\n",
        pki.domain_toml("localhost", "127.0.0.1:0"),
        crate::common::INVENTORY_ROUTE
    )
}

/// A TOML string literal for a path.
pub fn toml_path(p: &std::path::Path) -> String {
    format!("\"{}\"", p.display())
}
