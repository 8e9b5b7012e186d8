//! A second `portcullis pki init` in a CA directory fails and leaves every file as it was; with
//! `--force` it replaces the CA.

use crate::support::*;

#[test]
fn a_second_init_fails_and_changes_nothing_until_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    pki_init(&dir, &["--levels", "2"]);
    pki_issue(
        "client",
        &dir,
        &[
            "--cn",
            "inventory-client",
            "--san-uri",
            "spiffe://corp/inventory",
        ],
    );
    let before = snapshot_dir(&dir);

    for extra in [vec![], vec!["--levels", "3"], vec!["--cn", "Other Root CA"]] {
        let mut a = args(["pki", "init", "--dir"]);
        a.push(dir.clone().into());
        a.extend(args(extra.iter().copied()));
        let out = portcullis(a);
        assert!(
            !out.ok() && out.code.is_some(),
            "init {extra:?} over an existing CA must fail: {out:#?}"
        );
        assert!(
            out.stderr.contains("--force"),
            "init {extra:?}: the message must point at --force: {out:#?}"
        );
        assert!(
            wrote(&out).is_empty(),
            "init {extra:?} claims to have written files: {out:#?}"
        );
        let after = snapshot_dir(&dir);
        assert!(
            before == after,
            "init {extra:?} changed the CA directory: {:?} -> {:?}",
            before.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            after.iter().map(|(n, _)| n).collect::<Vec<_>>()
        );
    }

    let out = pki_init(&dir, &["--levels", "2", "--force"]);
    assert!(!wrote(&out).is_empty(), "{out:#?}");
    let after = snapshot_dir(&dir);
    let get = |snap: &[(String, Vec<u8>)], name: &str| {
        snap.iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.clone())
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    for f in [
        "root-ca.pem",
        "root-ca.key",
        "truststore.pem",
        "root-ca.crl.pem",
    ] {
        assert_ne!(
            get(&before, f),
            get(&after, f),
            "{f} must be replaced by init --force"
        );
    }
    let new_root = cert_infos(&tmp.path().join("ca/root-ca.pem"));
    let trust = cert_infos(&dir.join("truststore.pem"));
    assert_eq!(
        trust.last().unwrap().serial,
        new_root[0].serial,
        "the truststore must hold the new root"
    );
}
