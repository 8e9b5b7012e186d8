//! The upstream learns the client identity only from the gateway: spoofed
//! `x-forwarded-client-cert` and `forwarded` headers are removed, and exactly one
//! `x-forwarded-client-cert` in Envoy's format (`Hash=<sha256 of the leaf DER>;Subject="...";
//! URI=...;DNS=...`) is sent, over HTTP/1.1 and HTTP/2.

use crate::support::*;

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;

fn spoofing_request() -> http::Request<Full<Bytes>> {
    http::Request::get("https://localhost/inventory")
        .header("host", "localhost")
        .header(
            "x-forwarded-client-cert",
            "Hash=0000000000000000000000000000000000000000000000000000000000000000;Subject=\"CN=admin\"",
        )
        .header("x-forwarded-client-cert", "By=spiffe://evil;Subject=\"CN=root\"")
        .header("X-Forwarded-Client-Cert", "Subject=\"CN=third\"")
        .header("forwarded", "for=203.0.113.9;proto=https;by=evil")
        .header("Forwarded", "for=198.51.100.1")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

async fn check(alpn: &'static [u8]) {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, INVENTORY_ROUTE)).await;

    let mut leaf = Leaf::client("inventory-reader");
    leaf.uris = vec!["spiffe://example.org/ns/prod/sa/inventory".into()];
    leaf.dns = vec!["reader.example.org".into()];
    let client = issue(&pki.intermediate, leaf);

    let cfg = client_config(&[&pki.root.pem], Some(&client), BOTH, &[alpn]);
    let (got, neg) = tls_exchange(
        gw.addr(),
        dns("localhost"),
        Arc::new(cfg),
        spoofing_request(),
    )
    .await
    .ok();
    assert_eq!(neg.alpn.as_deref(), Some(alpn));
    assert_eq!(got.status, 200, "{got:?}");

    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    let h = &seen[0].headers;
    let xfcc: Vec<_> = h.get_all("x-forwarded-client-cert").iter().collect();
    assert_eq!(
        xfcc.len(),
        1,
        "exactly one x-forwarded-client-cert: {xfcc:?}"
    );
    let xfcc = xfcc[0].to_str().unwrap();

    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, client.der.as_ref());
    let hash = hex(digest.as_ref());
    assert_eq!(
        xfcc,
        format!(
            "Hash={hash};Subject=\"CN=inventory-reader\";URI=spiffe://example.org/ns/prod/sa/inventory;DNS=reader.example.org"
        )
    );
    let hash_field = xfcc
        .strip_prefix("Hash=")
        .and_then(|r| r.split(';').next())
        .unwrap();
    assert_eq!(hash_field.len(), 64);
    assert!(
        hash_field
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );

    assert!(
        h.get_all("forwarded").iter().next().is_none(),
        "spoofed Forwarded reached the upstream: {h:?}"
    );
    for v in h.values() {
        let v = v.to_str().unwrap_or("");
        assert!(
            !v.contains("CN=admin") && !v.contains("evil") && !v.contains("203.0.113.9"),
            "a spoofed value reached the upstream: {h:?}"
        );
    }
}

#[tokio::test]
async fn spoofed_identity_headers_are_replaced_over_http11() {
    check(b"http/1.1").await;
}

#[tokio::test]
async fn spoofed_identity_headers_are_replaced_over_h2() {
    check(b"h2").await;
}

#[tokio::test]
async fn xfcc_without_sans_has_hash_subject_and_an_empty_uri_as_envoy_writes_it() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, INVENTORY_ROUTE)).await;
    assert_eq!(get(&gw, &pki, "/inventory").await.status, 200);
    let seen = up.seen();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, pki.client.der.as_ref());
    assert_eq!(
        seen[0].headers["x-forwarded-client-cert"],
        format!(
            "Hash={};Subject=\"CN=localhost-client\";URI=",
            hex(digest.as_ref())
        )
        .as_str()
    );
}
