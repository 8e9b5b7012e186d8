//! A configuration with an API Gateway export is refused with the key (and the definition's
//! JSON pointer) at fault: openapi and routes together, VPC links to missing pools or missing
//! from `vpc_links`, stage variables against API Gateway's rules or undefined (with the closest
//! name), broken definitions, and an opened route the definition does not guard.

use std::path::Path;

use super::{fixture, ledger_config};
use crate::support::*;

fn errors(config: &str) -> Vec<String> {
    match portcullis::config::parse(Path::new("gw.toml"), config) {
        Ok(_) => panic!("accepted:\n{config}"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

fn has(errors: &[String], key: &str, reason: &str) {
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(&format!("gw.toml: {key}: ")) && e.contains(reason)),
        "no `{key}: ...{reason}...` in {errors:#?}"
    );
}

fn config(pki: &Pki, definition: &Path, api_extra: &str) -> String {
    let addr = "127.0.0.1:9".parse().unwrap();
    ledger_config(pki, definition, addr, addr, api_extra)
}

#[test]
fn openapi_and_routes_together_are_refused() {
    let pki = Pki::new("localhost");
    let text = config(&pki, &fixture("servable.oas30.yaml"), "")
        + "\n[[api.ledger.routes]]\nmethod = \"GET\"\npath = \"/x\"\nintegration = \"http://ledger/x\"\n";
    has(
        &errors(&text),
        "api.ledger",
        "either an API Gateway export or TOML routes, not both",
    );
}

#[test]
fn vpc_links_must_name_pools_and_be_mapped() {
    let pki = Pki::new("localhost");
    let text = config(&pki, &fixture("ledger.oas30.yaml"), "")
        .replace("nlb1 = \"internal\"", "nlb1 = \"nowhere\"");
    has(
        &errors(&text),
        "api.ledger.vpc_links.nlb1",
        "no [upstream.nowhere] is defined (pools: internal, ledger)",
    );
    let text = config(&pki, &fixture("ledger.oas30.yaml"), "")
        .replace("vpcLinkId = \"nlb1\"", "vpcLinkId = \"nlb2\"");
    has(
        &errors(&text),
        "api.ledger.openapi",
        "x-amazon-apigateway-any-method/x-amazon-apigateway-integration/connectionId: ANY \
         /internal/{proxy+}: VPC link `nlb2` is not in the API's `vpc_links` (closest: `nlb1`) \
         (stage `prod`)",
    );
}

#[test]
fn stage_variables_follow_api_gateway_rules_and_name_the_closest() {
    let pki = Pki::new("localhost");
    let text = config(&pki, &fixture("servable.oas30.yaml"), "").replace(
        "backend = \"ledger\"",
        "backend = \"ledger\", \"back-end\" = \"x\", spaced = \"a b\"",
    );
    let e = errors(&text);
    has(
        &e,
        "api.ledger.stages.prod.variables.back-end",
        "may only have letters, digits and `_`",
    );
    has(
        &e,
        "api.ledger.stages.prod.variables.spaced",
        "' ' is not allowed in a value",
    );
    // In an export: a route error with its pointer.
    let e = errors(&config(&pki, &fixture("errors.swagger.json"), ""));
    has(
        &e,
        "api.ledger.openapi",
        "errors.swagger.json#/paths/~1typo/get/x-amazon-apigateway-integration/uri: GET /typo: \
         stage variable `backnd` is not defined (closest: `backend`)",
    );
    has(
        &e,
        "api.ledger.openapi",
        "20 ms is below API Gateway's 50 ms floor",
    );
    // In TOML routes too.
    let text = Config::new(&pki, &["127.0.0.1:9".parse().unwrap()])
        .routes(&route("GET", "/x", "http://${stageVariables.backnd}/x"))
        .build();
    has(
        &errors(&text),
        "api.inv.routes[0].integration",
        "stage variable `backnd` is not defined (closest: `backend`) in stage `prod`",
    );
}

#[test]
fn unusable_definitions_are_refused_with_their_diagnosis() {
    let pki = Pki::new("localhost");
    let file = fixture("malformed.json");
    has(
        &errors(&config(&pki, &file, "")),
        "api.ledger.openapi",
        &format!("{}:5:72: malformed JSON: trailing comma", file.display()),
    );
    has(
        &errors(&config(&pki, &fixture("cloudformation.yaml"), "")),
        "api.ledger.openapi",
        "a CloudFormation template",
    );
    has(
        &errors(&config(&pki, &fixture("missing.yaml"), "")),
        "api.ledger.openapi",
        "cannot read the API definition",
    );
}

/// `/admin` needs an API key that a Lambda authorizer supplies (not checked here, so the route
/// is closed); `ANY /{proxy+}` would serve its requests without one.
const HIDDEN_ADMIN: &str = "openapi: 3.0.1
info: {title: shadow, version: '1'}
x-amazon-apigateway-api-key-source: AUTHORIZER
paths:
  /admin:
    get:
      security: [{api_key: []}]
      x-amazon-apigateway-integration:
        type: http_proxy
        httpMethod: GET
        uri: http://${stageVariables.backend}/admin
  /{proxy+}:
    x-amazon-apigateway-any-method:
      x-amazon-apigateway-integration:
        type: http_proxy
        httpMethod: ANY
        uri: http://${stageVariables.backend}/{proxy}
        requestParameters:
          integration.request.path.proxy: method.request.path.proxy
components:
  securitySchemes:
    api_key: {type: apiKey, name: x-api-key, in: header}
";

#[tokio::test]
async fn an_authorizer_route_is_served_closed_never_by_a_broader_route_until_opened() {
    let pki = Pki::new("localhost");
    let up = Upstream::start_named("ledger").await;
    let definition = pki.write("shadow.yaml", HIDDEN_ADMIN);
    // Closed: answered as AWS answers a request without an API key; `ANY /{proxy+}` does not
    // catch it, and the upstream hears nothing.
    let closed = ledger_config(&pki, &definition, up.addr, up.addr, "");
    let gw = Gateway::start(&closed).await;
    let got = get(&gw, &pki, "/admin").await;
    assert_eq!(got.status, 403, "{got:?}");
    assert_eq!(got.body, r#"{"message":"Forbidden"}"#);
    assert_eq!(get(&gw, &pki, "/other").await.body, "ledger:/other");
    assert_eq!(up.seen().len(), 1, "the closed route reached the upstream");
    drop(gw);

    let e = errors(&ledger_config(
        &pki,
        &definition,
        up.addr,
        up.addr,
        "open_routes = [\"GET /admn\"]",
    ));
    has(
        &e,
        "api.ledger.open_routes[0]",
        "`GET /admn` is not a route of",
    );
    has(&e, "api.ledger.open_routes[0]", "(closest: `GET /admin`)");

    // Opened explicitly: served, without the check.
    let open = ledger_config(
        &pki,
        &definition,
        up.addr,
        up.addr,
        "open_routes = [\"GET /admin\"]",
    );
    let gw = Gateway::start(&open).await;
    let got = get(&gw, &pki, "/admin").await;
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.body, "ledger:/admin");
}
