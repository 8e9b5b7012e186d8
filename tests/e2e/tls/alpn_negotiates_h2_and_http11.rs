//! ALPN: the gateway negotiates `h2` and `http/1.1` and serves requests over both; a client
//! offering no ALPN gets HTTP/1.1.

use crate::support::*;

use std::sync::Arc;

async fn call(gw: &Gateway, pki: &Pki, alpn: &[&[u8]]) -> (Got, Negotiated) {
    let cfg = client_config(&[&pki.root.pem], Some(&pki.client), BOTH, alpn);
    tls_exchange(
        gw.addr(),
        dns("localhost"),
        Arc::new(cfg),
        get_abs("/inventory?via=alpn"),
    )
    .await
    .ok()
}

#[tokio::test]
async fn h2_is_negotiated_and_serves_requests() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, INVENTORY_ROUTE)).await;
    let (got, neg) = call(&gw, &pki, &[b"h2", b"http/1.1"]).await;
    assert_eq!(neg.alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.body, "upstream:/rest-service/inventory?via=alpn");
    let (got, neg) = call(&gw, &pki, &[b"h2"]).await;
    assert_eq!(neg.alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(up.seen().len(), 2);
}

#[tokio::test]
async fn http11_is_negotiated_and_serves_requests() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, INVENTORY_ROUTE)).await;
    let (got, neg) = call(&gw, &pki, &[b"http/1.1"]).await;
    assert_eq!(neg.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.body, "upstream:/rest-service/inventory?via=alpn");

    let (got, neg) = call(&gw, &pki, &[]).await;
    assert_eq!(neg.alpn, None);
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(up.seen().len(), 2);
}

#[tokio::test]
async fn h2_client_without_certificate_is_refused() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, INVENTORY_ROUTE)).await;
    let cfg = client_config(&[&pki.root.pem], None, BOTH, &[b"h2"]);
    let attempt = tls_exchange(
        gw.addr(),
        dns("localhost"),
        Arc::new(cfg),
        get_abs("/inventory"),
    )
    .await;
    assert_refused("h2 without a client certificate", &attempt.result, &up);
}
