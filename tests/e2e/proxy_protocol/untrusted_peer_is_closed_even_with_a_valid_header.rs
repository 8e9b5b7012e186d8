//! A peer outside `trusted_proxies` can never set its address, nor reach TLS: on a PROXY
//! protocol listener its connection is closed at once, with a well-formed header or without
//! one, and counted as `untrusted_peer`.

use super::*;

#[tokio::test]
async fn a_peer_outside_trusted_proxies_is_closed_with_or_without_a_header() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    // The tests connect from 127.0.0.1: not a trusted load balancer here.
    let gw = Gateway::start(&proxied(&pki, up.addr, "\"10.0.0.0/8\", \"::1/128\"").build()).await;

    let spoofed = via_lb(gw.addr(), &pki, &v1("203.0.113.9:4711"), "/inventory").await;
    assert_refused("a valid v1 header from an untrusted peer", &spoofed, &up);
    assert_closed_before_tls(gw.addr(), &v2("203.0.113.9:4711", &[])).await;
    let direct = get_at(gw.addr(), &pki, "/inventory").await;
    assert_refused("mTLS without a header from an untrusted peer", &direct, &up);
    assert_eq!(refusals_reach(&gw, "untrusted_peer", 3.0).await, 3.0);
    let listener = gw.addr().to_string();
    let metrics = gw.metrics().await;
    assert_eq!(
        metric_sum(
            &metrics,
            REFUSALS,
            &[("listener", &listener), ("reason", "untrusted_peer")]
        ),
        3.0,
        "{metrics}"
    );
    assert!(up.seen().is_empty());
}
