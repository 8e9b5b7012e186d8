//! `portcullis export` writes a TOML-defined API as an API Gateway definition (OpenAPI 3.0 and
//! Swagger 2.0) that `import` reads back: served from the export, the API answers every request
//! as the TOML API does, and the upstream receives the same method, path, query and mapped
//! headers. An unknown API or stage is refused by name.

use crate::support::*;

const ROUTES: &str = r#"[[api.inv.routes]]
method = "GET"
path = "/items/{id}"
integration = "http://${stageVariables.backend}/svc/items/{id}"
timeout_ms = 5000
request_parameters = { "integration.request.header.x-stage" = "context.stage", "integration.request.querystring.v" = "'2'" }

[[api.inv.routes]]
method = "POST"
path = "/orders/{id}"
integration = "http://${stageVariables.backend}/svc/{order}"
upstream_method = "PUT"
request_parameters = { "integration.request.path.order" = "method.request.path.id" }

[[api.inv.routes]]
method = "ANY"
path = "/files/{proxy+}"
integration = "http://${stageVariables.backend}/store/{proxy}"

[[api.inv.routes]]
method = "OPTIONS"
path = "/files/{proxy+}"
mock = { status = 204, headers = { "Access-Control-Allow-Origin" = "*" } }

[[api.inv.routes]]
method = "GET"
path = "/audit"
integration = "http://${stageVariables.backend}/audit"
closed = "authorizer"

[api.inv.gateway_responses.MISSING_AUTHENTICATION_TOKEN]
status = 404
template = '{"error":"$context.error.message"}'
"#;

#[tokio::test]
async fn an_exported_api_imports_back_and_serves_the_same_routes() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let toml = simple_config(&pki, up.addr, ROUTES);
    let config = pki.write("gateway.toml", &toml);
    let a = Gateway::start(&toml).await;

    for format in ["oas30", "swagger"] {
        let out = portcullis(args([
            "export",
            "--config",
            &config.display().to_string(),
            "--api",
            "inv",
            "--format",
            format,
        ]));
        assert_eq!(out.code, Some(0), "{format}: {out:#?}");
        assert!(
            out.stderr
                .contains("GET /audit: closed behind an authorizer"),
            "{out:#?}"
        );
        let exported = pki.write(&format!("inv.{format}.json"), &out.stdout);
        // What import makes of it: every route servable, nothing unsupported.
        let report = portcullis(args(["import", &exported.display().to_string()]));
        assert!(
            report
                .stdout
                .ends_with("5 routes: 5 servable, 0 unsupported, 0 errors\n"),
            "{format}: {report:#?}"
        );
        let served = simple_config(
            &pki,
            up.addr,
            &format!("[api.inv]\nopenapi = {}\n", toml_path(&exported)),
        );
        let b = Gateway::start(&served).await;
        for (method, path) in [
            ("GET", "/items/42?q=1"),
            ("POST", "/orders/7"),
            ("DELETE", "/files/a/b.txt"),
            ("GET", "/files/a"),
            ("OPTIONS", "/files/a"),
            ("GET", "/audit"),
            ("GET", "/nothing"),
            ("PUT", "/items/42"),
        ] {
            let mut got = Vec::new();
            for gw in [&a, &b] {
                let before = up.seen().len();
                let r = send(gw, &pki, method, path).await;
                let seen = up.seen();
                let upstream = seen[before..].first().map(|s| {
                    (
                        s.method.clone(),
                        s.path_and_query.clone(),
                        s.headers.get("x-stage").cloned(),
                    )
                });
                let cors = r.headers.get("access-control-allow-origin").cloned();
                got.push((r.status, r.body, cors, upstream));
            }
            assert_eq!(got[0], got[1], "{format}: {method} {path}");
        }
    }
}

#[test]
fn an_unknown_api_or_stage_is_refused_by_name() {
    let pki = Pki::new("localhost");
    let addr = "127.0.0.1:9".parse().unwrap();
    let config = pki.write("gateway.toml", &simple_config(&pki, addr, INVENTORY_ROUTE));
    let config = config.display().to_string();
    let out = portcullis(args(["export", "--config", &config, "--api", "nope"]));
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr
            .contains("no API `nope` in the configuration (it has: inv)"),
        "{out:#?}"
    );
    let out = portcullis(args([
        "export", "--config", &config, "--api", "inv", "--stage", "dev",
    ]));
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr
            .contains("API `inv` has no stage `dev` (it has: prod)"),
        "{out:#?}"
    );
}
