//! An answer the gateway gives before the request body is in (413 for a declared length over
//! `max_body_bytes`) reaches an HTTP/2 client still sending that body whole, and then the
//! stream is reset with NO_ERROR, as RFC 9113 section 8.1 asks, not as a failure; the
//! connection keeps serving.

use crate::support::*;

use bytes::Bytes;

#[tokio::test]
async fn h2_client_still_sending_its_body_gets_the_whole_413_then_a_no_error_reset() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(
        &Config::new(&pki, &[up.addr])
            .limits("max_body_bytes = 1024")
            .routes(PROXY_ROUTE)
            .build(),
    )
    .await;
    let connector = tls_client(&pki.root.pem, Some(&pki.client), &[b"h2"]);
    let tcp = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    let tls = connector
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let (h2, conn) = h2::client::handshake(tls).await.unwrap();
    let conn = tokio::spawn(conn);
    let mut h2 = h2.ready().await.unwrap();
    let req = http::Request::post("https://localhost/upload")
        .header("content-length", "100000")
        .body(())
        .unwrap();
    let (resp, mut body) = h2.send_request(req, false).unwrap();
    body.send_data(Bytes::from(vec![b'x'; 16_384]), false)
        .unwrap();
    let resp = tokio::time::timeout(STEP, resp)
        .await
        .expect("the 413 while the body is still on its way")
        .expect("a response, not a stream error");
    assert_eq!(resp.status(), 413);
    assert_eq!(
        resp.headers()["x-amzn-errortype"],
        "RequestTooLargeException"
    );
    let mut got = Vec::new();
    let mut rb = resp.into_body();
    while let Some(chunk) = tokio::time::timeout(STEP, rb.data()).await.unwrap() {
        got.extend_from_slice(&chunk.expect("the body whole, not cut by the reset"));
    }
    assert_eq!(got, br#"{"message":"Request Too Long"}"#);
    let reset = tokio::time::timeout(STEP, std::future::poll_fn(|cx| body.poll_reset(cx)))
        .await
        .expect("the stream is reset: the rest of the body is not wanted")
        .unwrap();
    assert_eq!(reset, h2::Reason::NO_ERROR);
    // The connection itself is fine: the next request on it is served.
    let mut h2 = h2.ready().await.unwrap();
    let (next, _) = h2
        .send_request(
            http::Request::get("https://localhost/inventory")
                .body(())
                .unwrap(),
            true,
        )
        .unwrap();
    let next = tokio::time::timeout(STEP, next).await.unwrap().unwrap();
    assert_eq!(next.status(), 200);
    assert!(up.seen().iter().all(|s| s.path_and_query != "/upload"));
    assert!(!conn.is_finished());
}
