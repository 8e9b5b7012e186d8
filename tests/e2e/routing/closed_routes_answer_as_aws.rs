//! A route written `closed = "authorizer" | "iam" | "api_key"` (what `import` emits for a route
//! AWS guards with a check Portcullis cannot make) answers every request as API Gateway answers
//! one without that check's credential, reaches no upstream, is not caught by a broader route,
//! and takes the API's customised gateway response; a bad value is refused naming the key.

use crate::support::*;

const ROUTES: &str = r#"[[api.inv.routes]]
method = "GET"
path = "/audit"
integration = "http://${stageVariables.backend}/audit"
closed = "authorizer"

[[api.inv.routes]]
method = "GET"
path = "/signed"
integration = "http://${stageVariables.backend}/signed"
closed = "iam"

[[api.inv.routes]]
method = "GET"
path = "/keyed"
integration = "http://${stageVariables.backend}/keyed"
closed = "api_key"

[[api.inv.routes]]
method = "ANY"
path = "/{proxy+}"
integration = "http://${stageVariables.backend}/{proxy}"

[api.inv.gateway_responses.UNAUTHORIZED]
status = 401
headers = { "WWW-Authenticate" = "Bearer" }
template = '{"error":"$context.error.message","type":"$context.error.responseType"}'
"#;

#[tokio::test]
async fn closed_routes_answer_as_aws_without_the_credential_and_reach_no_upstream() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, ROUTES)).await;

    let got = get(&gw, &pki, "/audit").await;
    assert_eq!(got.status, 401, "{got:?}");
    assert_eq!(got.headers["www-authenticate"], "Bearer");
    assert_eq!(got.headers["x-amzn-errortype"], "UnauthorizedException");
    assert_eq!(
        got.body,
        r#"{"error":"Unauthorized","type":"UNAUTHORIZED"}"#
    );

    let got = get(&gw, &pki, "/signed").await;
    assert_eq!(got.status, 403, "{got:?}");
    assert_eq!(got.body, r#"{"message":"Missing Authentication Token"}"#);

    let got = get(&gw, &pki, "/keyed").await;
    assert_eq!(got.status, 403, "{got:?}");
    assert_eq!(got.body, r#"{"message":"Forbidden"}"#);
    assert_eq!(got.headers["x-amzn-errortype"], "ForbiddenException");

    assert!(up.seen().is_empty(), "a closed route reached the upstream");
    // The greedy sibling still serves everything else.
    assert_eq!(get(&gw, &pki, "/other").await.status, 200);
    assert_eq!(up.seen().len(), 1);
}

#[tokio::test]
async fn an_unknown_closed_value_is_refused_naming_the_key() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let routes = "[[api.inv.routes]]\nmethod = \"GET\"\npath = \"/a\"\nintegration = \"http://onprem/a\"\nclosed = \"lambda\"\n";
    let err = Gateway::try_start(&simple_config(&pki, up.addr, routes))
        .await
        .err()
        .expect("closed = \"lambda\" was accepted");
    assert!(
        err.contains("api.inv.routes[0].closed") && err.contains("`lambda` is not one of"),
        "{err}"
    );
}
