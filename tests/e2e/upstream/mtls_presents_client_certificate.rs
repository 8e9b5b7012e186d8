//! A pool's `tls.client_certificate` / `tls.client_key` are presented to an HTTPS upstream that
//! requires client certificates: with them the upstream sees the gateway's certificate and
//! answers 200; without them (or with a certificate it does not trust) the request gets 504.

use crate::support::*;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::CertificateDer;

/// An HTTPS upstream with a certificate for `onprem.internal` from `server_ca`, requiring a
/// client certificate from `client_ca`. Records the leaf certificate of every accepted client;
/// answers `mtls-upstream:<path>:<client CN>`.
struct MtlsUpstream {
    addr: SocketAddr,
    clients: Arc<Mutex<Vec<CertificateDer<'static>>>>,
    refused: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MtlsUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn common_name(der: &[u8]) -> String {
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    cert.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn mtls_upstream(server_ca: &Ca, client_ca: &Ca) -> MtlsUpstream {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let leaf = issue(server_ca, Leaf::server("onprem.internal"));
    let mut roots = rustls::RootCertStore::empty();
    roots.add(client_ca.der.clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(leaf.chain_der.clone(), leaf.key())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let clients: Arc<Mutex<Vec<CertificateDer<'static>>>> = Arc::default();
    let refused: Arc<Mutex<Vec<String>>> = Arc::default();
    let (c, r) = (clients.clone(), refused.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, c, r) = (acceptor.clone(), c.clone(), r.clone());
            tokio::spawn(async move {
                let tls = match acceptor.accept(tcp).await {
                    Ok(t) => t,
                    Err(e) => {
                        r.lock().unwrap().push(e.to_string());
                        return;
                    }
                };
                let Some(peer) = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|p| p.first())
                    .cloned()
                else {
                    r.lock().unwrap().push("no client certificate".into());
                    return;
                };
                let cn = common_name(&peer);
                c.lock().unwrap().push(peer);
                let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let body = format!("mtls-upstream:{}:{cn}", req.uri().path());
                    async move {
                        Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                            Bytes::from(body),
                        )))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    MtlsUpstream {
        addr,
        clients,
        refused,
        task,
    }
}

fn config(pki: &Pki, upstream: SocketAddr, tls: &str) -> String {
    format!(
        "{}\n[[domain.mapping]]\napi = \"inv\"\nstage = \"prod\"\n[api.inv.stages.prod]\n\
         [[api.inv.routes]]\nmethod = \"GET\"\npath = \"/inventory\"\n\
         integration = \"https://secure/rest-service/inventory\"\n\
         [upstream.secure]\ntargets = [\"{upstream}\"]\ntls = {{ {tls} }}\n",
        pki.domain_toml("localhost", "127.0.0.1:0")
    )
}

struct Setup {
    pki: Pki,
    upstream: MtlsUpstream,
    gateway_cert: Issued,
    /// `ca = ..., server_name = ...` of the pool.
    verify: String,
}

async fn setup() -> Setup {
    let pki = Pki::new("localhost");
    let server_ca = Ca::root("On-prem Services CA");
    let client_ca = Ca::root("On-prem Client CA");
    let upstream = mtls_upstream(&server_ca, &client_ca).await;
    let gateway_cert = issue(&client_ca, Leaf::client("portcullis-gateway"));
    pki.write("onprem-ca.pem", &server_ca.pem);
    pki.write("gateway-client.pem", &gateway_cert.chain_pem);
    pki.write("gateway-client.key", &gateway_cert.key_pem);
    let verify = format!(
        "ca = \"{}\", server_name = \"onprem.internal\"",
        pki.path("onprem-ca.pem").display()
    );
    Setup {
        pki,
        upstream,
        gateway_cert,
        verify,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_client_certificate_is_presented_to_the_upstream() {
    let s = setup().await;
    let tls = format!(
        "{}, client_certificate = \"{}\", client_key = \"{}\"",
        s.verify,
        s.pki.path("gateway-client.pem").display(),
        s.pki.path("gateway-client.key").display()
    );
    let gw = Gateway::start(&config(&s.pki, s.upstream.addr, &tls)).await;
    let got = get(&gw, &s.pki, "/inventory").await;
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(
        got.body,
        "mtls-upstream:/rest-service/inventory:portcullis-gateway"
    );
    let clients = s.upstream.clients.lock().unwrap().clone();
    assert_eq!(clients.len(), 1, "{clients:?}");
    assert_eq!(
        clients[0], s.gateway_cert.der,
        "the upstream saw exactly the configured client certificate"
    );
    // The gateway's own client certificate is not the end client's.
    assert_ne!(clients[0], s.pki.client.der);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_client_certificate_the_upstream_refuses_and_the_gateway_answers_504() {
    let s = setup().await;
    let gw = Gateway::start(&config(&s.pki, s.upstream.addr, &s.verify)).await;
    let got = get(&gw, &s.pki, "/inventory").await;
    assert_eq!(got.status, 504, "{got:?}");
    assert_eq!(
        got.headers["x-amzn-errortype"],
        "InternalServerErrorException"
    );
    assert!(s.upstream.clients.lock().unwrap().is_empty());
    assert!(
        eventually(|| !s.upstream.refused.lock().unwrap().is_empty()).await,
        "the upstream never saw (and refused) the handshake"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_the_upstream_does_not_trust_gets_504() {
    let s = setup().await;
    // The end-client PKI's certificate: valid, but not from the upstream's client CA.
    let tls = format!(
        "{}, client_certificate = \"{}\", client_key = \"{}\"",
        s.verify,
        s.pki.path("client.pem").display(),
        s.pki.path("client.key").display()
    );
    let gw = Gateway::start(&config(&s.pki, s.upstream.addr, &tls)).await;
    let got = get(&gw, &s.pki, "/inventory").await;
    assert_eq!(got.status, 504, "{got:?}");
    assert!(s.upstream.clients.lock().unwrap().is_empty());
}
