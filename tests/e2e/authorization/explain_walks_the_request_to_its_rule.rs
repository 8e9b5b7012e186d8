//! `explain --request "GET /path"` walks on past the handshake: the mapping, the route, the
//! rule set and where it was named, and the rule that allows or refuses, in the access log's
//! words; exit 0 only when the request would reach its integration.

use crate::support::*;

#[tokio::test]
async fn explain_names_mapping_route_and_deciding_rule() {
    let pki = Pki::new("localhost");
    let rules = r#"
[authorization.partners]
allow = [ { subject_cn = ["someone-else"] } ]
[authorization.everyone]
deny = [ { subject_cn = ["nobody"] } ]
"#;
    let routes = format!(
        "{INVENTORY_ROUTE}{}authorization = \"everyone\"\n",
        route("GET", "/open", "http://${stageVariables.backend}/open")
    );
    let config = pki.write(
        "gateway.toml",
        &Config::new(&pki, &["127.0.0.1:9".parse().unwrap()])
            .top(rules)
            .domain("authorization = \"partners\"")
            .routes(&routes)
            .build(),
    );
    let client = pki.path("client.pem");

    let refused = explain(
        &config,
        "localhost",
        &client,
        &["--request", "GET /inventory"],
    );
    assert_eq!(refused.code, Some(1), "{refused:#?}");
    assert!(
        refused.stdout.starts_with("ACCEPTED by domain localhost "),
        "{refused:#?}"
    );
    for line in [
        "request GET /inventory: REFUSED",
        "  mapping: api inv, stage prod",
        "  route:   GET /inventory",
        "  rule set: partners (named by the domain)",
        "  rule:    partners.allow",
    ] {
        assert!(refused.stdout.contains(line), "no `{line}`: {refused:#?}");
    }
    // The same words the access log's `authz_reason` carries.
    assert_eq!(
        text_reason(&refused).as_deref(),
        Some("no rule of partners.allow matches the client")
    );

    let allowed = explain(&config, "localhost", &client, &["--request", "GET /open"]);
    assert_eq!(allowed.code, Some(0), "{allowed:#?}");
    assert!(
        allowed.stdout.contains("request GET /open: ALLOWED"),
        "{allowed:#?}"
    );
    assert!(
        allowed
            .stdout
            .contains("rule set: everyone (named by the route)"),
        "{allowed:#?}"
    );
    assert_eq!(
        text_reason(&allowed).as_deref(),
        Some("no rule of everyone.deny matches the client")
    );

    let (code, json) = explain_json(&config, "localhost", &client, &["--request", "GET /nope"]);
    assert_eq!(code, Some(1));
    assert_eq!(json["request"]["verdict"], "NO_ROUTE", "{json}");
    assert_eq!(json["request"]["api"], "inv", "{json}");

    let bad = explain(&config, "localhost", &client, &["--request", "inventory"]);
    assert_eq!(bad.code, Some(2), "{bad:#?}");
    assert!(bad.stderr.contains("--request `inventory`"), "{bad:#?}");
}
