//! Through the binary: a v1 header from a trusted load balancer names the client, and that
//! address (not the balancer's) is what the upstream gets in `X-Forwarded-For` and in a
//! `context.identity.sourceIp` mapping, and what the access log line names.

use super::*;

#[tokio::test]
async fn v1_client_address_reaches_forwarded_for_source_ip_and_the_access_log() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let (served, addr) = served_behind_lb(&pki, &up).await;

    let got = via_lb(addr, &pki, &v1("203.0.113.9:4711"), "/inventory")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", served.dump()));
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(seen_header(&up, 0, "x-forwarded-for"), "203.0.113.9");
    assert_eq!(seen_header(&up, 0, "x-source-ip"), "203.0.113.9");
    let line = served
        .wait_event(|e| e["target"] == "access" && e["path"] == "/inventory")
        .await
        .unwrap_or_else(|| panic!("no access line:\n{}", served.dump()));
    assert_eq!(line["client"], "203.0.113.9:4711", "{line}");
    assert_eq!(line["status"], 200, "{line}");
}
