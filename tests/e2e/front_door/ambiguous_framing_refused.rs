//! Request framing that a proxy and an origin could read differently (request smuggling) is
//! refused with 400 and never forwarded: Content-Length with Transfer-Encoding in either order,
//! differing or malformed Content-Length, and transfer codings other than plain `chunked`.

use crate::support::*;

/// Each request carries a smuggled second request in its body, so that a gateway reading the
/// framing one way and the upstream another would show up as an upstream request.
const CASES: &[(&str, &str)] = &[
    (
        "CL then TE",
        "POST /a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n",
    ),
    (
        "TE then CL",
        "POST /a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n",
    ),
    (
        "two differing Content-Length",
        "POST /a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 4\r\nContent-Length: 50\r\n\r\nabcdGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n",
    ),
    (
        "malformed Content-Length",
        "POST /a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 12abc\r\n\r\nabcdefghijkl",
    ),
    (
        "gzip, chunked",
        "POST /a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n",
    ),
    (
        "identity",
        "POST /a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: identity\r\n\r\nabcd",
    ),
];

#[tokio::test]
async fn ambiguous_framing_gets_400_and_is_never_forwarded() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, PROXY_ROUTE)).await;

    // Control: well-framed bodies of both kinds are forwarded.
    let cl = "POST /ok HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 4\r\n\r\nabcd";
    let te = "POST /ok HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n";
    for req in [cl, te] {
        let got = exchange(gw.addr(), &pki, req.as_bytes()).await;
        assert_eq!(got.status, Some(200), "{}", got.text);
    }
    assert_eq!(up.seen().len(), 2);
    assert!(up.seen().iter().all(|s| s.body_len == 4));

    let mut failures = Vec::new();
    for (name, req) in CASES {
        let before = up.seen().len();
        let got = exchange(gw.addr(), &pki, req.as_bytes()).await;
        // Let anything the gateway forwarded reach the recording upstream.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let forwarded: Vec<String> = up.seen()[before..]
            .iter()
            .map(|s| {
                format!(
                    "{} {} ({} body bytes)",
                    s.method, s.path_and_query, s.body_len
                )
            })
            .collect();
        if got.status != Some(400) || !forwarded.is_empty() {
            failures.push(format!(
                "{name}: status {:?}, forwarded {forwarded:?}\n{}",
                got.status, got.text
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test]
async fn content_length_with_transfer_encoding_is_a_gateway_bad_request() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, PROXY_ROUTE)).await;
    let got = exchange(gw.addr(), &pki, CASES[0].1.as_bytes()).await;
    assert_eq!(got.status, Some(400), "{}", got.text);
    assert_eq!(got.header("x-amzn-errortype"), Some("BadRequestException"));
    assert_eq!(
        got.body_text(),
        gateway_body("Both Content-Length and Transfer-Encoding")
    );
    assert!(up.seen().is_empty());
}
