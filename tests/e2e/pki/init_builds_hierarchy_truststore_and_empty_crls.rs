//! `portcullis pki init --levels N` (1 to 5) builds a root and N-1 subordinate CAs, a truststore
//! ordered from the issuing CA up to the root, an empty CRL per CA, private keys readable by the
//! owner only, and says which files it wrote.

use crate::support::*;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn every_level_count_from_one_to_five_builds_a_linked_hierarchy() {
    assert!(
        installed("openssl", "version"),
        "the `openssl` binary is required"
    );
    for levels in 1..=5u8 {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ca");
        let out = pki_init(
            &dir,
            &["--levels", &levels.to_string(), "--cn", "Acme Root CA"],
        );
        let n = levels as usize;
        let ctx = format!("--levels {levels}");

        // The truststore: every CA, issuing CA first, each issued by the next, the root last.
        let trust = cert_infos(&dir.join("truststore.pem"));
        assert_eq!(trust.len(), n, "{ctx}: truststore holds {trust:#?}");
        for c in &trust {
            assert!(c.is_ca, "{ctx}: {} is not a CA", c.subject);
        }
        for w in trust.windows(2) {
            assert_eq!(
                w[0].issuer,
                w[1].subject,
                "{ctx}: truststore is not ordered issuing CA -> root: {:?}",
                trust.iter().map(|c| &c.subject).collect::<Vec<_>>()
            );
            assert_ne!(
                w[0].subject, w[0].issuer,
                "{ctx}: only the root is self-issued"
            );
        }
        let root = trust.last().unwrap();
        assert_eq!(root.subject, "CN=Acme Root CA", "{ctx}");
        assert_eq!(
            root.subject, root.issuer,
            "{ctx}: the last CA must be the root"
        );
        let subjects: BTreeSet<&String> = trust.iter().map(|c| &c.subject).collect();
        assert_eq!(subjects.len(), n, "{ctx}: CA subjects must differ");

        // root-ca.pem is the root, alone.
        let root_file = cert_infos(&dir.join("root-ca.pem"));
        assert_eq!(root_file.len(), 1, "{ctx}");
        assert_eq!(root_file[0].subject, root.subject, "{ctx}");
        assert_eq!(root_file[0].serial, root.serial, "{ctx}");

        // The links verify cryptographically: the issuing CA chains to root-ca.pem.
        let issuing = certs_in(&dir.join("truststore.pem")).remove(0);
        let issuing_pem = tmp.path().join("issuing.pem");
        let text = std::fs::read_to_string(dir.join("truststore.pem")).unwrap();
        let end = "-----END CERTIFICATE-----";
        let first = &text[..text.find(end).unwrap() + end.len()];
        std::fs::write(&issuing_pem, format!("{first}\n")).unwrap();
        assert_eq!(certs_in(&issuing_pem), vec![issuing], "{ctx}");
        let mut a = args(["verify", "-CAfile"]);
        a.push(dir.join("root-ca.pem").into());
        a.push("-untrusted".into());
        a.push(dir.join("truststore.pem").into());
        a.push(issuing_pem.into());
        let v = tool("openssl", a, None);
        assert!(v.ok(), "{ctx}: openssl verify of the issuing CA: {v:#?}");

        // One empty CRL per CA, signed by that CA.
        let crls = crl_files(&dir);
        assert_eq!(crls.len(), n, "{ctx}: CRLs {crls:?}");
        let mut crl_issuers = BTreeSet::new();
        for p in &crls {
            let crl = crl_info(p);
            assert!(
                crl.revoked.is_empty(),
                "{ctx}: {} is not empty: {crl:?}",
                p.display()
            );
            assert!(
                subjects.contains(&crl.issuer),
                "{ctx}: {} is issued by {}, not one of the CAs",
                p.display(),
                crl.issuer
            );
            crl_issuers.insert(crl.issuer);
        }
        assert_eq!(crl_issuers.len(), n, "{ctx}: each CA needs its own CRL");
        let root_crl = crl_info(&dir.join("root-ca.crl.pem"));
        assert_eq!(root_crl.issuer, root.subject, "{ctx}");

        // CA keys: one per CA, owner-only.
        let keys: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "key"))
            .collect();
        assert_eq!(keys.len(), n, "{ctx}: keys {keys:?}");
        for k in &keys {
            assert_eq!(mode(k), 0o600, "{ctx}: {} mode", k.display());
        }

        // `wrote PATH` for every file written, and only for files that exist.
        let said: BTreeSet<PathBuf> = wrote(&out).iter().map(|p| canonical(p)).collect();
        let on_disk: BTreeSet<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| canonical(&e.unwrap().path()))
            .collect();
        assert_eq!(
            said, on_disk,
            "{ctx}: `wrote` lines must name every file written\n{}",
            out.stdout
        );
        for f in [
            "truststore.pem",
            "root-ca.pem",
            "root-ca.crl.pem",
            "pki.toml",
        ] {
            assert!(
                said.contains(&canonical(&dir.join(f))),
                "{ctx}: no `wrote` line for {f}:\n{}",
                out.stdout
            );
        }
    }
}

#[test]
fn the_default_hierarchy_is_a_root_and_one_issuing_ca_with_p256_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("certs");
    pki_init(&dir, &[]);
    let trust = cert_infos(&dir.join("truststore.pem"));
    assert_eq!(trust.len(), 2, "{trust:#?}");
    for c in &trust {
        assert_eq!(c.key_alg, "1.2.840.10045.2.1", "{}: EC key", c.subject);
        assert_eq!(c.key_bits, 256, "{}: P-256", c.subject);
        assert_eq!(
            c.sig_alg, "1.2.840.10045.4.3.2",
            "{}: ecdsa-with-SHA256",
            c.subject
        );
    }
}
