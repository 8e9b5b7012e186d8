//! Within a rule set, several values of one field are alternatives, several fields of one rule
//! must all match, and an explicit deny beats any allow (AWS's "explicit deny" message).

use super::{client, status_as};
use crate::support::*;

use rcgen::SerialNumber;

#[tokio::test]
async fn values_are_alternatives_fields_all_match_and_deny_wins() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let a = client(&pki, "a");
    let mut leaf = Leaf::client("b");
    leaf.serial = Some(SerialNumber::from(0xdead_u64));
    let b_denied = issue(&pki.intermediate, leaf);
    let mut leaf = Leaf::client("c");
    leaf.org_unit = vec!["ops".into()];
    let c_ops = issue(&pki.intermediate, leaf);
    let c_plain = client(&pki, "c");
    let d = client(&pki, "d");
    let rules = r#"
[authorization.partners]
allow = [ { subject_cn = ["a", "b"] }, { subject_cn = ["c"], subject_ou = ["ops"] } ]
deny  = [ { serial = ["dead"] } ]
"#;
    let config = Config::new(&pki, &[up.addr])
        .top(rules)
        .domain("authorization = \"partners\"")
        .build();
    let gw = Gateway::start(&config).await;
    for (who, issued, want) in [
        ("a: one of the values", &a, 200),
        ("b: allowed, but denied by serial", &b_denied, 403),
        ("c with OU ops: every field", &c_ops, 200),
        ("c without OU: not every field", &c_plain, 403),
        ("d: no rule", &d, 403),
    ] {
        assert_eq!(
            status_as(gw.addr(), &pki, issued, "/inventory").await,
            want,
            "{who}"
        );
    }
    let denied = get_as_client(&gw, &pki, &b_denied).await;
    assert_eq!(
        denied.body,
        gateway_body("User is not authorized to access this resource with an explicit deny")
    );
    let not_allowed = get_as_client(&gw, &pki, &d).await;
    assert_eq!(
        not_allowed.body,
        gateway_body("User is not authorized to access this resource")
    );
    assert_eq!(
        up.seen().len(),
        2,
        "only a and c-with-ops reach the upstream"
    );
}

async fn get_as_client(gw: &Gateway, pki: &Pki, who: &Issued) -> Got {
    request(
        gw.addr(),
        "localhost",
        &pki.root.pem,
        Some(who),
        get_req("/inventory"),
    )
    .await
    .unwrap()
}
