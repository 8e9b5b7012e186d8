//! A client certificate chaining to a root that is not in the domain's truststore is refused,
//! even when the client sends its whole chain, and even when the foreign CAs carry the same
//! names as the trusted ones.

use crate::support::*;

#[tokio::test]
async fn client_from_another_root_is_refused() {
    let pki = Pki::new("localhost");
    let other = Pki::new("elsewhere");
    // A look-alike PKI: same CA subject names as the trusted one, different keys.
    let lookalike = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, INVENTORY_ROUTE)).await;

    // Same subject names as a good client, but issued under another root. The client trusts the
    // gateway's root, so only the client certificate can be the reason for a refusal.
    let stranger = issue(&other.intermediate, Leaf::client("localhost-client"));
    let mut chain = stranger.clone();
    chain.chain_der.push(other.root.der.clone());
    let twin = issue(&lookalike.intermediate, Leaf::client("localhost-client"));

    for (what, client) in [
        ("leaf + issuer", &stranger),
        ("full chain", &chain),
        ("look-alike issuer names", &twin),
    ] {
        let got = request(
            gw.addr(),
            "localhost",
            &pki.root.pem,
            Some(client),
            get_req("/inventory"),
        )
        .await;
        assert!(
            got.is_err(),
            "{what}: unknown-issuer client was served: {got:?}"
        );
    }
    assert!(up.seen().is_empty(), "upstream saw {:?}", up.seen());

    assert_eq!(get(&gw, &pki, "/inventory").await.status, 200);
    assert_eq!(up.seen().len(), 1);
}
