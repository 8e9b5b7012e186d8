//! Large bodies pass through intact in both directions: a 5 MiB response and a 2 MiB request.

use crate::support::*;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;

#[tokio::test]
async fn five_mib_response_arrives_intact() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, PROXY_ROUTE)).await;
    let got = get(&gw, &pki, "/big/5242880").await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body.len(), 5 * 1024 * 1024);
    assert!(got.body.bytes().all(|b| b == b'x'));
}

#[tokio::test]
async fn two_mib_request_body_arrives_upstream() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, PROXY_ROUTE)).await;
    let body = Bytes::from(vec![b'y'; 2 * 1024 * 1024]);
    let req = Request::post("/upload")
        .header("host", "localhost")
        .body(Full::new(body))
        .unwrap();
    let got = request(
        gw.addr(),
        "localhost",
        &pki.root.pem,
        Some(&pki.client),
        req,
    )
    .await
    .unwrap();
    assert_eq!(got.status, 200, "{got:?}");
    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, http::Method::POST);
    assert_eq!(seen[0].body_len, 2 * 1024 * 1024);
}

#[tokio::test]
async fn two_mib_chunked_request_body_arrives_upstream() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, PROXY_ROUTE)).await;
    let mut req = b"PUT /upload HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..32 {
        req.extend_from_slice(b"10000\r\n"); // 64 KiB chunks
        req.extend_from_slice(&[b'z'; 0x10000]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let got = exchange(gw.addr(), &pki, &req).await;
    assert_eq!(got.status, Some(200), "{}", got.text);
    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body_len, 2 * 1024 * 1024);
}
