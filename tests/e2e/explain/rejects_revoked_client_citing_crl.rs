//! `portcullis explain` rejects a revoked client certificate with `revoked on <time> (CRL of
//! '<issuer>', reason <reason>)`, taken from the domain's CRL; unrevoked clients still pass.

use crate::support::*;

use rcgen::SerialNumber;

#[test]
fn a_revoked_client_is_rejected_with_date_issuer_and_reason() {
    let pki = Pki::new("localhost");
    let mut leaf = Leaf::client("revoked-client");
    leaf.serial = Some(SerialNumber::from(0x00ab_cdefu64));
    let revoked = issue(&pki.intermediate, leaf);
    let pem = pki.write("revoked.pem", &revoked.chain_pem);
    let crl = pki.write(
        "issuing.crl.pem",
        &pki.intermediate.crl(&[SerialNumber::from(0x00ab_cdefu64)]),
    );
    let entry = crl_info(&crl).revoked.remove(0);
    let config = explain_config(
        &pki,
        "gateway.toml",
        &pki.path("truststore.pem"),
        std::slice::from_ref(&crl),
    );

    let out = explain(&config, "localhost", &pem, &[]);
    let reason = assert_rejected(&out, "localhost");
    assert_eq!(
        reason,
        format!(
            "revoked on {} (CRL of 'CN=localhost Issuing CA', reason keyCompromise)",
            rfc3339(entry.at)
        )
    );
    assert!(
        out.stdout.contains("subject: CN=revoked-client"),
        "{out:#?}"
    );

    // Control: the domain's good client is not on the CRL.
    assert_accepted(
        &explain(&config, "localhost", &pki.path("client.pem"), &[]),
        "localhost",
    );
}
