//! Errors the gateway answers itself are API Gateway's gateway responses: the same status, a JSON
//! `{"message": ...}` body and an `x-amzn-errortype` header; nothing half-done reaches upstream.

use crate::support::*;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::Full;

fn assert_gateway_response(got: &Got, status: u16, message: &str, error_type: &str) {
    assert_eq!(got.status, status, "{got:?}");
    assert_eq!(got.body, gateway_body(message), "{got:?}");
    assert_eq!(got.headers["x-amzn-errortype"], error_type, "{got:?}");
    assert_eq!(got.headers["content-type"], "application/json", "{got:?}");
    assert!(got.headers.contains_key("x-request-id"), "{got:?}");
}

fn assert_raw_gateway_response(got: &RawResponse, status: u16, message: &str, error_type: &str) {
    assert_eq!(got.status, Some(status), "{}", got.text);
    assert_eq!(got.body_text(), gateway_body(message), "{}", got.text);
    assert_eq!(
        got.header("x-amzn-errortype"),
        Some(error_type),
        "{}",
        got.text
    );
}

#[tokio::test]
async fn no_route_is_403_missing_authentication_token() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, INVENTORY_ROUTE)).await;
    let got = get(&gw, &pki, "/nope").await;
    assert_gateway_response(
        &got,
        403,
        "Missing Authentication Token",
        "MissingAuthenticationTokenException",
    );
    // The path exists, the method does not.
    let req = Request::delete("/inventory")
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
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
    assert_gateway_response(
        &got,
        403,
        "Missing Authentication Token",
        "MissingAuthenticationTokenException",
    );
    assert!(up.seen().is_empty());
}

#[tokio::test]
async fn refused_upstream_is_504_at_once() {
    let pki = Pki::new("localhost");
    let dead = dead_port();
    let routes = "[[api.inv.routes]]\nmethod = \"GET\"\npath = \"/inventory\"\nintegration = \"http://${stageVariables.backend}/rest-service/inventory\"\ntimeout_ms = 5000\n";
    let gw = Gateway::start(&simple_config(&pki, dead, routes)).await;
    let start = Instant::now();
    let got = get(&gw, &pki, "/inventory").await;
    let elapsed = start.elapsed();
    assert_gateway_response(
        &got,
        504,
        "Network error communicating with endpoint",
        "InternalServerErrorException",
    );
    assert!(
        elapsed < Duration::from_millis(2000),
        "a refused connection must fail fast, not wait for the 5 s route timeout: {elapsed:?}"
    );
}

#[tokio::test]
async fn slow_upstream_is_504_endpoint_request_timed_out_at_the_route_timeout() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let routes = "[[api.inv.routes]]\nmethod = \"GET\"\npath = \"/slow\"\nintegration = \"http://${stageVariables.backend}/slow\"\ntimeout_ms = 500\n";
    let gw = Gateway::start(&simple_config(&pki, up.addr, routes)).await;
    let start = Instant::now();
    let got = get(&gw, &pki, "/slow").await;
    let elapsed = start.elapsed();
    assert_gateway_response(
        &got,
        504,
        "Endpoint request timed out",
        "InternalServerErrorException",
    );
    assert!(
        elapsed >= Duration::from_millis(450) && elapsed < Duration::from_millis(2500),
        "expected the 500 ms route timeout (upstream takes 3 s), took {elapsed:?}"
    );
    assert_eq!(up.seen().len(), 1, "the request did reach the upstream");
}

fn limits_config(pki: &Pki, up: &Upstream) -> String {
    Config::new(pki, &[up.addr])
        .limits("max_body_bytes = 1024\nmax_header_bytes = 2048")
        .routes(PROXY_ROUTE)
        .build()
}

#[tokio::test]
async fn content_length_over_the_limit_is_413_before_forwarding() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&limits_config(&pki, &up)).await;

    // Control: a body at the limit passes.
    let body = vec![b'a'; 1024];
    let mut req =
        b"POST /upload HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 1024\r\n\r\n"
            .to_vec();
    req.extend_from_slice(&body);
    let got = exchange(gw.addr(), &pki, &req).await;
    assert_eq!(got.status, Some(200), "{}", got.text);
    assert_eq!(up.seen()[0].body_len, 1024);

    let mut req =
        b"POST /upload HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 5000\r\n\r\n"
            .to_vec();
    req.extend_from_slice(&[b'b'; 5000]);
    let got = exchange(gw.addr(), &pki, &req).await;
    assert_raw_gateway_response(&got, 413, "Request Too Long", "RequestTooLargeException");
    assert_eq!(up.seen().len(), 1, "the oversized request was forwarded");
}

#[tokio::test]
async fn chunked_body_growing_over_the_limit_is_413_and_never_complete_upstream() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&limits_config(&pki, &up)).await;

    let mut req = b"POST /upload HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        req.extend_from_slice(b"3e8\r\n"); // 1000 bytes per chunk, 3000 in all
        req.extend_from_slice(&[b'c'; 1000]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let got = exchange(gw.addr(), &pki, &req).await;
    assert_raw_gateway_response(&got, 413, "Request Too Long", "RequestTooLargeException");
    // The upstream may have seen the head, but never a complete body.
    let complete: Vec<usize> = up
        .seen()
        .iter()
        .map(|s| s.body_len)
        .filter(|&n| n > 1024)
        .collect();
    assert!(
        complete.is_empty(),
        "upstream received bodies of {complete:?} bytes"
    );
}

#[tokio::test]
async fn headers_over_the_limit_are_431() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&limits_config(&pki, &up)).await;

    // Control: a head under the limit passes.
    let small = format!(
        "GET /h HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(1000)
    );
    let got = exchange(gw.addr(), &pki, small.as_bytes()).await;
    assert_eq!(got.status, Some(200), "{}", got.text);

    let big = format!(
        "GET /h HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(4000)
    );
    let got = exchange(gw.addr(), &pki, big.as_bytes()).await;
    assert_raw_gateway_response(
        &got,
        431,
        "Request Header Fields Too Large",
        "RequestHeaderFieldsTooLargeException",
    );
    assert_eq!(up.seen().len(), 1, "the oversized head was forwarded");
}

#[tokio::test]
async fn a_very_large_head_is_431_and_not_forwarded() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&limits_config(&pki, &up)).await;

    let mut head = String::from("GET /h HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for i in 0..200 {
        head.push_str(&format!("X-Pad-{i}: {}\r\n", "p".repeat(1000)));
    }
    head.push_str("\r\n");
    assert!(head.len() > 200_000);
    let got = exchange(gw.addr(), &pki, head.as_bytes()).await;
    assert_eq!(got.status, Some(431), "{}", got.text);
    assert!(up.seen().is_empty(), "the oversized head was forwarded");
}
