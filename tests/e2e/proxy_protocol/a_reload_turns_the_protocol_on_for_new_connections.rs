//! A reload that turns the PROXY protocol on keeps the listener (no rebind) and applies to
//! the connections accepted after it: a direct client is then closed before TLS, a load
//! balancer's connection is served with the client it names.

use super::*;

#[tokio::test]
async fn a_reload_turns_the_protocol_on_without_rebinding() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let plain = Config::new(&pki, &[up.addr]).routes(SOURCE_IP_ROUTE);
    let gw = Gateway::start(&plain.build()).await;
    assert_eq!(get(&gw, &pki, "/inventory").await.status, 200);

    let text = proxied(&pki, up.addr, "\"127.0.0.0/8\"").build();
    replace_file(&gw.config, text.as_bytes());
    assert_eq!(gw.reloader.reload().await, Ok(2));
    assert_eq!(gw.gw.local_addrs(), gw.addrs, "the listener was rebound");

    let direct = get_at(gw.addr(), &pki, "/inventory").await;
    assert!(direct.is_err(), "{direct:?}");
    let got = via_lb(gw.addr(), &pki, &v1("203.0.113.9:4711"), "/inventory")
        .await
        .unwrap();
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(seen_header(&up, 1, "x-forwarded-for"), "203.0.113.9");
}
