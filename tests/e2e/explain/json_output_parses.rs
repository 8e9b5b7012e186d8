//! `portcullis explain --json` prints one JSON object: `result`, `domain`, `checked_at`,
//! `subject`, and `identity` when accepted or `reason` when rejected; the exit code is the same
//! as without `--json`.

use crate::support::*;

#[test]
fn accepted_and_rejected_verdicts_are_json() {
    let pki = Pki::new("localhost");
    let mut leaf = Leaf::client("inventory-client");
    leaf.uris = vec!["spiffe://corp/inventory".into()];
    let good = issue(&pki.intermediate, leaf);
    let good_pem = pki.write("good.pem", &good.chain_pem);
    let now = time::OffsetDateTime::now_utc();
    let mut leaf = Leaf::client("expired-client");
    leaf.not_before = now - time::Duration::hours(20);
    leaf.not_after = now - time::Duration::hours(2);
    let expired = issue(&pki.intermediate, leaf);
    let expired_pem = pki.write("expired.pem", &expired.chain_pem);
    let config = explain_config(&pki, "gateway.toml", &pki.path("truststore.pem"), &[]);

    let (code, v) = explain_json(&config, "localhost", &good_pem, &[]);
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["result"], "ACCEPTED", "{v:#}");
    assert_eq!(v["domain"], "localhost", "{v:#}");
    assert_eq!(v["subject"], "CN=inventory-client", "{v:#}");
    assert!(v["reason"].is_null(), "{v:#}");
    parse_rfc3339(v["checked_at"].as_str().expect("checked_at"));
    let id = &v["identity"];
    let info = cert_info(&good.der);
    assert_eq!(id["subject"], "CN=inventory-client", "{v:#}");
    assert_eq!(id["serial"], hex(&info.serial), "{v:#}");
    assert_eq!(
        id["uris"],
        serde_json::json!(["spiffe://corp/inventory"]),
        "{v:#}"
    );
    let sha = hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &good.der).as_ref());
    assert_eq!(id["sha256"], sha.as_str(), "{v:#}");
    assert_eq!(
        id["x_forwarded_client_cert"],
        format!("Hash={sha};Subject=\"CN=inventory-client\";URI=spiffe://corp/inventory").as_str(),
        "{v:#}"
    );

    let (code, v) = explain_json(&config, "localhost", &expired_pem, &[]);
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["result"], "REJECTED", "{v:#}");
    assert_eq!(v["subject"], "CN=expired-client", "{v:#}");
    assert!(v["identity"].is_null(), "{v:#}");
    let checked = v["checked_at"].as_str().expect("checked_at");
    assert_eq!(
        v["reason"],
        format!(
            "certificate expired on {} (checked at {checked})",
            rfc3339(cert_info(&expired.der).not_after)
        )
        .as_str(),
        "{v:#}"
    );
}
