//! `portcullis pki issue client|server` writes `NAME.pem` (leaf, then the chain up to but
//! excluding the root) and an owner-only `NAME.key`; the leaf has the right extended key usage,
//! the requested names and validity, and a 128-bit random serial recorded in `pki.toml`.

use crate::support::*;

use std::path::Path;

const DAY: i64 = 86_400;

/// The private key in `key` belongs to the leaf of `pem`.
fn assert_key_matches(pem: &Path, key: &Path) {
    let key_pem = std::fs::read_to_string(key).unwrap();
    let pair = rcgen::KeyPair::from_pem(&key_pem)
        .unwrap_or_else(|e| panic!("{}: not a usable key: {e}", key.display()));
    let leaf = &cert_infos(pem)[0];
    assert_eq!(
        rcgen::PublicKeyData::subject_public_key_info(&pair),
        leaf.spki,
        "{} does not belong to {}",
        key.display(),
        pem.display()
    );
}

/// `openssl verify` of the leaf of `pem` against the root, with `pem` as the untrusted chain.
fn assert_openssl_verifies(dir: &Path, pem: &Path, purpose: &str) {
    let mut a = args(["verify", "-purpose", purpose, "-CAfile"]);
    a.push(dir.join("root-ca.pem").into());
    a.push("-untrusted".into());
    a.push(pem.into());
    a.push(pem.into());
    let v = tool("openssl", a, None);
    assert!(
        v.ok(),
        "openssl verify -purpose {purpose} {}: {v:#?}",
        pem.display()
    );
}

/// The `[[issued]]` entry of `pki.toml` with this serial.
fn state_entry(dir: &Path, serial: &str) -> toml::Value {
    let text = std::fs::read_to_string(dir.join("pki.toml")).unwrap();
    let state: toml::Value = toml::from_str(&text).unwrap();
    state["issued"]
        .as_array()
        .unwrap_or_else(|| panic!("no [[issued]] in pki.toml:\n{text}"))
        .iter()
        .find(|e| e["serial"].as_str() == Some(serial))
        .unwrap_or_else(|| panic!("serial {serial} is not recorded in pki.toml:\n{text}"))
        .clone()
}

#[test]
fn a_client_certificate_has_client_auth_its_names_and_the_chain_without_the_root() {
    assert!(
        installed("openssl", "version"),
        "the `openssl` binary is required"
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    pki_init(&dir, &["--levels", "3"]);
    let out = pki_issue(
        "client",
        &dir,
        &[
            "--cn",
            "inventory-client",
            "--san-uri",
            "spiffe://corp/inventory",
            "--san-dns",
            "inventory.corp.example",
            "--days",
            "365",
        ],
    );
    let pem = dir.join("inventory-client.pem");
    let key = dir.join("inventory-client.key");
    assert_eq!(wrote(&out), vec![pem.clone(), key.clone()], "{out:#?}");

    let chain = cert_infos(&pem);
    let trust = cert_infos(&dir.join("truststore.pem"));
    assert_eq!(chain.len(), 3, "leaf + two subordinate CAs: {chain:#?}");
    let leaf = &chain[0];
    assert_eq!(leaf.subject, "CN=inventory-client");
    assert!(!leaf.is_ca);
    assert!(leaf.client_auth, "clientAuth missing: {leaf:#?}");
    assert!(
        !leaf.server_auth,
        "a client certificate must not be for servers"
    );
    assert_eq!(leaf.uris, vec!["spiffe://corp/inventory"]);
    assert_eq!(leaf.dns, vec!["inventory.corp.example"]);
    let root = trust.last().unwrap();
    for (i, c) in chain[1..].iter().enumerate() {
        assert_eq!(
            c.subject, trust[i].subject,
            "chain must follow the truststore order"
        );
        assert_ne!(c.subject, root.subject, "the chain must not carry the root");
    }
    assert_eq!(leaf.issuer, trust[0].subject, "issued by the issuing CA");
    let lifetime = leaf.not_after - now_secs();
    assert!(
        (364 * DAY..=366 * DAY).contains(&lifetime),
        "--days 365 gave {} days",
        lifetime / DAY
    );
    assert_eq!(
        leaf.serial.len(),
        16,
        "a 128-bit serial: {}",
        hex(&leaf.serial)
    );
    assert_eq!(printed_serial(&out), hex(&leaf.serial));

    assert_eq!(mode(&key), 0o600, "the private key must be owner-only");
    assert_key_matches(&pem, &key);
    assert_openssl_verifies(&dir, &pem, "sslclient");

    let entry = state_entry(&dir, &hex(&leaf.serial));
    assert_eq!(
        entry["subject"].as_str(),
        Some("CN=inventory-client"),
        "{entry}"
    );

    // A second client gets another random serial, also recorded.
    let out2 = pki_issue("client", &dir, &["--cn", "billing-client"]);
    let leaf2 = &cert_infos(&dir.join("billing-client.pem"))[0];
    assert_eq!(leaf2.serial.len(), 16, "{}", hex(&leaf2.serial));
    assert_ne!(leaf.serial, leaf2.serial, "serials must be random");
    assert_eq!(printed_serial(&out2), hex(&leaf2.serial));
    let entry2 = state_entry(&dir, &hex(&leaf2.serial));
    assert_eq!(
        entry2["subject"].as_str(),
        Some("CN=billing-client"),
        "{entry2}"
    );
    state_entry(&dir, &hex(&leaf.serial));
}

#[test]
fn a_server_certificate_has_server_auth_its_dns_name_and_ip() {
    assert!(
        installed("openssl", "version"),
        "the `openssl` binary is required"
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    pki_init(&dir, &[]);
    let out = pki_issue(
        "server",
        &dir,
        &[
            "--dns",
            "api.example.com",
            "--ip",
            "127.0.0.1",
            "--days",
            "90",
        ],
    );
    let pem = dir.join("api.example.com.pem");
    let key = dir.join("api.example.com.key");
    assert_eq!(wrote(&out), vec![pem.clone(), key.clone()], "{out:#?}");
    let chain = cert_infos(&pem);
    assert_eq!(chain.len(), 2, "leaf + issuing CA: {chain:#?}");
    let leaf = &chain[0];
    assert_eq!(leaf.subject, "CN=api.example.com");
    assert!(leaf.server_auth, "serverAuth missing: {leaf:#?}");
    assert!(
        !leaf.client_auth,
        "a server certificate must not be for clients"
    );
    assert_eq!(leaf.dns, vec!["api.example.com"]);
    assert_eq!(leaf.ips, vec![vec![127u8, 0, 0, 1]]);
    let lifetime = leaf.not_after - now_secs();
    assert!(
        (89 * DAY..=91 * DAY).contains(&lifetime),
        "--days 90 gave {} days",
        lifetime / DAY
    );
    assert_eq!(
        leaf.serial.len(),
        16,
        "a 128-bit serial: {}",
        hex(&leaf.serial)
    );
    assert_eq!(mode(&key), 0o600, "the private key must be owner-only");
    assert_key_matches(&pem, &key);
    assert_openssl_verifies(&dir, &pem, "sslserver");
    let entry = state_entry(&dir, &hex(&leaf.serial));
    assert_eq!(
        entry["subject"].as_str(),
        Some("CN=api.example.com"),
        "{entry}"
    );
}
