//! Through the binary: a refused request gets API Gateway's `ACCESS_DENIED` response (403,
//! `{"message":...}`, `x-amzn-errortype`), reaches no upstream, and its access-log line names
//! the refusing rule and why, never the client's certificate.

use crate::support::*;

#[tokio::test]
async fn refused_request_is_403_logged_by_rule_and_not_forwarded() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let config = pki.write(
        "gateway.toml",
        &Config::new(&pki, &[up.addr])
            .top("[authorization.partners]\nallow = [ { subject_cn = [\"someone-else\"] } ]")
            .domain("authorization = \"partners\"")
            .build(),
    );
    let served = Served::start(&config);
    let addr = served.listen_addr().await;
    let req = http::Request::get("/inventory")
        .header("host", "localhost")
        .header("x-request-id", "refused-1")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let got = request(addr, "localhost", &pki.root.pem, Some(&pki.client), req)
        .await
        .unwrap();
    assert_eq!(got.status, 403);
    assert_eq!(
        got.body,
        gateway_body("User is not authorized to access this resource")
    );
    assert_eq!(got.headers["x-amzn-errortype"], "AccessDeniedException");
    let line = served
        .wait_event(|e| e["target"] == "access" && e["request_id"] == "refused-1")
        .await
        .unwrap_or_else(|| panic!("no access line:\n{}", served.dump()));
    assert_eq!(line["status"], 403, "{line}");
    assert_eq!(line["error"], "ACCESS_DENIED", "{line}");
    assert_eq!(line["authz_rule"], "partners.allow", "{line}");
    assert_eq!(
        line["authz_reason"], "no rule of partners.allow matches the client",
        "{line}"
    );
    assert_eq!(line["upstream"], "", "{line}");
    assert!(
        up.seen().is_empty(),
        "a refused request reached the upstream"
    );
    assert!(
        !served.dump().contains("BEGIN CERTIFICATE"),
        "the log holds a certificate PEM"
    );
}
