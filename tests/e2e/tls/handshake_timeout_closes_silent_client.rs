//! `[limits] handshake_timeout_ms` bounds the TLS handshake: a client that connects and sends
//! nothing, one that stalls inside its ClientHello, and one that stalls after its ClientHello
//! are all disconnected by the gateway well before the 10 s default.

use crate::support::*;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT_MS: u64 = 300;
/// Generous bound for the close to arrive (the default handshake timeout is 10 s).
const BOUND: Duration = Duration::from_secs(4);

async fn gateway(pki: &Pki, up: &Upstream) -> Gateway {
    Gateway::start(
        &Config::new(pki, &[up.addr])
            .limits(&format!("handshake_timeout_ms = {TIMEOUT_MS}"))
            .build(),
    )
    .await
}

/// Read until the server closes (EOF or reset); the elapsed time, or panic after `BOUND`.
async fn closed_within_bound(tcp: &mut TcpStream, what: &str) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((start + BOUND).into(), tcp.read(&mut buf)).await {
            Err(_) => panic!("{what}: the gateway kept the connection open for {BOUND:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return start.elapsed(),
            // An alert or other bytes before the close: keep reading.
            Ok(Ok(_)) => {}
        }
    }
}

/// The bytes of a real ClientHello for `localhost`.
fn client_hello(pki: &Pki) -> Vec<u8> {
    let cfg = client_config(&[&pki.root.pem], Some(&pki.client), BOTH, &[b"http/1.1"]);
    let mut conn = rustls::ClientConnection::new(Arc::new(cfg), dns("localhost")).unwrap();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}

#[tokio::test]
async fn silent_tcp_client_is_closed_after_the_handshake_timeout() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = gateway(&pki, &up).await;
    let mut tcp = TcpStream::connect(gw.addr()).await.unwrap();
    let took = closed_within_bound(&mut tcp, "silent client").await;
    assert!(
        took >= Duration::from_millis(TIMEOUT_MS / 2),
        "closed after {took:?}, before the timeout could have run out"
    );
    // Still serving others.
    assert_eq!(get(&gw, &pki, "/inventory").await.status, 200);
}

#[tokio::test]
async fn client_stalling_inside_its_client_hello_is_closed() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = gateway(&pki, &up).await;
    let hello = client_hello(&pki);
    let mut tcp = TcpStream::connect(gw.addr()).await.unwrap();
    tcp.write_all(&hello[..hello.len() / 2]).await.unwrap();
    closed_within_bound(&mut tcp, "half a ClientHello").await;
}

#[tokio::test]
async fn client_stalling_after_its_client_hello_is_closed() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = gateway(&pki, &up).await;
    let hello = client_hello(&pki);
    let mut tcp = TcpStream::connect(gw.addr()).await.unwrap();
    tcp.write_all(&hello).await.unwrap();
    // The server answers (ServerHello ... CertificateRequest) and then waits for the client's
    // certificate, which never comes.
    closed_within_bound(&mut tcp, "ClientHello then silence").await;
    assert!(up.seen().is_empty());
}
