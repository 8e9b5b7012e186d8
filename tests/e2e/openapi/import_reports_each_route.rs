//! `portcullis import FILE`: route by route servable / unsupported / error, one summary line,
//! `--json`, `--emit-toml` (which serves the same routes), exit 0 / 1 / 2, and a one-line
//! diagnosis for files that are not an API Gateway REST export.

use std::ffi::OsString;
use std::path::Path;

use super::{fixture, ledger_config};
use crate::support::*;

fn import(file: &Path, extra: &[&str]) -> Out {
    let mut a: Vec<OsString> = args(["import"]);
    a.push(file.into());
    a.extend(args(extra.iter().copied()));
    portcullis(a)
}

fn with_config(pki: &Pki, definition: &Path) -> String {
    let addr: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
    pki.write(
        "gateway.toml",
        &ledger_config(pki, definition, addr, addr, ""),
    )
    .display()
    .to_string()
}

#[test]
fn text_report_classifies_every_route_and_exits_1() {
    let out = import(&fixture("ledger.oas30.yaml"), &[]);
    assert_eq!(out.code, Some(1), "{out:#?}");
    let text = &out.stdout;
    assert!(text.contains("OpenAPI 3.0.1 (YAML)"), "{text}");
    for line in [
        "servable     GET /accounts",
        "servable     ANY /files/{proxy+} (ANY = DELETE GET HEAD PATCH POST PUT)",
        "  upstream   ANY (the client's method) http://${stageVariables.backend}/store/{proxy}",
        "  mapping    integration.request.path.id <- method.request.path.id",
        "  timeout    5000 ms",
        "  vpc link   ${stageVariables.vpcLinkId}",
        "servable     GET /health\n  mock       200",
        "unsupported  GET /reports: Lambda proxy integration: invokes Lambda function `ledger-reports`",
        "servable     GET /admin",
        "  note       API key required: checked against the keys of the [usage_plan.*] tables covering the stage",
        "servable     GET /audit\n  closed     401 Unauthorized",
        "Lambda authorizer `ledger_auth` (token, Lambda `ledger-auth`) check",
        "servable     GET /signed\n  closed     403 Missing Authentication Token",
        "unsupported  GET /legacy: mapping templates",
        "servable     GET /renamed/{accountId}",
        "  mapping    integration.request.path.id <- method.request.path.accountId",
        "api          binary media types (application/pdf)",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert_eq!(
        text.lines().last(),
        Some("14 routes: 12 servable, 2 unsupported, 0 errors"),
        "{text}"
    );
    // Swagger 2.0 and JSON say the same, route for route.
    for other in [
        "ledger.oas30.json",
        "ledger.swagger.yaml",
        "ledger.swagger.json",
    ] {
        let o = import(&fixture(other), &[]);
        assert_eq!(o.code, Some(1), "{o:#?}");
        assert_eq!(
            o.stdout.lines().last(),
            text.lines().last(),
            "{other}:\n{}",
            o.stdout
        );
    }
}

#[test]
fn a_stage_resolves_urls_and_checks_its_variables() {
    let pki = Pki::new("localhost");
    let config = with_config(&pki, &fixture("ledger.oas30.yaml"));
    let out = import(
        &fixture("ledger.oas30.yaml"),
        &["--config", &config, "--stage", "prod"],
    );
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(out.stdout.contains(", stage prod"), "{}", out.stdout);
    for line in [
        "  stage prod: http://ledger/ledger/accounts",
        "  stage prod: http://internal/v1/{proxy}",
        "  stage prod: http://127.0.0.1:9/direct/path?fixed=1",
    ] {
        assert!(
            out.stdout.contains(line),
            "missing {line:?}:\n{}",
            out.stdout
        );
    }
    let out = import(
        &fixture("ledger.oas30.yaml"),
        &["--config", &config, "--stage", "prd"],
    );
    assert_eq!(out.code, Some(2), "{out:#?}");
    assert!(
        out.stderr.contains("has no stage `prd` (it has: prod)"),
        "{out:#?}"
    );
    let out = import(&fixture("ledger.oas30.yaml"), &["--stage", "prod"]);
    assert_eq!(out.code, Some(2), "--stage needs --config: {out:#?}");
}

#[test]
fn errors_name_the_json_pointer() {
    let pki = Pki::new("localhost");
    let file = fixture("errors.swagger.json");
    let config = with_config(&pki, &file);
    let out = import(&file, &["--config", &config]);
    assert_eq!(out.code, Some(1), "{out:#?}");
    let shown = file.display().to_string();
    for (route, at, reason) in [
        (
            "GET /fast",
            "/paths/~1fast/get/x-amazon-apigateway-integration/timeoutInMillis",
            "20 ms is below API Gateway's 50 ms floor",
        ),
        (
            "POST /soap",
            "/paths/~1soap/post/x-amazon-apigateway-integration/type",
            "`soap` is not http_proxy, http, mock, aws or aws_proxy",
        ),
        (
            "GET /bare",
            "/paths/~1bare/get/x-amazon-apigateway-integration",
            "missing",
        ),
        (
            "GET /typo",
            "/paths/~1typo/get/x-amazon-apigateway-integration/uri",
            "stage variable `backnd` is not defined (closest: `backend`) (stage `prod`)",
        ),
        (
            "GET /locked",
            "/paths/~1locked/get/security/0/sigv4",
            "security scheme `sigv4` is not defined",
        ),
    ] {
        let line = format!("error        {route}: {shown}#{at}: {reason}");
        assert!(
            out.stdout.contains(&line),
            "missing {line:?}:\n{}",
            out.stdout
        );
    }
    assert!(
        out.stdout
            .ends_with("5 routes: 0 servable, 0 unsupported, 5 errors\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn json_report_parses_and_agrees_with_the_text() {
    let out = import(&fixture("ledger.swagger.json"), &["--json"]);
    assert_eq!(out.code, Some(1), "{out:#?}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["definition"], "Swagger 2.0 (JSON)");
    assert_eq!(
        v["summary"],
        serde_json::json!({"routes": 14, "servable": 12, "unsupported": 2, "errors": 0})
    );
    let routes = v["routes"].as_array().unwrap();
    let by = |name: &str| {
        routes
            .iter()
            .find(|r| r["route"] == name)
            .unwrap_or_else(|| panic!("no {name} in {routes:#?}"))
            .clone()
    };
    let files = by("ANY /files/{proxy+}");
    assert_eq!(files["status"], "servable");
    assert_eq!(
        files["methods"],
        serde_json::json!(["DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"])
    );
    assert_eq!(files["upstream"]["method"], serde_json::Value::Null);
    assert_eq!(
        files["pointer"],
        "/paths/~1files~1{proxy+}/x-amazon-apigateway-any-method"
    );
    let internal = by("ANY /internal/{proxy+}");
    assert_eq!(
        internal["upstream"]["vpc_link"],
        "${stageVariables.vpcLinkId}"
    );
    let admin = by("GET /admin");
    // An API key alone is what usage plans check: served with `api_key_required`.
    assert_eq!(admin["status"], "servable");
    assert_eq!(admin["authorization"], "API key (`x-api-key`)");
    assert_eq!(admin["api_key_required"], true);
    assert_eq!(admin["closed"], serde_json::Value::Null);
    assert_eq!(by("GET /audit")["closed"], "authorizer");
    assert_eq!(by("GET /signed")["closed"], "iam");
}

#[test]
fn all_servable_exits_0() {
    let out = import(&fixture("servable.oas30.yaml"), &[]);
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert!(
        out.stdout
            .ends_with("2 routes: 2 servable, 0 unsupported, 0 errors\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn files_that_are_not_rest_exports_get_one_line_and_exit_2() {
    for (name, expect) in [
        ("malformed.yaml", ":8:3: "),
        ("malformed.yaml", "while parsing a flow mapping at line 7"),
        ("malformed.yaml", "malformed YAML"),
        ("malformed.json", ":5:"),
        ("malformed.json", "malformed JSON"),
        ("http-api.oas30.yaml", "an HTTP API (API Gateway v2) export"),
        ("cloudformation.yaml", "a CloudFormation template"),
        ("cloudformation.yaml", "`Body`"),
        ("openapi31.json", "OpenAPI 3.1.0"),
        ("does-not-exist.yaml", "cannot read the API definition"),
    ] {
        let file = fixture(name);
        let out = import(&file, &[]);
        assert_eq!(out.code, Some(2), "{name}: {out:#?}");
        assert!(out.stdout.is_empty(), "{name}: {out:#?}");
        assert_eq!(out.stderr.lines().count(), 1, "{name}: {out:#?}");
        assert!(
            out.stderr
                .starts_with(&format!("error: {}", file.display())),
            "{name}: {out:#?}"
        );
        assert!(out.stderr.contains(expect), "{name}: {expect}: {out:#?}");
    }
}

#[tokio::test]
async fn emitted_toml_serves_the_same_routes() {
    let pki = Pki::new("localhost");
    let ledger = Upstream::start_named("ledger").await;
    let internal = Upstream::start_named("internal").await;
    let definition = fixture("ledger.oas30.yaml");
    let imported = ledger_config(&pki, &definition, ledger.addr, internal.addr, "");
    let config = pki.write("gateway.toml", &imported);
    let out = import(
        &definition,
        &["--config", &config.display().to_string(), "--emit-toml"],
    );
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert_eq!(
        out.stderr,
        "14 routes: 12 servable, 2 unsupported, 0 errors\n"
    );
    let toml = &out.stdout;
    assert!(
        toml.contains("path = \"/admin\"\nintegration = \"http://${stageVariables.backend}/ledger/admin\"\nupstream_method = \"GET\"\napi_key_required = true"),
        "{toml}"
    );
    assert!(toml.contains("[[api.ledger.routes]]"), "{toml}");
    assert!(
        toml.contains("path = \"/health\"\nmock = { status = 200 }"),
        "{toml}"
    );
    assert!(
        toml.contains(
            "# not emitted: ANY /internal/{proxy+}: its VPC link's pool depends on the stage"
        ),
        "{toml}"
    );
    let hand = imported
        .lines()
        .filter(|l| !l.starts_with("openapi = "))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
        + toml;
    let a = Gateway::start(&imported).await;
    let b = Gateway::start(&hand).await;
    for (method, path) in [
        ("GET", "/accounts?limit=5"),
        ("POST", "/accounts"),
        ("GET", "/accounts/42"),
        ("DELETE", "/files/a/b"),
        ("HEAD", "/files/a"),
        ("OPTIONS", "/files/a"),
        ("TRACE", "/files/a"),
        ("GET", "/direct?q=1"),
        ("GET", "/health"),
        ("GET", "/admin"),
        ("GET", "/audit"),
        ("GET", "/signed"),
    ] {
        let mut got = Vec::new();
        for gw in [&a, &b] {
            let r = send(gw, &pki, method, path).await;
            got.push((r.status, r.body));
        }
        assert_eq!(got[0], got[1], "{method} {path}");
    }
}
