//! `https://` integrations reach a TLS upstream verified against the pool's `tls.ca`, and a
//! pool without that CA refuses the upstream's certificate (504, never plaintext).

use crate::support::*;

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// A TLS upstream with a certificate from `ca`; answers `tls-upstream:<path>`.
async fn tls_upstream(ca: &Ca) -> std::net::SocketAddr {
    let leaf = issue(ca, Leaf::server("onprem.internal"));
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

fn config(pki: &Pki, upstream: std::net::SocketAddr, ca_line: &str) -> String {
    format!(
        "{}\n[[domain.mapping]]\napi = \"inv\"\nstage = \"prod\"\n[api.inv.stages.prod]\n\
         [[api.inv.routes]]\nmethod = \"GET\"\npath = \"/inventory\"\n\
         integration = \"https://secure/rest-service/inventory\"\n\
         [upstream.secure]\ntargets = [\"{upstream}\"]\n{ca_line}\n",
        pki.domain_toml("localhost", "127.0.0.1:0")
    )
}

#[tokio::test]
async fn https_integration_verifies_the_upstream_with_the_pool_ca() {
    let pki = Pki::new("localhost");
    let onprem_ca = Ca::root("On-prem Services CA");
    let ca_file = pki.write("onprem-ca.pem", &onprem_ca.pem);
    let upstream = tls_upstream(&onprem_ca).await;

    let with_ca = format!(
        "tls = {{ ca = \"{}\", server_name = \"onprem.internal\" }}",
        ca_file.display()
    );
    let gw = Gateway::start(&config(&pki, upstream, &with_ca)).await;
    let got = get(&gw, &pki, "/inventory").await;
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.body, "tls-upstream:/rest-service/inventory");

    // Without the on-prem CA the upstream's certificate is not trusted: 504, nothing served.
    let gw = Gateway::start(&config(&pki, upstream, "")).await;
    let got = get(&gw, &pki, "/inventory").await;
    assert_eq!(got.status, 504, "{got:?}");
    assert_eq!(
        got.headers["x-amzn-errortype"],
        "InternalServerErrorException"
    );
}
