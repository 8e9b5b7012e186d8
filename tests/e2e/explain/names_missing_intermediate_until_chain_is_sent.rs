//! With a truststore holding only the root, a client that sends only its leaf is rejected by
//! `portcullis explain` with `missing intermediate '<issuing CA>'`; sending the intermediate with
//! `--chain` (or in the client file) makes it accepted.

use crate::support::*;

#[test]
fn a_missing_intermediate_is_named_and_sending_it_is_accepted() {
    let pki = Pki::new("localhost");
    let root_only = pki.write("root-only.pem", &pki.root.pem);
    let leaf = pki.write("leaf.pem", &leaf_pem(&pki.client, &pki.intermediate));
    let intermediate = pki.write("intermediate.pem", &pki.intermediate.pem);
    let config = explain_config(&pki, "gateway.toml", &root_only, &[]);

    let out = explain(&config, "localhost", &leaf, &[]);
    let reason = assert_rejected(&out, "localhost");
    assert!(
        reason.contains("missing intermediate 'CN=localhost Issuing CA'"),
        "the missing intermediate must be named: {reason}"
    );
    assert!(
        reason.contains("is not in the truststore; the truststore holds: 'CN=localhost Root CA'"),
        "{reason}"
    );

    let out = explain(
        &config,
        "localhost",
        &leaf,
        &["--chain", intermediate.to_str().unwrap()],
    );
    assert_accepted(&out, "localhost");
    assert!(
        out.stdout.contains("subject: CN=localhost-client"),
        "{out:#?}"
    );

    // The same chain in one file.
    assert_accepted(
        &explain(&config, "localhost", &pki.path("client.pem"), &[]),
        "localhost",
    );
}

#[test]
fn a_sibling_intermediate_missing_from_a_truststore_with_intermediates_is_named() {
    // The truststore holds root + its first issuing CA; the client comes from a second issuing
    // CA under the same root and sends only its leaf.
    let pki = Pki::new("localhost");
    let sibling = pki.root.subordinate("localhost Issuing CA 2");
    let client = issue(&sibling, Leaf::client("sibling-client"));
    let leaf = pki.write("sibling-leaf.pem", &leaf_pem(&client, &sibling));
    let sibling_pem = pki.write("sibling-ca.pem", &sibling.pem);
    let config = explain_config(&pki, "gateway.toml", &pki.path("truststore.pem"), &[]);

    let out = explain(&config, "localhost", &leaf, &[]);
    let reason = assert_rejected(&out, "localhost");
    assert!(
        reason.contains("missing intermediate 'CN=localhost Issuing CA 2'"),
        "the missing intermediate must be named: {reason}"
    );
    assert!(
        reason.contains("is not in the truststore; the truststore holds: "),
        "{reason}"
    );

    let out = explain(
        &config,
        "localhost",
        &leaf,
        &["--chain", sibling_pem.to_str().unwrap()],
    );
    assert_accepted(&out, "localhost");
}
