//! Domain -> API mapping: the longest base path wins and is stripped before route matching, and
//! each stage's variables pick its own upstream.

use crate::support::*;

use std::net::SocketAddr;

/// Mappings "/" -> stage prod (pool `prod-pool` = `a`) and "/orders" -> stage dev (pool
/// `dev-pool` = `b`) of one API.
fn two_stage_config(pki: &Pki, a: SocketAddr, b: SocketAddr) -> String {
    format!(
        "{domain}
[[domain.mapping]]
base_path = \"/\"
api = \"inv\"
stage = \"prod\"

[[domain.mapping]]
base_path = \"/orders\"
api = \"inv\"
stage = \"dev\"

[api.inv.stages.prod]
variables = {{ backend = \"prod-pool\", tag = \"p\" }}

[api.inv.stages.dev]
variables = {{ backend = \"dev-pool\", tag = \"d\" }}

{routes}
[upstream.prod-pool]
targets = [\"{a}\"]

[upstream.dev-pool]
targets = [\"{b}\"]
",
        domain = pki.domain_toml("localhost", "127.0.0.1:0"),
        routes = [
            route(
                "GET",
                "/x",
                "http://${stageVariables.backend}/svc-${stageVariables.tag}/x"
            ),
            route(
                "ANY",
                "/{proxy+}",
                "http://${stageVariables.backend}/any/{proxy}"
            ),
        ]
        .concat(),
    )
}

#[tokio::test]
async fn longest_base_path_wins_is_stripped_and_stage_variables_pick_the_upstream() {
    let pki = Pki::new("localhost");
    let a = Upstream::start_named("a").await;
    let b = Upstream::start_named("b").await;
    let gw = Gateway::start(&two_stage_config(&pki, a.addr, b.addr)).await;

    // "/orders/x" maps to stage dev and routes as "/x".
    let got = get(&gw, &pki, "/orders/x?k=v").await;
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.body, "b:/svc-d/x?k=v");

    // "/x" maps to stage prod.
    let got = get(&gw, &pki, "/x?k=v").await;
    assert_eq!(got.body, "a:/svc-p/x?k=v");

    // A path that merely starts with the base path's characters is not under it.
    let got = get(&gw, &pki, "/ordersx").await;
    assert_eq!(got.body, "a:/any/ordersx");

    // Deeper paths under the base path keep the rest after stripping.
    let got = get(&gw, &pki, "/orders/deep/er").await;
    assert_eq!(got.body, "b:/any/deep/er");

    // "/orders" alone is "/" in stage dev: `{proxy+}` does not match it, and nothing else does.
    let got = get(&gw, &pki, "/orders").await;
    assert_eq!(got.status, 403, "{got:?}");

    let seen_a: Vec<String> = a.seen().into_iter().map(|s| s.path_and_query).collect();
    let seen_b: Vec<String> = b.seen().into_iter().map(|s| s.path_and_query).collect();
    assert_eq!(seen_a, ["/svc-p/x?k=v", "/any/ordersx"]);
    assert_eq!(seen_b, ["/svc-d/x?k=v", "/any/deep/er"]);
}

#[tokio::test]
async fn a_path_outside_every_mapping_gets_403() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let config = format!(
        "{}\n[[domain.mapping]]\nbase_path = \"/orders\"\napi = \"inv\"\nstage = \"prod\"\n\n[api.inv.stages.prod]\nvariables = {{ backend = \"onprem\" }}\n\n{PROXY_ROUTE}\n[upstream.onprem]\ntargets = [\"{}\"]\n",
        pki.domain_toml("localhost", "127.0.0.1:0"),
        up.addr
    );
    let gw = Gateway::start(&config).await;
    let got = get(&gw, &pki, "/elsewhere/x").await;
    assert_eq!(got.status, 403, "{got:?}");
    assert_eq!(got.body, gateway_body("Missing Authentication Token"));
    let got = get(&gw, &pki, "/orders/x").await;
    assert_eq!(got.body, "upstream:/x");
    assert_eq!(up.seen().len(), 1);
}
