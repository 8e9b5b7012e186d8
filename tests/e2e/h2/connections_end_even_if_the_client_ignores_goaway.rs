//! HTTP/2 connections end when the gateway says so: a client that ignores GOAWAY and never
//! acknowledges a PING is still closed after `max_connection_age` or the idle timeout (plus a
//! bounded grace), and PINGs alone do not count as activity.

use crate::support::*;

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty SETTINGS frame: length 0, type 4, no flags, stream 0.
const SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];
/// A PING frame with 8 bytes of opaque data.
const PING: &[u8] = &[0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];

/// A raw HTTP/2 connection over mTLS: preface and SETTINGS sent, nothing acknowledged, ever.
async fn rude_h2(gw: &Gateway, pki: &Pki) -> tokio_rustls::client::TlsStream<TcpStream> {
    let connector = tls_client(&pki.root.pem, Some(&pki.client), &[b"h2"]);
    let tcp = TcpStream::connect(gw.addr()).await.unwrap();
    let mut tls = connector
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    tls.write_all(PREFACE).await.unwrap();
    tls.write_all(SETTINGS).await.unwrap();
    tls.flush().await.unwrap();
    tls
}

#[tokio::test]
async fn h2_client_ignoring_goaway_is_closed_after_max_connection_age() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let config = Config::new(&pki, &[up.addr])
        .routes(PROXY_ROUTE)
        .build()
        .replacen(
            "[[domain.mapping]]",
            "max_connection_age_ms = 300\n\n[[domain.mapping]]",
            1,
        );
    let gw = Gateway::start(&config).await;
    let mut tls = rude_h2(&gw, &pki).await;
    let out = read_until_closed(&mut tls, Duration::from_secs(10)).await;
    assert!(
        out.closed,
        "still open {:?} after max_connection_age",
        out.elapsed
    );
    assert!(
        out.elapsed >= Duration::from_millis(250),
        "{:?}",
        out.elapsed
    );
}

#[tokio::test]
async fn pings_alone_do_not_keep_an_h2_connection_open() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(
        &Config::new(&pki, &[up.addr])
            .limits("idle_timeout_ms = 400")
            .routes(PROXY_ROUTE)
            .build(),
    )
    .await;
    let tls = rude_h2(&gw, &pki).await;
    let (mut rd, mut wr) = tokio::io::split(tls);
    let pinger = tokio::spawn(async move {
        for _ in 0..200 {
            if wr.write_all(PING).await.is_err() || wr.flush().await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let out = read_until_closed(&mut rd, Duration::from_secs(10)).await;
    pinger.abort();
    assert!(
        out.closed,
        "PINGs kept an idle connection open for {:?}",
        out.elapsed
    );
}
