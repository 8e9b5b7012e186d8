//! A client with a certificate from the truststore reaches the upstream through the rewrite.

use crate::support::*;

#[tokio::test]
async fn good_client_gets_200_and_upstream_sees_rewritten_path() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, INVENTORY_ROUTE)).await;
    let got = get(&gw, &pki, "/inventory?limit=5&x=%20y").await;
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.body, "upstream:/rest-service/inventory?limit=5&x=%20y");
    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].path_and_query,
        "/rest-service/inventory?limit=5&x=%20y"
    );
    assert_eq!(seen[0].headers["host"], up.addr.to_string().as_str());
    assert!(got.headers.contains_key("x-request-id"));
}
