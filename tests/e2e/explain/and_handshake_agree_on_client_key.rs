//! The client's key decides the verdict the same way in the handshake and in `explain`: an
//! RSA-1024 client, whose CertificateVerify the handshake cannot check (aws-lc-rs verifies RSA
//! from 2048 bits), is refused by both with the same reason; an Ed448 client, a key type the
//! handshake cannot verify, is refused by `explain` by name; a P-521 client is accepted by both.

use crate::support::*;

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, KeyUsagePurpose};

/// A clientAuth certificate for a P-521 key issued by `ca` with rcgen.
fn p521_client(ca: &Ca, cn: &str) -> Issued {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).unwrap();
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.not_before = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    p.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(30);
    let cert = p.signed_by(&key, &ca.issuer).unwrap();
    Issued {
        chain_pem: format!("{}{}", cert.pem(), ca.pem),
        key_pem: key.serialize_pem(),
        der: cert.der().clone(),
        chain_der: vec![cert.der().clone(), ca.der.clone()],
        key_der: key.serialize_der(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_1024_is_refused_by_handshake_and_explain_alike() {
    let pki = Pki::new("localhost");
    let dir = pki.dir.path();
    let key = genpkey(
        dir,
        "rsa1024-client",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
    );
    let weak = sign(
        dir,
        &pki.intermediate,
        &key,
        "rsa1024-client",
        "sha256",
        "61",
        CLIENT_EXT,
    );
    let chain = pki.write(
        "rsa1024-chain.pem",
        &format!("{}{}", weak.pem, pki.intermediate.pem),
    );
    let cert = weak.cert_path.clone();
    let config = explain_config(&pki, "gateway.toml", &pki.path("truststore.pem"), &[]);
    let expected = "client key is RSA-1024; at least 2048 bits required";

    let (c, f) = (config.clone(), chain.clone());
    let (code, verdict) = blocking(move || explain_json(&c, "localhost", &f, &[])).await;
    assert_eq!(code, Some(1), "explain must refuse: {verdict:#}");
    assert_eq!(verdict["result"], "REJECTED", "{verdict:#}");
    assert_eq!(verdict["reason"], expected, "{verdict:#}");

    // The live handshake, by openssl (rustls will not load an RSA-1024 key to sign with).
    let served = Served::start(&config);
    let addr = served.listen_addr().await;
    let (root, key) = (pki.path("root-ca.pem"), weak.key_path.clone());
    let said = blocking(move || s_client(addr, &root, &cert, None, &key)).await;
    let line = served
        .wait_event(|e| e["message"] == "client refused" && e["subject"] == "CN=rsa1024-client")
        .await
        .unwrap_or_else(|| {
            panic!(
                "no `client refused` line for the RSA-1024 client\ns_client: {said:#?}\n--- gateway log ---\n{}",
                served.dump()
            )
        });
    assert_eq!(line["reason"], expected, "{}", served.dump());

    // Control: the same gateway and explain accept a good client of the same issuer.
    let good = request(
        addr,
        "localhost",
        &pki.root.pem,
        Some(&pki.client),
        get_req("/inventory"),
    )
    .await;
    assert!(good.is_ok(), "the good client was refused: {good:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ed448_is_refused_by_name_and_p521_is_accepted_by_both() {
    let pki = Pki::new("localhost");
    let dir = pki.dir.path();
    let key = genpkey(dir, "ed448-client", &["-algorithm", "ed448"]);
    let ed448 = sign(
        dir,
        &pki.intermediate,
        &key,
        "ed448-client",
        "sha256",
        "62",
        CLIENT_EXT,
    );
    let ed448_file = pki.write(
        "ed448-chain.pem",
        &format!("{}{}", ed448.pem, pki.intermediate.pem),
    );
    let config = explain_config(&pki, "gateway.toml", &pki.path("truststore.pem"), &[]);

    // rustls cannot sign with Ed448 and the gateway does not offer it, so no client can make
    // this handshake; explain must not call the certificate good.
    let reason = assert_rejected(
        &explain(&config, "localhost", &ed448_file, &[]),
        "localhost",
    );
    assert!(
        reason
            .starts_with("client key is Ed448, which the handshake cannot verify; accepted keys: "),
        "{reason}"
    );
    for accepted in [
        "ECDSA P-256",
        "ECDSA P-384",
        "ECDSA P-521",
        "Ed25519",
        "RSA (2048 to 8192 bits)",
    ] {
        assert!(reason.contains(accepted), "`{accepted}` missing: {reason}");
    }

    let p521 = p521_client(&pki.intermediate, "p521-client");
    let p521_file = pki.write("p521-chain.pem", &p521.chain_pem);
    assert_accepted(&explain(&config, "localhost", &p521_file, &[]), "localhost");
    let served = Served::start(&config);
    let addr = served.listen_addr().await;
    let got = request(
        addr,
        "localhost",
        &pki.root.pem,
        Some(&p521),
        get_req("/inventory"),
    )
    .await;
    assert!(
        got.is_ok(),
        "the P-521 client was refused: {got:?}\n{}",
        served.dump()
    );
}
