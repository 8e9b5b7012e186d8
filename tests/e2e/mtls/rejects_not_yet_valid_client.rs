//! A client certificate before its notBefore is refused in the handshake; nothing reaches the
//! upstream.

use crate::support::*;

#[tokio::test]
async fn not_yet_valid_client_certificate_is_refused() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, INVENTORY_ROUTE)).await;

    let mut leaf = Leaf::client("future-client");
    leaf.not_before = time::OffsetDateTime::now_utc() + time::Duration::days(1);
    leaf.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(30);
    let future = issue(&pki.intermediate, leaf);

    let got = request(
        gw.addr(),
        "localhost",
        &pki.root.pem,
        Some(&future),
        get_req("/inventory"),
    )
    .await;
    assert!(got.is_err(), "not-yet-valid client was served: {got:?}");
    assert!(up.seen().is_empty(), "upstream saw {:?}", up.seen());

    assert_eq!(get(&gw, &pki, "/inventory").await.status, 200);
    assert_eq!(up.seen().len(), 1);
}
