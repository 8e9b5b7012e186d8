//! What the upstream receives: hop-by-hop headers (and those `Connection` names) removed, the
//! `X-Forwarded-*` headers set by the gateway and never trusted from the client, the request id
//! kept or generated (and echoed), and `Host` naming the target.

use crate::support::*;

#[tokio::test]
async fn hop_by_hop_headers_never_reach_the_upstream() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, PROXY_ROUTE)).await;

    let port = gw.addr().port();
    let req = format!(
        "GET /items/1?a=b HTTP/1.1\r\n\
         Host: localhost:{port}\r\n\
         Connection: close, x-secret\r\n\
         Keep-Alive: timeout=5\r\n\
         TE: trailers\r\n\
         Upgrade: websocket\r\n\
         Proxy-Authorization: Basic c2VjcmV0OnNlY3JldA==\r\n\
         Proxy-Connection: keep-alive\r\n\
         X-Secret: do-not-forward\r\n\
         X-Forwarded-For: 6.6.6.6\r\n\
         X-Forwarded-Proto: http\r\n\
         X-Forwarded-Host: evil.example\r\n\
         Forwarded: for=6.6.6.6;proto=http\r\n\
         X-Request-Id: client-req-42\r\n\
         X-Kept: yes\r\n\
         \r\n"
    );
    let got = exchange(gw.addr(), &pki, req.as_bytes()).await;
    assert_eq!(got.status, Some(200), "{}", got.text);
    assert_eq!(got.body_text(), "upstream:/items/1?a=b");
    assert_eq!(got.header("x-request-id"), Some("client-req-42"));

    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    let h = &seen[0].headers;
    for name in [
        "connection",
        "keep-alive",
        "te",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
        "x-secret",
        "forwarded",
    ] {
        // hyper's client adds no Connection header of its own on HTTP/1.1 keep-alive.
        assert!(
            !h.contains_key(name),
            "`{name}` reached the upstream: {h:?}"
        );
    }
    assert_eq!(h["x-kept"], "yes", "an end-to-end header was dropped");
    let xff: Vec<_> = h.get_all("x-forwarded-for").iter().collect();
    assert_eq!(
        xff,
        ["127.0.0.1"],
        "X-Forwarded-For must be the peer, not trusted"
    );
    assert_eq!(h["x-forwarded-proto"], "https");
    let xfh: Vec<_> = h.get_all("x-forwarded-host").iter().collect();
    assert_eq!(xfh, [format!("localhost:{port}").as_str()]);
    assert_eq!(h["x-request-id"], "client-req-42");
    assert_eq!(h["host"], up.addr.to_string().as_str());
}

#[tokio::test]
async fn a_missing_request_id_is_generated_and_echoed() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, INVENTORY_ROUTE)).await;

    let first = get(&gw, &pki, "/inventory").await;
    let second = get(&gw, &pki, "/inventory").await;
    assert_eq!(first.status, 200, "{first:?}");
    let seen = up.seen();
    assert_eq!(seen.len(), 2);
    let id1 = first.headers["x-request-id"].to_str().unwrap().to_owned();
    let id2 = second.headers["x-request-id"].to_str().unwrap().to_owned();
    assert!(!id1.is_empty());
    assert_eq!(seen[0].headers["x-request-id"], id1.as_str());
    assert_eq!(seen[1].headers["x-request-id"], id2.as_str());
    assert_ne!(id1, id2, "request ids must be unique");
    // Host the client sent, and the target as Host upstream.
    assert_eq!(seen[0].headers["x-forwarded-host"], "localhost");
    assert_eq!(seen[0].headers["host"], up.addr.to_string().as_str());
    assert_eq!(seen[0].headers["x-forwarded-for"], "127.0.0.1");
}

#[tokio::test]
async fn gateway_responses_carry_the_request_id_too() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, INVENTORY_ROUTE)).await;
    let req = "GET /nope HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Request-Id: abc-123\r\n\r\n";
    let got = exchange(gw.addr(), &pki, req.as_bytes()).await;
    assert_eq!(got.status, Some(403), "{}", got.text);
    assert_eq!(got.header("x-request-id"), Some("abc-123"));
}
