//! `explain --request ... --source-ip IP` judges `source_ip` rules for that address; without
//! it the address is unknown, and explain says so: a `source_ip` allow rule lets nothing in.

use crate::support::*;

#[tokio::test]
async fn explain_judges_source_ip_for_the_address_given_and_notes_an_unknown_one() {
    let pki = Pki::new("localhost");
    let config = pki.write(
        "gateway.toml",
        &Config::new(&pki, &["127.0.0.1:9".parse().unwrap()])
            .top("[authorization.office]\nallow = [ { source_ip = [\"203.0.113.0/24\"] } ]")
            .domain("authorization = \"office\"")
            .build(),
    );
    let client = pki.path("client.pem");
    let request = ["--request", "GET /inventory"];
    let from = |ip: &str| {
        explain(
            &config,
            "localhost",
            &client,
            &[&request[..], &["--source-ip", ip]].concat(),
        )
    };

    let inside = from("203.0.113.9");
    assert_eq!(inside.code, Some(0), "{inside:#?}");
    for line in [
        "request GET /inventory: ALLOWED",
        "  rule:    office.allow[0]",
        "  source:  203.0.113.9",
    ] {
        assert!(inside.stdout.contains(line), "no `{line}`: {inside:#?}");
    }
    assert!(!inside.stdout.contains("note:"), "{inside:#?}");

    let outside = from("198.51.100.7");
    assert_eq!(outside.code, Some(1), "{outside:#?}");
    assert_eq!(
        text_reason(&outside).as_deref(),
        Some("no rule of office.allow matches the client")
    );

    let unknown = explain(&config, "localhost", &client, &request);
    assert_eq!(unknown.code, Some(1), "{unknown:#?}");
    assert!(
        unknown
            .stdout
            .contains("  note:    the client's address is unknown (give --source-ip)"),
        "{unknown:#?}"
    );

    let (code, json) = explain_json(
        &config,
        "localhost",
        &client,
        &[&request[..], &["--source-ip", "203.0.113.9"]].concat(),
    );
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["request"]["source_ip"], "203.0.113.9", "{json}");
}
