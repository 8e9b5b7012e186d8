//! A client certificate past its notAfter is refused in the handshake; the upstream sees nothing.

use crate::support::*;

#[tokio::test]
async fn expired_client_certificate_is_refused() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, INVENTORY_ROUTE)).await;

    let mut leaf = Leaf::client("expired-client");
    leaf.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(30);
    leaf.not_after = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    let expired = issue(&pki.intermediate, leaf);

    let got = request(
        gw.addr(),
        "localhost",
        &pki.root.pem,
        Some(&expired),
        get_req("/inventory"),
    )
    .await;
    assert!(got.is_err(), "expired client was served: {got:?}");
    assert!(up.seen().is_empty(), "upstream saw {:?}", up.seen());

    // Control: the same gateway serves a valid client of the same issuer.
    assert_eq!(get(&gw, &pki, "/inventory").await.status, 200);
    assert_eq!(up.seen().len(), 1);
}
