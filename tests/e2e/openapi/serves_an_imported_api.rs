//! An API Gateway export served through the gateway: OpenAPI 3.0 and Swagger 2.0, JSON and
//! YAML, serve the same routes; `ANY` stands for the methods the resource does not declare;
//! a VPC link reaches the pool `vpc_links` maps it to; routes that are not served answer 403
//! and never reach an upstream.

use super::{fixture, ledger_config};
use crate::support::*;

fn last(up: &Upstream) -> (String, String, String) {
    let s = up.seen().last().cloned().expect("the upstream saw nothing");
    let host = s
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (s.method.to_string(), s.path_and_query, host)
}

#[tokio::test]
async fn every_export_format_serves_the_same_routes() {
    for name in [
        "ledger.oas30.yaml",
        "ledger.oas30.json",
        "ledger.swagger.yaml",
        "ledger.swagger.json",
    ] {
        let pki = Pki::new("localhost");
        let ledger = Upstream::start_named("ledger").await;
        let internal = Upstream::start_named("internal").await;
        let gw = Gateway::start(&ledger_config(
            &pki,
            &fixture(name),
            ledger.addr,
            internal.addr,
            "",
        ))
        .await;
        let host = ledger.addr.to_string();

        // Plain proxying: method, path and query as the client sent them.
        let got = send(&gw, &pki, "GET", "/accounts?limit=5&from=a").await;
        assert_eq!(got.status, 200, "{name}: {got:?}");
        assert_eq!(got.body, "ledger:/ledger/accounts?limit=5&from=a", "{name}");
        assert_eq!(
            last(&ledger),
            (
                "GET".into(),
                "/ledger/accounts?limit=5&from=a".into(),
                host.clone()
            ),
            "{name}"
        );
        let got = send(&gw, &pki, "POST", "/accounts").await;
        assert_eq!(got.status, 200, "{name}: {got:?}");
        assert_eq!(last(&ledger).0, "POST", "{name}");
        let got = send(&gw, &pki, "GET", "/accounts/42").await;
        assert_eq!(got.body, "ledger:/ledger/accounts/42", "{name}");

        // ANY on /files/{proxy+}: every method but the OPTIONS the resource declares itself
        // (a mock: the gateway answers, and the upstream never hears of it).
        for method in ["DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"] {
            let got = send(&gw, &pki, method, "/files/a/b.txt").await;
            assert_eq!(got.status, 200, "{name}: {method}: {got:?}");
            assert_eq!(
                last(&ledger),
                (method.into(), "/store/a/b.txt".into(), host.clone()),
                "{name}"
            );
        }
        // A renamed path parameter (requestParameters) is served, as AWS serves it.
        let got = send(&gw, &pki, "GET", "/renamed/7").await;
        assert_eq!(got.body, "ledger:/ledger/accounts/7", "{name}");
        let before = ledger.seen().len();
        let got = send(&gw, &pki, "OPTIONS", "/files/a").await;
        assert_eq!(got.status, 200, "{name}: {got:?}");
        let got = send(&gw, &pki, "GET", "/health").await;
        assert_eq!(
            (got.status.as_u16(), got.body.as_str()),
            (200, ""),
            "{name}"
        );
        let got = send(&gw, &pki, "TRACE", "/files/a").await;
        assert_eq!(got.status, 403, "{name}: ANY is not every method: {got:?}");

        // Routes not served: Lambda, templates.
        for path in ["/reports", "/legacy"] {
            let got = send(&gw, &pki, "GET", path).await;
            assert_eq!(got.status, 403, "{name}: {path}: {got:?}");
            assert_eq!(got.body, gateway_body("Missing Authentication Token"));
        }
        // Routes AWS serves only after a check Portcullis cannot make are served closed, with
        // the answer AWS gives a request without the credential.
        for (path, status, message, kind) in [
            ("/audit", 401, "Unauthorized", "UnauthorizedException"),
            (
                "/signed",
                403,
                "Missing Authentication Token",
                "MissingAuthenticationTokenException",
            ),
            // The API key route is served with the key required: no usage plan, no key.
            ("/admin", 403, "Forbidden", "ForbiddenException"),
        ] {
            let got = send(&gw, &pki, "GET", path).await;
            assert_eq!(got.status, status, "{name}: {path}: {got:?}");
            assert_eq!(got.body, gateway_body(message), "{name}: {path}");
            let errortype = got
                .headers
                .get("x-amzn-errortype")
                .map(|v| v.to_str().unwrap());
            assert_eq!(errortype, Some(kind), "{name}: {path}");
        }
        assert_eq!(
            ledger.seen().len(),
            before,
            "{name}: unserved routes leaked"
        );

        // The VPC link goes to the pool `vpc_links` maps it to; ANY includes OPTIONS there.
        let got = send(&gw, &pki, "OPTIONS", "/internal/x/y?z=1").await;
        assert_eq!(got.status, 200, "{name}: {got:?}");
        assert_eq!(got.body, "internal:/v1/x/y?z=1", "{name}");
        let (method, _, vpc_host) = last(&internal);
        assert_eq!(method, "OPTIONS", "{name}");
        // Through a VPC link the upstream gets the uri's host, as API Gateway sends it.
        assert_eq!(vpc_host, "internal.ledger.example:8080", "{name}");

        // A host named by a stage variable is dialled; the integration's query comes first.
        let got = send(&gw, &pki, "GET", "/direct?q=1").await;
        assert_eq!(got.status, 200, "{name}: {got:?}");
        assert_eq!(
            last(&ledger),
            (
                "GET".into(),
                "/direct/path?fixed=1&q=1".into(),
                host.clone()
            ),
            "{name}"
        );
    }
}

#[test]
fn unserved_routes_are_warnings_at_load_never_silent() {
    let pki = Pki::new("localhost");
    let addr: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
    let config = pki.write(
        "gateway.toml",
        &ledger_config(&pki, &fixture("ledger.oas30.yaml"), addr, addr, ""),
    );
    let (snapshot, warnings) = portcullis::state::load(&config, 1).unwrap();
    let routes = &snapshot.config.apis["ledger"].routes;
    // GET, POST /accounts, GET /accounts/{id}, 6 of ANY /files, 7 of ANY /internal, GET /direct,
    // GET /renamed/{accountId}, GET /admin (API key required), the mocks GET /health and
    // OPTIONS /files/{proxy+}, and the closed GET /audit and GET /signed.
    assert_eq!(routes.len(), 23, "{routes:#?}");
    assert!(
        routes
            .iter()
            .any(|r| r.path.raw == "/admin" && r.api_key_required),
        "{routes:#?}"
    );
    for (route, feature) in [
        (
            "GET /reports",
            "Lambda proxy integration: invokes Lambda function `ledger-reports`",
        ),
        ("GET /legacy", "mapping templates"),
    ] {
        assert!(
            warnings
                .iter()
                .any(|w| w.contains(&format!("{route} is not served: {feature}"))),
            "no warning for {route}: {warnings:#?}"
        );
    }
    assert!(
        warnings.iter().any(|w| w.contains("binary media types")),
        "{warnings:#?}"
    );
    // `check` prints them too.
    let out = portcullis(args([
        "check".into(),
        "--config".into(),
        config.into_os_string(),
    ]));
    assert!(out.ok(), "{out:#?}");
    assert!(
        out.stderr.contains("warning: ") && out.stderr.contains("GET /reports is not served"),
        "{out:#?}"
    );
}
