//! The front door against a hostile client and upstream: identity headers a client sends never
//! reach the upstream (HTTP/1.1 and HTTP/2), XFCC values cannot add elements or keys, one
//! authority per request, long URIs get 414, `Upgrade` does not switch the framing guard off,
//! an unsolicited `101` is a 502, a malformed request body is the client's 400, and numeric
//! config keys have ranges.

use crate::support::*;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Headers a client could use to pose as another identity, or as API Gateway.
const SPOOFED: &[&str] = &[
    "x-forwarded-client-cert",
    "client-cert",
    "client-cert-chain",
    "x-ssl-client-s-dn",
    "x-ssl-client-verify",
    "x-client-cert",
    "x-client-certificate-chain",
    "x-client-verify",
    "x-client-dn",
    "x-amzn-apigateway-api-id",
    "x-amzn-requestid",
    "x_ssl_client_s_dn",
];

fn spoofing_request() -> http::Request<Full<Bytes>> {
    let mut b = http::Request::get("https://localhost/inventory")
        .header("host", "localhost")
        .header("x-custom", "kept");
    for name in SPOOFED {
        b = b.header(*name, "CN=admin");
    }
    b.body(Full::new(Bytes::new())).unwrap()
}

async fn strips_spoofed(alpn: &'static [u8]) {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, INVENTORY_ROUTE)).await;
    let (got, neg) = send_as(&gw, &pki, &pki.client, alpn, spoofing_request()).await;
    assert_eq!(neg.alpn.as_deref(), Some(alpn));
    assert_eq!(got.status, 200, "{got:?}");
    let seen = up.seen();
    let h = &seen[0].headers;
    assert_eq!(h["x-custom"], "kept", "an ordinary header must pass: {h:?}");
    for name in SPOOFED.iter().filter(|n| **n != "x-forwarded-client-cert") {
        assert!(!h.contains_key(*name), "{name} reached the upstream: {h:?}");
    }
    for (name, v) in h {
        assert!(
            !v.to_str().unwrap_or("").contains("CN=admin"),
            "a spoofed value reached the upstream in {name}: {h:?}"
        );
    }
    let xfcc: Vec<_> = h.get_all("x-forwarded-client-cert").iter().collect();
    assert_eq!(xfcc.len(), 1);
    assert!(xfcc[0].to_str().unwrap().contains("CN=localhost-client"));
}

#[tokio::test]
async fn client_identity_headers_are_stripped_over_http11() {
    strips_spoofed(b"http/1.1").await;
}

#[tokio::test]
async fn client_identity_headers_are_stripped_over_h2() {
    strips_spoofed(b"h2").await;
}

#[tokio::test]
async fn strip_headers_list_replaces_the_defaults() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let config = format!(
        "[forwarding]\nstrip_headers = [\"X-Internal-*\", \"x-role\"]\nstrip_underscore_headers = false\n\n{}",
        simple_config(&pki, up.addr, INVENTORY_ROUTE)
    );
    let gw = Gateway::start(&config).await;
    let req = "GET /inventory HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Internal-User: a\r\nx-role: admin\r\nx-client-dn: CN=x\r\nx_under: y\r\n\r\n";
    let got = exchange(gw.addr(), &pki, req.as_bytes()).await;
    assert_eq!(got.status, Some(200), "{}", got.text);
    let h = &up.seen()[0].headers;
    assert!(
        !h.contains_key("x-internal-user") && !h.contains_key("x-role"),
        "{h:?}"
    );
    assert_eq!(h["x-client-dn"], "CN=x", "not in the configured list: kept");
    assert_eq!(h["x_under"], "y", "underscore stripping switched off");

    let bad = format!(
        "[forwarding]\nstrip_headers = [\"bad header\"]\n\n{}",
        simple_config(&pki, up.addr, INVENTORY_ROUTE)
    );
    let err = Gateway::try_start(&bad).await.err().expect("refused");
    assert!(err.contains("forwarding.strip_headers[0]"), "{err}");
}

/// One request over a fresh mTLS connection as `client`, offering ALPN `alpn`.
async fn send_as(
    gw: &Gateway,
    pki: &Pki,
    client: &Issued,
    alpn: &[u8],
    req: http::Request<Full<Bytes>>,
) -> (Got, Negotiated) {
    let cfg = client_config(&[&pki.root.pem], Some(client), BOTH, &[alpn]);
    tls_exchange(gw.addr(), dns("localhost"), Arc::new(cfg), req)
        .await
        .ok()
}

/// Split an XFCC value the way Envoy's consumers do: elements by unquoted `,`, pairs by
/// unquoted `;`, key from value by the first unquoted `=`; quoted values unescaped.
fn parse_xfcc(v: &str) -> Vec<Vec<(String, String)>> {
    let mut elements = vec![vec![]];
    let (mut key, mut val, mut in_key, mut quoted, mut escaped) =
        (String::new(), String::new(), true, false, false);
    for c in v.chars() {
        if escaped {
            val.push(c);
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if !quoted && c == '=' && in_key {
            in_key = false;
        } else if !quoted && (c == ';' || c == ',') {
            elements
                .last_mut()
                .unwrap()
                .push((key.clone(), val.clone()));
            (key, val, in_key) = (String::new(), String::new(), true);
            if c == ',' {
                elements.push(vec![]);
            }
        } else if in_key {
            key.push(c);
        } else {
            val.push(c);
        }
    }
    elements.last_mut().unwrap().push((key, val));
    elements
}

#[tokio::test]
async fn xfcc_values_with_delimiters_are_quoted() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, INVENTORY_ROUTE)).await;
    let mut leaf = Leaf::client("reader");
    let uri = "spiffe://corp/a,By=spiffe://evil;Hash=00";
    let dns_name = "x\";DNS=admin.example";
    leaf.uris = vec![uri.into()];
    leaf.dns = vec![dns_name.into(), "plain.example".into()];
    let client = issue(&pki.intermediate, leaf);
    let (got, _) = send_as(&gw, &pki, &client, b"http/1.1", spoofing_request()).await;
    assert_eq!(got.status, 200, "{got:?}");
    let xfcc = up.seen()[0].headers["x-forwarded-client-cert"]
        .to_str()
        .unwrap()
        .to_owned();
    let elements = parse_xfcc(&xfcc);
    assert_eq!(elements.len(), 1, "one element only: {xfcc}");
    let keys: Vec<&str> = elements[0].iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["Hash", "Subject", "URI", "DNS", "DNS"], "{xfcc}");
    assert_eq!(elements[0][2].1, uri);
    assert_eq!(elements[0][3].1, dns_name);
    assert_eq!(elements[0][4].1, "plain.example");
    assert!(
        xfcc.ends_with(";DNS=plain.example"),
        "plain values stay bare: {xfcc}"
    );
}

#[tokio::test]
async fn host_conflicting_with_the_authority_gets_400() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, INVENTORY_ROUTE)).await;
    for req in [
        "GET https://localhost/inventory HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
        "GET /inventory HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    ] {
        let got = exchange(gw.addr(), &pki, req.as_bytes()).await;
        assert_eq!(got.status, Some(400), "{req:?}: {}", got.text);
    }
    assert!(up.seen().is_empty(), "nothing forwarded");

    // The routed authority is what X-Forwarded-Host carries.
    let req =
        "GET https://localhost/inventory HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let got = exchange(gw.addr(), &pki, req.as_bytes()).await;
    assert_eq!(got.status, Some(200), "{}", got.text);
    assert_eq!(up.seen()[0].headers["x-forwarded-host"], "localhost");

    // HTTP/2: a Host header that disagrees with :authority.
    let req = http::Request::get("https://localhost/inventory")
        .header("host", "evil.example")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (got, neg) = send_as(&gw, &pki, &pki.client, b"h2", req).await;
    assert_eq!(neg.alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(got.status, 400, "{got:?}");
    assert_eq!(up.seen().len(), 1, "nothing more forwarded");
}

#[tokio::test]
async fn uri_longer_than_max_uri_bytes_gets_414() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(
        &Config::new(&pki, &[up.addr])
            .limits("max_uri_bytes = 200")
            .routes(PROXY_ROUTE)
            .build(),
    )
    .await;
    let long = format!(
        "GET /{} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        "a".repeat(250)
    );
    let got = exchange(gw.addr(), &pki, long.as_bytes()).await;
    assert_eq!(got.status, Some(414), "{}", got.text);
    assert_eq!(got.body_text(), gateway_body("Request-URI Too Long"));
    let short = format!(
        "GET /{} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        "a".repeat(150)
    );
    let got = exchange(gw.addr(), &pki, short.as_bytes()).await;
    assert_eq!(got.status, Some(200), "{}", got.text);
    assert_eq!(up.seen().len(), 1);
}

#[tokio::test]
async fn upgrade_header_does_not_switch_the_framing_guard_off() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, PROXY_ROUTE)).await;
    let req = "POST /a HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let got = exchange(gw.addr(), &pki, req.as_bytes()).await;
    assert_eq!(got.status, Some(400), "{}", got.text);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(up.seen().is_empty(), "forwarded: {:?}", up.seen().len());
}

/// An upstream that answers every request with `101 Switching Protocols`, then bytes.
async fn switching_upstream() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: evil\r\nConnection: Upgrade\r\n\r\nraw tunnel bytes")
                    .await;
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn unsolicited_101_from_upstream_is_a_502_on_both_protocols() {
    let pki = Pki::new("localhost");
    let up = switching_upstream().await;
    let gw = Gateway::start(&simple_config(&pki, up, INVENTORY_ROUTE)).await;
    for alpn in [&b"http/1.1"[..], &b"h2"[..]] {
        let req = http::Request::get("https://localhost/inventory")
            .header("host", "localhost")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let (got, neg) = send_as(&gw, &pki, &pki.client, alpn, req).await;
        assert_eq!(neg.alpn.as_deref(), Some(alpn));
        assert_eq!(got.status, 502, "{got:?}");
        assert!(!got.body.contains("raw tunnel"), "{got:?}");
    }
}

#[tokio::test]
async fn malformed_chunked_body_is_the_clients_400() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, PROXY_ROUTE)).await;
    for (name, body) in [
        ("size overflow", "ffffffffffffffffffff\r\nabcd\r\n0\r\n\r\n"),
        ("bad size digit", "4x\r\nabcd\r\n0\r\n\r\n"),
    ] {
        let req = format!(
            "POST /a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n{body}"
        );
        let got = exchange(gw.addr(), &pki, req.as_bytes()).await;
        assert_eq!(got.status, Some(400), "{name}: {}", got.text);
        assert_eq!(
            got.header("x-amzn-errortype"),
            Some("BadRequestException"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn numeric_keys_out_of_range_are_config_errors() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    for (limits, key) in [
        (
            "max_connections = 9223372036854775807",
            "limits.max_connections",
        ),
        (
            "idle_timeout_ms = 18446744073709551615",
            "limits.idle_timeout_ms",
        ),
        ("max_uri_bytes = 0", "limits.max_uri_bytes"),
        (
            "max_body_bytes = 9223372036854775807",
            "limits.max_body_bytes",
        ),
    ] {
        let err = Gateway::try_start(
            &Config::new(&pki, &[up.addr])
                .limits(limits)
                .routes(PROXY_ROUTE)
                .build(),
        )
        .await
        .err()
        .unwrap_or_else(|| panic!("{limits} accepted"));
        assert!(
            err.contains(key) && err.contains("out of range"),
            "{limits}: {err}"
        );
    }
}
