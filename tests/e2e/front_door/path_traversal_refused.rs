//! Paths that any common origin could read as leaving their prefix (dot segments, encoded or
//! double-encoded dots and slashes, backslashes, `//`) are refused with 400 before routing and
//! never reach the upstream. Sent as raw bytes so no client library normalizes them.

use crate::support::*;

const ESCAPES: &[&str] = &[
    "/items/../admin",
    "/items/..",
    "/items/./admin",
    "/items/%2e%2e/admin",
    "/items/%2E%2E/admin",
    "/items/%2E./admin",
    "/items/.%2e/admin",
    "/items/..;x/admin",
    "/items/..;jsessionid=1/admin",
    "/items/%252e%252e/admin",
    "/items/a%2fb",
    "/items/a%2Fb",
    "/items/a%252fb",
    "/items/a%5cb",
    "/items/a%5Cb",
    "/items/a\\b",
    "/items//admin",
    "//items/admin",
];

fn raw_get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").into_bytes()
}

#[tokio::test]
async fn escaping_paths_get_400_and_are_never_forwarded() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, PROXY_ROUTE)).await;

    // Control: the same route forwards an ordinary path, so a 400 below is the path's doing.
    let ok = exchange(gw.addr(), &pki, &raw_get("/items/a.b/c%20d")).await;
    assert_eq!(ok.status, Some(200), "{}", ok.text);
    assert_eq!(ok.body_text(), "upstream:/items/a.b/c%20d");
    assert_eq!(up.seen().len(), 1);

    let mut failures = Vec::new();
    for path in ESCAPES {
        let got = exchange(gw.addr(), &pki, &raw_get(path)).await;
        if got.status != Some(400) {
            failures.push(format!("{path}: {:?}\n{}", got.status, got.text));
        }
    }
    let forwarded: Vec<String> = up
        .seen()
        .into_iter()
        .skip(1)
        .map(|s| s.path_and_query)
        .collect();
    assert!(
        failures.is_empty(),
        "not refused with 400:\n{}",
        failures.join("\n")
    );
    assert!(forwarded.is_empty(), "forwarded upstream: {forwarded:?}");
}

#[tokio::test]
async fn refusal_is_an_api_gateway_bad_request() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, PROXY_ROUTE)).await;
    let got = exchange(gw.addr(), &pki, &raw_get("/items/%2e%2e/admin")).await;
    assert_eq!(got.status, Some(400), "{}", got.text);
    assert_eq!(got.header("x-amzn-errortype"), Some("BadRequestException"));
    assert_eq!(got.body_text(), gateway_body("Invalid request path"));
    assert!(up.seen().is_empty());
}
