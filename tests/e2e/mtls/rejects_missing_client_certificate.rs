//! A client that presents no certificate at all is refused, on TLS 1.3 and TLS 1.2.

use crate::support::*;

use std::sync::Arc;

#[tokio::test]
async fn client_without_certificate_is_refused() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, INVENTORY_ROUTE)).await;

    let got = request(
        gw.addr(),
        "localhost",
        &pki.root.pem,
        None,
        get_req("/inventory"),
    )
    .await;
    assert_refused("no certificate (default versions)", &got, &up);

    for (what, versions) in [("TLS 1.3", TLS13_ONLY), ("TLS 1.2", TLS12_ONLY)] {
        let cfg = client_config(&[&pki.root.pem], None, versions, &[b"http/1.1"]);
        let attempt = tls_exchange(
            gw.addr(),
            dns("localhost"),
            Arc::new(cfg),
            get_abs("/inventory"),
        )
        .await;
        assert_refused(what, &attempt.result, &up);
    }

    assert_eq!(get(&gw, &pki, "/inventory").await.status, 200);
    assert_eq!(up.seen().len(), 1);
}
