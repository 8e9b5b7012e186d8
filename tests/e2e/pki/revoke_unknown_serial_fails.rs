//! `portcullis pki revoke` with a serial this CA never issued (or that is not hexadecimal)
//! fails with a clear message and leaves the CRLs and `pki.toml` alone.

use crate::support::*;

#[test]
fn an_unknown_or_malformed_serial_is_refused_and_nothing_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    pki_init(&dir, &[]);
    let issued = pki_issue("client", &dir, &["--cn", "inventory-client"]);
    let known = printed_serial(&issued);
    let before = snapshot_dir(&dir);

    // Same length as a real serial, but never issued.
    let unknown: String = known
        .chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect();
    for (serial, words) in [
        (
            unknown.as_str(),
            vec![unknown.as_str(), "no certificate with serial"],
        ),
        (
            "0badc0ffee",
            vec!["0badc0ffee", "no certificate with serial"],
        ),
        ("not-hex", vec!["not-hex", "not a hexadecimal serial"]),
    ] {
        let mut a = args(["pki", "revoke", "--dir"]);
        a.push(dir.clone().into());
        a.extend(args(["--serial", serial]));
        let out = portcullis(a);
        assert!(
            !out.ok() && out.code.is_some(),
            "revoke {serial} must fail: {out:#?}"
        );
        for w in words {
            assert!(
                out.stderr.contains(w),
                "revoke {serial}: the message must contain `{w}`: {out:#?}"
            );
        }
        assert!(wrote(&out).is_empty(), "revoke {serial}: {out:#?}");
        assert!(
            snapshot_dir(&dir) == before,
            "revoke {serial} changed the CA directory"
        );
    }
    for crl in crl_files(&dir) {
        assert!(crl_info(&crl).revoked.is_empty(), "{}", crl.display());
    }
}
