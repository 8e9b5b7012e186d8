//! A broken rule set or reference is refused with every problem named by its key: an unknown
//! rule set named by a domain, stage or route, bad hex, a bad URI glob, an empty rule, an
//! unknown rule field.

use crate::support::*;

#[tokio::test]
async fn every_authorization_problem_names_its_key() {
    let pki = Pki::new("localhost");
    let rules = r#"
[authorization.partners]
allow = [ { issuer_sha256 = ["abc"] }, { uri_san = ["spiffe://corp/inv*"] }, { subject_cn = ["x"], subject_c = ["US"] } ]
deny = [ { serial = ["xyz"] }, { issuer_dn = ["Issuing CA"] } ]
[authorization.empty]
allow = [ {} ]
"#;
    let routes = format!(
        "[api.inv.stages.dev]\nvariables = {{ backend = \"onprem\" }}\nauthorization = \"nope\"\n\n{INVENTORY_ROUTE}authorization = \"partner\"\n"
    );
    let config = Config::new(&pki, &["127.0.0.1:9".parse().unwrap()])
        .top(rules)
        .domain("authorization = \"partnrs\"")
        .routes(&routes)
        .build();
    let err = Gateway::try_start(&config)
        .await
        .err()
        .expect("a broken authorization config was accepted");
    for (key, reason) in [
        (
            "domain[0].authorization",
            "no [authorization.partnrs] is defined (rule sets: empty, partners); did you mean `partners`?",
        ),
        (
            "api.inv.stages.dev.authorization",
            "no [authorization.nope] is defined",
        ),
        (
            "api.inv.routes[0].authorization",
            "did you mean `partners`?",
        ),
        (
            "authorization.partners.allow[0].issuer_sha256[0]",
            "`abc` is not a SHA-256 digest",
        ),
        (
            "authorization.partners.allow[1].uri_san[0]",
            "may only stand for whole path segments",
        ),
        (
            "authorization.partners.allow[2].subject_c",
            "unknown field `subject_c`",
        ),
        (
            "authorization.partners.deny[0].serial[0]",
            "`xyz` is not a serial number in hex",
        ),
        (
            "authorization.partners.deny[1].issuer_dn[0]",
            "`Issuing CA` is not a distinguished name",
        ),
        (
            "authorization.empty.allow[0]",
            "a rule needs at least one field: subject_cn,",
        ),
    ] {
        assert!(
            err.lines().any(|l| l.contains(key) && l.contains(reason)),
            "no `{key}`: `{reason}` in:\n{err}"
        );
    }
}
