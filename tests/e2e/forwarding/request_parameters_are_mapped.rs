//! API Gateway's request parameter mappings on a route (`request_parameters`, and
//! `upstream_method` for `httpMethod`): path, query and header values for the upstream taken
//! from the client's request, stage variables, `$context` (the client certificate included) and
//! literals; the gateway's own forwarding headers still win; bad mappings are refused at load.

use crate::support::*;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;

const MAPPED: &str = r#"[[api.inv.routes]]
method = "POST"
path = "/orders/{id}"
integration = "http://${stageVariables.backend}/svc/{order}"
upstream_method = "PUT"
request_parameters = { "integration.request.path.order" = "method.request.path.id", "integration.request.header.x-user-dn" = "context.identity.clientCert.subjectDN", "integration.request.header.x-issuer-dn" = "context.identity.clientCert.issuerDN", "integration.request.header.x-stage" = "context.stage", "integration.request.header.x-req" = "context.requestId", "integration.request.header.x-resource" = "context.resourcePath", "integration.request.querystring.version" = "stageVariables.ver", "integration.request.querystring.tag" = "method.request.multivalueheader.x-tag", "integration.request.header.x-static" = "'fixed value'", "integration.request.header.x-from-query" = "method.request.querystring.q", "integration.request.header.x-forwarded-for" = "'spoofed'", "integration.request.header.x-pem" = "context.identity.clientCert.clientCertPem" }
"#;

fn config(pki: &Pki, up: std::net::SocketAddr, routes: &str) -> String {
    simple_config(pki, up, routes).replace(
        "variables = { backend = \"onprem\" }",
        "variables = { backend = \"onprem\", ver = \"2\" }",
    )
}

#[tokio::test]
async fn mapped_values_reach_the_upstream_where_the_mappings_say() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&config(&pki, up.addr, MAPPED)).await;
    let req = Request::post("/orders/o-7?q=hello%20there")
        .header("host", "localhost")
        .header("x-tag", "a")
        .header("x-tag", "b")
        .body(Full::new(Bytes::from_static(b"{}")))
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
    assert_eq!(got.status, 200, "{got:?}");
    let seen = up.seen();
    let s = &seen[0];
    assert_eq!(s.method, "PUT", "upstream_method replaces the client's");
    // Mapped pairs follow the client's query, in the order of their target names.
    assert_eq!(
        s.path_and_query,
        "/svc/o-7?q=hello%20there&tag=a&tag=b&version=2"
    );
    let h = |n: &str| s.headers.get(n).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(h("x-user-dn").as_deref(), Some("CN=localhost-client"));
    assert!(
        h("x-issuer-dn").unwrap().contains("CN="),
        "{:?}",
        h("x-issuer-dn")
    );
    assert_eq!(h("x-stage").as_deref(), Some("prod"));
    assert_eq!(h("x-resource").as_deref(), Some("/orders/{id}"));
    assert_eq!(h("x-static").as_deref(), Some("fixed value"));
    assert_eq!(h("x-from-query").as_deref(), Some("hello there"));
    // The request id is the one the client gets back.
    assert_eq!(
        h("x-req").as_deref(),
        got.headers["x-amzn-requestid"].to_str().ok()
    );
    // The leaf as one line of PEM (a header cannot carry line breaks).
    let pem = h("x-pem").unwrap();
    assert!(
        pem.starts_with("-----BEGIN CERTIFICATE----- ")
            && pem.ends_with("-----END CERTIFICATE-----"),
        "{pem}"
    );
    // The gateway's own forwarding headers win over a mapping.
    assert_eq!(h("x-forwarded-for").as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn bad_mappings_are_refused_at_load_naming_the_key() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    for (mapping, says) in [
        (
            r#""integration.request.header.x" = "context.authorizer.principalId""#,
            "context variable not supported",
        ),
        (
            r#""integration.request.path.p" = "method.request.path.nope""#,
            "not a parameter of the route path",
        ),
        (
            r#""integration.request.header.x" = "stageVariables.missing""#,
            "stage variable `missing` is not defined",
        ),
        (
            r#""integration.request.body.x" = "'a'""#,
            "the target must be",
        ),
    ] {
        let routes = format!(
            "[[api.inv.routes]]\nmethod = \"GET\"\npath = \"/a/{{id}}\"\nintegration = \"http://onprem/a\"\nrequest_parameters = {{ {mapping} }}\n"
        );
        let err = Gateway::try_start(&config(&pki, up.addr, &routes))
            .await
            .err()
            .unwrap_or_else(|| panic!("accepted {mapping}"));
        assert!(
            err.contains("api.inv.routes[0].request_parameters") && err.contains(says),
            "{mapping}: {err}"
        );
    }
    // An integration placeholder that nothing fills is a route error.
    let routes = "[[api.inv.routes]]\nmethod = \"GET\"\npath = \"/a\"\nintegration = \"http://onprem/a/{x}\"\n";
    let err = Gateway::try_start(&config(&pki, up.addr, routes))
        .await
        .err()
        .expect("an unmapped placeholder was accepted");
    assert!(
        err.contains("api.inv.routes[0].integration") && err.contains("{x}"),
        "{err}"
    );
}
