//! `portcullis pki list` shows the CAs and every issued certificate with its serial, and marks
//! a revoked one REVOKED (and only that one).

use crate::support::*;

use std::path::Path;

fn list(dir: &Path) -> String {
    let mut a = args(["pki", "list", "--dir"]);
    a.push(dir.into());
    portcullis(a).expect_ok("pki list").stdout
}

fn line_of<'a>(listing: &'a str, serial: &str) -> &'a str {
    listing
        .lines()
        .find(|l| l.contains(serial))
        .unwrap_or_else(|| panic!("serial {serial} is not listed:\n{listing}"))
}

#[test]
fn list_names_cas_and_certificates_and_marks_the_revoked_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    pki_init(&dir, &["--levels", "3", "--cn", "Acme Root CA"]);
    let a = printed_serial(&pki_issue(
        "client",
        &dir,
        &[
            "--cn",
            "inventory-client",
            "--san-uri",
            "spiffe://corp/inventory",
        ],
    ));
    let b = printed_serial(&pki_issue("client", &dir, &["--cn", "billing-client"]));
    let s = printed_serial(&pki_issue("server", &dir, &["--dns", "api.example.com"]));

    let listing = list(&dir);
    for ca in cert_infos(&dir.join("truststore.pem")) {
        assert!(
            listing.contains(&ca.subject) && listing.contains(&hex(&ca.serial)),
            "CA {} ({}) is not listed:\n{listing}",
            ca.subject,
            hex(&ca.serial)
        );
    }
    for (serial, subject) in [
        (&a, "CN=inventory-client"),
        (&b, "CN=billing-client"),
        (&s, "CN=api.example.com"),
    ] {
        let line = line_of(&listing, serial);
        assert!(line.contains(subject), "{line}");
    }
    assert!(
        line_of(&listing, &a).contains("spiffe://corp/inventory"),
        "{listing}"
    );
    assert!(
        !listing.contains("REVOKED"),
        "nothing is revoked yet:\n{listing}"
    );

    let mut r = args(["pki", "revoke", "--dir"]);
    r.push(dir.clone().into());
    r.extend(args(["--serial", &a]));
    portcullis(r).expect_ok("pki revoke");

    let listing = list(&dir);
    assert!(
        line_of(&listing, &a).contains("REVOKED"),
        "the revoked certificate must be marked:\n{listing}"
    );
    assert!(
        line_of(&listing, &a).contains("keyCompromise"),
        "with its reason:\n{listing}"
    );
    for other in [&b, &s] {
        assert!(
            !line_of(&listing, other).contains("REVOKED"),
            "{other} was not revoked:\n{listing}"
        );
    }
    assert_eq!(listing.matches("REVOKED").count(), 1, "{listing}");
}
