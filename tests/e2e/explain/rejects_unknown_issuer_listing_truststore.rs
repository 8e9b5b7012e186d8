//! `portcullis explain` rejects a client certificate from a CA the domain does not trust, naming
//! the unknown issuer and listing what the truststore holds.

use crate::support::*;

#[test]
fn a_stranger_is_rejected_with_the_truststore_contents() {
    let pki = Pki::new("localhost");
    let other = Pki::new("elsewhere");
    let stranger = issue(&other.intermediate, Leaf::client("stranger-client"));
    let with_chain = pki.write("stranger.pem", &stranger.chain_pem);
    let leaf_only = pki.write(
        "stranger-leaf.pem",
        &leaf_pem(&stranger, &other.intermediate),
    );
    let config = explain_config(&pki, "gateway.toml", &pki.path("truststore.pem"), &[]);
    let held = "the truststore holds: ";

    for (what, file, unknown) in [
        ("leaf and chain", &with_chain, "CN=elsewhere Root CA"),
        ("leaf only", &leaf_only, "CN=elsewhere Issuing CA"),
    ] {
        let out = explain(&config, "localhost", file, &[]);
        let reason = assert_rejected(&out, "localhost");
        assert!(
            reason.contains(&format!("issuer '{unknown}'")),
            "{what}: the unknown issuer must be named: {reason}"
        );
        assert!(
            reason.contains(&format!("is not in the truststore; {held}")),
            "{what}: {reason}"
        );
        let list = &reason[reason.find(held).unwrap() + held.len()..];
        for trusted in ["'CN=localhost Issuing CA'", "'CN=localhost Root CA'"] {
            assert!(
                list.contains(trusted),
                "{what}: the truststore list must name {trusted}: {reason}"
            );
        }
        assert!(
            out.stdout.contains("subject: CN=stranger-client"),
            "{what}: {out:#?}"
        );
    }
}
