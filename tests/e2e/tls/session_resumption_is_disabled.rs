//! The gateway never resumes a TLS session: a client that keeps sessions (tickets and session
//! IDs) still gets a full handshake, so every connection's certificate is verified afresh, on
//! TLS 1.3 and TLS 1.2. A control server with resumption on shows the client would resume.

use crate::support::*;

use std::sync::Arc;

use rustls::{HandshakeKind, ProtocolVersion, SupportedProtocolVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn resuming_client(
    pki: &Pki,
    versions: &[&'static SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let mut cfg = client_config(
        &[&pki.root.pem],
        Some(&pki.client),
        versions,
        &[b"http/1.1"],
    );
    cfg.resumption = rustls::client::Resumption::default();
    Arc::new(cfg)
}

async fn second_handshake_is_full(
    versions: &[&'static SupportedProtocolVersion],
    want: ProtocolVersion,
) {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, INVENTORY_ROUTE)).await;
    let cfg = resuming_client(&pki, versions);
    for i in 1..=3 {
        let (got, neg) = tls_exchange(
            gw.addr(),
            dns("localhost"),
            cfg.clone(),
            get_abs("/inventory"),
        )
        .await
        .ok();
        assert_eq!(got.status, 200, "connection {i}: {got:?}");
        assert_eq!(neg.version, Some(want), "connection {i}");
        assert_eq!(
            neg.kind,
            Some(HandshakeKind::Full),
            "connection {i} over {want:?} must be a full handshake"
        );
    }
    assert_eq!(up.seen().len(), 3);
}

#[tokio::test]
async fn tls13_reconnect_is_a_full_handshake() {
    second_handshake_is_full(TLS13_ONLY, ProtocolVersion::TLSv1_3).await;
}

#[tokio::test]
async fn tls12_reconnect_is_a_full_handshake() {
    second_handshake_is_full(TLS12_ONLY, ProtocolVersion::TLSv1_2).await;
}

/// Control: against a rustls server with its default (resumption-enabled) settings, the same
/// client does resume, so the assertions above can detect resumption.
#[tokio::test]
async fn control_client_resumes_against_a_resuming_server() {
    let pki = Pki::new("localhost");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(BOTH)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(pki.server.chain_der.clone(), {
            rustls::pki_types::PrivateKeyDer::try_from(pki.server.key_der.clone()).unwrap()
        })
        .unwrap();
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let _ = tls.write_all(b"hi").await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });

    for (versions, want) in [
        (TLS13_ONLY, ProtocolVersion::TLSv1_3),
        (TLS12_ONLY, ProtocolVersion::TLSv1_2),
    ] {
        let connector = tokio_rustls::TlsConnector::from(resuming_client(&pki, versions));
        let mut kinds = Vec::new();
        for _ in 0..2 {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let mut tls = tokio::time::timeout(STEP, connector.connect(dns("localhost"), tcp))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(tls.get_ref().1.protocol_version(), Some(want));
            kinds.push(tls.get_ref().1.handshake_kind());
            let mut buf = Vec::new();
            let _ = tokio::time::timeout(STEP, tls.read_to_end(&mut buf)).await;
        }
        assert_eq!(
            kinds,
            [Some(HandshakeKind::Full), Some(HandshakeKind::Resumed)],
            "{want:?}"
        );
    }
    task.abort();
}
