//! A domain's routing rules (API Gateway, 2025): by priority, every header condition (name in
//! any case, value a case-sensitive glob) and the base path condition must hold; the rule's
//! action picks the API stage; `routing_mode` decides whether rules come before the API mappings
//! or replace them. A request that matches nothing is refused.

use crate::support::*;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;

fn config(pki: &Pki, a: std::net::SocketAddr, b: std::net::SocketAddr, mode: &str) -> String {
    format!(
        r#"{domain}routing_mode = "{mode}"

[[domain.routing_rule]]
priority = 20
conditions = {{ base_path = "orders", headers = [{{ name = "X-Tenant", value = "acme" }}] }}
action = {{ api = "inv", stage = "v2", strip_base_path = true }}

[[domain.routing_rule]]
priority = 10
conditions = {{ headers = [{{ name = "x-api-version", value = "v2*" }}] }}
action = {{ api = "inv", stage = "v2" }}

[[domain.mapping]]
base_path = "/"
api = "inv"
stage = "prod"

[api.inv.stages.prod]
variables = {{ backend = "onprem" }}

[api.inv.stages.v2]
variables = {{ backend = "onprem2" }}

[[api.inv.routes]]
method = "ANY"
path = "/{{proxy+}}"
integration = "http://${{stageVariables.backend}}/{{proxy}}"

[upstream.onprem]
targets = ["{a}"]

[upstream.onprem2]
targets = ["{b}"]
"#,
        domain = pki.domain_toml("localhost", "127.0.0.1:0")
    )
}

async fn send(gw: &Gateway, pki: &Pki, path: &str, headers: &[(&str, &str)]) -> Got {
    let mut b = Request::get(path).header("host", "localhost");
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    request(
        gw.addr(),
        "localhost",
        &pki.root.pem,
        Some(&pki.client),
        b.body(Full::new(Bytes::new())).unwrap(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn rules_then_mappings_route_by_header_and_base_path() {
    let pki = Pki::new("localhost");
    let a = Upstream::start_named("prod").await;
    let b = Upstream::start_named("v2").await;
    let gw = Gateway::start(&config(
        &pki,
        a.addr,
        b.addr,
        "ROUTING_RULE_THEN_API_MAPPING",
    ))
    .await;

    // No rule matches: the API mapping.
    assert_eq!(send(&gw, &pki, "/items/1", &[]).await.body, "prod:/items/1");
    // The header glob matches (values are case-sensitive, names are not).
    assert_eq!(
        send(&gw, &pki, "/items/1", &[("X-API-Version", "v2-beta")])
            .await
            .body,
        "v2:/items/1"
    );
    assert_eq!(
        send(&gw, &pki, "/items/1", &[("x-api-version", "V2")])
            .await
            .body,
        "prod:/items/1"
    );
    // Base path and header together, base path stripped.
    assert_eq!(
        send(&gw, &pki, "/orders/7", &[("x-tenant", "acme")])
            .await
            .body,
        "v2:/7"
    );
    // The base path alone is not enough.
    assert_eq!(
        send(&gw, &pki, "/orders/7", &[]).await.body,
        "prod:/orders/7"
    );
    assert_eq!(
        send(&gw, &pki, "/ordersx/7", &[("x-tenant", "acme")])
            .await
            .body,
        "prod:/ordersx/7"
    );
}

#[tokio::test]
async fn rules_only_refuses_what_no_rule_matches() {
    let pki = Pki::new("localhost");
    let a = Upstream::start_named("prod").await;
    let b = Upstream::start_named("v2").await;
    let gw = Gateway::start(&config(&pki, a.addr, b.addr, "ROUTING_RULE_ONLY")).await;
    assert_eq!(
        send(&gw, &pki, "/items/1", &[("x-api-version", "v2")])
            .await
            .body,
        "v2:/items/1"
    );
    let got = send(&gw, &pki, "/items/1", &[]).await;
    assert_eq!(got.status, 403, "{got:?}");
    assert!(
        a.seen().is_empty(),
        "the mapping was used in ROUTING_RULE_ONLY"
    );
}

#[tokio::test]
async fn bad_rules_are_refused_naming_the_key() {
    let pki = Pki::new("localhost");
    let a = Upstream::start().await;
    let good = config(&pki, a.addr, a.addr, "ROUTING_RULE_THEN_API_MAPPING");
    for (edit, says) in [
        (
            good.replace("priority = 20", "priority = 10"),
            "priority 10 is used by another rule",
        ),
        (
            good.replace("priority = 20", "priority = 1000001"),
            "routing_rule[0].priority",
        ),
        (
            good.replace("ROUTING_RULE_THEN_API_MAPPING", "RULES_PLEASE"),
            "domain[0].routing_mode",
        ),
        (
            good.replace("stage = \"v2\" }", "stage = \"v3\" }"),
            "routing_rule[1].action.stage",
        ),
        (
            good.replace(
                r#"headers = [{ name = "x-api-version", value = "v2*" }]"#,
                r#"headers = [{ name = "a", value = "1" }, { name = "b", value = "2" }, { name = "c", value = "3" }]"#,
            ),
            "at most two header conditions",
        ),
    ] {
        assert_ne!(edit, good);
        let err = Gateway::try_start(&edit)
            .await
            .err()
            .unwrap_or_else(|| panic!("accepted a config that should say {says}"));
        assert!(err.contains(says), "{says}: {err}");
    }
}
