//! A CRL of the root that revokes the issuing intermediate makes `portcullis explain` reject the
//! intermediate's clients, even when the truststore holds the intermediate as well as the root
//! (truststore intermediates are chain links, not trust anchors).

use crate::support::*;

use rcgen::SerialNumber;

#[test]
fn clients_of_a_revoked_intermediate_are_rejected() {
    let pki = Pki::new("localhost");
    let intermediate_serial = cert_info(&pki.intermediate.der).serial;
    let crl = pki.write(
        "root.crl.pem",
        &pki.root
            .crl(&[SerialNumber::from_slice(&intermediate_serial)]),
    );
    let entry = crl_info(&crl).revoked.remove(0);
    let trust = cert_infos(&pki.path("truststore.pem"));
    assert_eq!(trust.len(), 2, "the truststore holds intermediate + root");
    let revoked_config = explain_config(
        &pki,
        "revoked.toml",
        &pki.path("truststore.pem"),
        std::slice::from_ref(&crl),
    );
    let plain_config = explain_config(&pki, "plain.toml", &pki.path("truststore.pem"), &[]);
    let leaf_only = pki.write("leaf.pem", &leaf_pem(&pki.client, &pki.intermediate));

    for (what, file) in [
        ("leaf and intermediate", pki.path("client.pem")),
        ("leaf only", leaf_only),
    ] {
        // Without the root's CRL the client is fine...
        assert_accepted(
            &explain(&plain_config, "localhost", &file, &[]),
            "localhost",
        );
        // ...with it, refused because of the intermediate.
        let out = explain(&revoked_config, "localhost", &file, &[]);
        let reason = assert_rejected(&out, "localhost");
        assert!(
            reason.starts_with(&format!("revoked on {}", rfc3339(entry.at))),
            "{what}: {reason}"
        );
        assert!(
            reason.contains("intermediate 'CN=localhost Issuing CA'"),
            "{what}: the revoked intermediate must be named: {reason}"
        );
        assert!(
            reason.ends_with("(CRL of 'CN=localhost Root CA', reason keyCompromise)"),
            "{what}: {reason}"
        );
    }
}
