//! A trusted load balancer's connection without a header, where one is required, is closed
//! before TLS and counted as `missing`; one closed before sending a byte (a TCP health check)
//! is counted as `closed`; well-formed connections are served all along.

use super::*;

#[tokio::test]
async fn a_connection_without_a_header_is_closed_before_tls_and_counted() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&proxied(&pki, up.addr, "\"127.0.0.0/8\"").build()).await;

    // A real mTLS client that sends no header: its handshake fails.
    let direct = get_at(gw.addr(), &pki, "/inventory").await;
    assert_refused("mTLS without a header", &direct, &up);
    // The gateway closes on the first byte of the ClientHello, answering nothing.
    assert_closed_before_tls(gw.addr(), &[0x16, 0x03, 0x01, 0x00, 0xc8, 0x01]).await;
    // Nor is plain HTTP a header.
    assert_closed_before_tls(gw.addr(), b"GET /inventory HTTP/1.1\r\n\r\n").await;
    assert_eq!(refusals_reach(&gw, "missing", 3.0).await, 3.0);

    // A TCP check that connects and leaves.
    drop(opened_with(gw.addr(), b"").await);
    assert_eq!(refusals_reach(&gw, "closed", 1.0).await, 1.0);

    let got = via_lb(gw.addr(), &pki, &v1("203.0.113.9:4711"), "/inventory")
        .await
        .unwrap();
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(up.seen().len(), 1);
}
