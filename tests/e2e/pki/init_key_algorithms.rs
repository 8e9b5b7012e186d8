//! `portcullis pki init --key` chooses the key algorithm of the whole hierarchy: every CA, and
//! the leaves `pki issue` makes later, use it.

use crate::support::*;

const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
const RSA_SHA256: &str = "1.2.840.113549.1.1.11";

/// Init with `key`, issue a client, and check every certificate's key and signature algorithm.
fn check(key: &str, key_alg: &str, bits: usize, sig_alg: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    pki_init(&dir, &["--levels", "2", "--key", key]);
    pki_issue("client", &dir, &["--cn", "inventory-client"]);
    let mut all = cert_infos(&dir.join("truststore.pem"));
    all.extend(cert_infos(&dir.join("inventory-client.pem")));
    assert_eq!(all.len(), 4, "{key}: {all:#?}");
    for c in &all {
        assert_eq!(c.key_alg, key_alg, "{key}: key algorithm of {}", c.subject);
        assert_eq!(c.key_bits, bits, "{key}: key size of {}", c.subject);
        assert_eq!(c.sig_alg, sig_alg, "{key}: signature of {}", c.subject);
    }
    let state = std::fs::read_to_string(dir.join("pki.toml")).unwrap();
    let state: toml::Value = toml::from_str(&state).unwrap();
    assert_eq!(
        state["key"].as_str(),
        Some(key),
        "pki.toml records the key algorithm"
    );
}

#[test]
fn ec_p384_keys_sign_with_sha384() {
    check("ec-p384", EC_PUBLIC_KEY, 384, ECDSA_SHA384);
}

#[test]
fn rsa_2048_keys_sign_with_sha256() {
    check("rsa-2048", RSA_ENCRYPTION, 2048, RSA_SHA256);
}

#[test]
fn an_unknown_algorithm_is_refused_with_the_choices() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = args(["pki", "init", "--dir"]);
    a.push(tmp.path().join("ca").into());
    a.extend(args(["--key", "dsa-1024"]));
    let out = portcullis(a);
    assert!(!out.ok(), "{out:#?}");
    assert!(
        out.stderr.contains("ec-p256") && out.stderr.contains("rsa-2048"),
        "the message must list the algorithms: {out:#?}"
    );
    assert!(!tmp.path().join("ca").exists(), "nothing may be written");
}
