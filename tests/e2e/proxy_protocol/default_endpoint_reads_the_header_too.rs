//! `[default_endpoint]` has a listener of its own, so it takes its own `proxy_protocol` and
//! `trusted_proxies`: behind the load balancer its anonymous clients are named by the header too.

use super::*;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use hyper_util::rt::TokioIo;

#[tokio::test]
async fn the_default_endpoint_takes_the_client_address_from_the_header() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let config = format!(
        "[default_endpoint]\nlisten = \"{}\"\nproxy_protocol = true\ntrusted_proxies = [\"127.0.0.1\"]\n\n{}",
        free_port(),
        Config::new(&pki, &[up.addr])
            .routes(SOURCE_IP_ROUTE)
            .build()
    );
    let gw = Gateway::start(&config).await;
    let execute_api = gw.addrs[1];

    // No header: closed before TLS, as on a domain's listener.
    assert_closed_before_tls(execute_api, &[0x16, 0x03, 0x01]).await;

    let tcp = opened_with(execute_api, &v2("198.51.100.20:50000", &[])).await;
    let connector = tls_client(&pki.root.pem, None, &[b"http/1.1"]);
    let tls = tokio::time::timeout(STEP, connector.connect(dns("localhost"), tcp))
        .await
        .unwrap()
        .unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::get("/prod/inventory")
        .header("host", "inv.execute-api.localhost")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let got = collect(send.send_request(req).await.unwrap())
        .await
        .unwrap();
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(seen_header(&up, 0, "x-forwarded-for"), "198.51.100.20");
    assert_eq!(seen_header(&up, 0, "x-source-ip"), "198.51.100.20");

    // The domain's listener, without the protocol, serves direct clients as before.
    assert_eq!(get(&gw, &pki, "/inventory").await.status, 200);
}
