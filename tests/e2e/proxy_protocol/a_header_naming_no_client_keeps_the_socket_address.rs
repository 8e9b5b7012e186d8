//! A header that names no client keeps the socket's address: v2 `LOCAL` (the load balancer's
//! own health check), v2 `UNSPEC`, and v1 `UNKNOWN` are served, as from the balancer itself.

use super::*;

#[tokio::test]
async fn local_unspec_and_unknown_headers_are_served_as_the_socket_peer() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&proxied(&pki, up.addr, "\"127.0.0.0/8\"").build()).await;

    let local = {
        // LOCAL carries addresses the receiver must ignore.
        let mut h = v2("203.0.113.9:4711", &[]);
        h[12] = 0x20;
        h
    };
    for (i, (what, header)) in [
        ("v2 LOCAL", local),
        ("v2 UNSPEC", v2_raw(1, 0x00, &[])),
        ("v1 UNKNOWN", b"PROXY UNKNOWN\r\n".to_vec()),
    ]
    .into_iter()
    .enumerate()
    {
        let got = via_lb(gw.addr(), &pki, &header, "/inventory")
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(got.status, 200, "{what}: {got:?}");
        assert_eq!(
            seen_header(&up, i, "x-forwarded-for"),
            "127.0.0.1",
            "{what}"
        );
    }
}
