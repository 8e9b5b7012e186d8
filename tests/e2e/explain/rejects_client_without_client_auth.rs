//! `portcullis explain` rejects a certificate whose extended key usage lacks clientAuth (a server
//! certificate, or no EKU at all) with `no clientAuth in extended key usage`.

use crate::support::*;

use rcgen::ExtendedKeyUsagePurpose;

#[test]
fn server_only_and_eku_less_certificates_are_rejected() {
    let pki = Pki::new("localhost");
    let config = explain_config(&pki, "gateway.toml", &pki.path("truststore.pem"), &[]);
    for (cn, eku) in [
        ("server-only", vec![ExtendedKeyUsagePurpose::ServerAuth]),
        ("no-eku", vec![]),
    ] {
        let mut leaf = Leaf::client(cn);
        leaf.eku = eku;
        let cert = issue(&pki.intermediate, leaf);
        let pem = pki.write(&format!("{cn}.pem"), &cert.chain_pem);
        let out = explain(&config, "localhost", &pem, &[]);
        let reason = assert_rejected(&out, "localhost");
        assert_eq!(reason, "no clientAuth in extended key usage", "{cn}");
        assert!(
            out.stdout.contains(&format!("subject: CN={cn}")),
            "{out:#?}"
        );
    }

    // Control: serverAuth alongside clientAuth is fine.
    let mut leaf = Leaf::client("both");
    leaf.eku = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let both = issue(&pki.intermediate, leaf);
    let pem = pki.write("both.pem", &both.chain_pem);
    assert_accepted(&explain(&config, "localhost", &pem, &[]), "localhost");
}
