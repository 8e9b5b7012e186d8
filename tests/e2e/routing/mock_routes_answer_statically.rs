//! A `mock` route (API Gateway's mock integration) answers with its static status, headers and
//! body, and nothing reaches an upstream; this is how exports answer CORS preflights. A route
//! with both an integration and a mock, or a mock with a bad status, is refused at load.

use crate::support::*;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;

const ROUTES: &str = r#"[[api.inv.routes]]
method = "OPTIONS"
path = "/inventory"
mock = { status = 204, headers = { "Access-Control-Allow-Origin" = "*", "Access-Control-Allow-Methods" = "GET,OPTIONS" } }

[[api.inv.routes]]
method = "GET"
path = "/inventory"
integration = "http://${stageVariables.backend}/rest-service/inventory"

[[api.inv.routes]]
method = "GET"
path = "/status"
mock = { status = 200, headers = { "content-type" = "application/json" }, body = '{"ok":true}' }
"#;

#[tokio::test]
async fn mock_routes_answer_without_reaching_an_upstream() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, ROUTES)).await;
    let req = Request::options("/inventory")
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
    assert_eq!(got.status, 204, "{got:?}");
    assert_eq!(got.headers["access-control-allow-origin"], "*");
    assert_eq!(got.headers["access-control-allow-methods"], "GET,OPTIONS");
    assert!(got.headers.contains_key("x-amzn-requestid"));

    let got = get(&gw, &pki, "/status").await;
    assert_eq!(got.status, 200);
    assert_eq!(got.headers["content-type"], "application/json");
    assert_eq!(got.body, r#"{"ok":true}"#);
    assert!(up.seen().is_empty(), "a mock reached the upstream");

    // The GET beside the mock still goes upstream.
    assert_eq!(get(&gw, &pki, "/inventory").await.status, 200);
    assert_eq!(up.seen().len(), 1);
}

#[tokio::test]
async fn mock_with_an_integration_or_a_bad_status_is_refused() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    for (route, says) in [
        (
            "mock = { status = 200 }\nintegration = \"http://onprem/x\"",
            "api.inv.routes[0].mock: a route has an `integration` or a `mock` response, not both",
        ),
        ("mock = { status = 99 }", "api.inv.routes[0].mock.status"),
        ("mock = { status = 700 }", "api.inv.routes[0].mock.status"),
    ] {
        let routes = format!("[[api.inv.routes]]\nmethod = \"GET\"\npath = \"/x\"\n{route}\n");
        let err = Gateway::try_start(&simple_config(&pki, up.addr, &routes))
            .await
            .err()
            .unwrap_or_else(|| panic!("accepted {route}"));
        assert!(err.contains(says), "{route}: {err}");
    }
}
