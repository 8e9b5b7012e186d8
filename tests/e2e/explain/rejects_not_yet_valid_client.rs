//! `portcullis explain` rejects a client certificate that is not valid yet with `certificate is
//! not valid before <not_before> (checked at <time>)`, and accepts it with `--at` inside its
//! validity.

use crate::support::*;

const DAY: i64 = 86_400;

#[test]
fn a_future_certificate_is_rejected_until_its_not_before() {
    let pki = Pki::new("localhost");
    let now = time::OffsetDateTime::now_utc();
    let mut leaf = Leaf::client("future-client");
    leaf.not_before = now + time::Duration::days(2);
    leaf.not_after = now + time::Duration::days(30);
    let future = issue(&pki.intermediate, leaf);
    let pem = pki.write("future.pem", &future.chain_pem);
    let info = cert_info(&future.der);
    let config = explain_config(&pki, "gateway.toml", &pki.path("truststore.pem"), &[]);

    let out = explain(&config, "localhost", &pem, &[]);
    let reason = assert_rejected(&out, "localhost");
    let checked = header_checked_at(&out);
    assert!(
        (parse_rfc3339(&checked) - now_secs()).abs() <= 5,
        "{out:#?}"
    );
    assert_eq!(
        reason,
        format!(
            "certificate is not valid before {} (checked at {checked})",
            rfc3339(info.not_before)
        )
    );
    assert!(out.stdout.contains("subject: CN=future-client"), "{out:#?}");

    let inside = rfc3339(info.not_before + DAY);
    let out = explain(&config, "localhost", &pem, &["--at", &inside]);
    assert_accepted(&out, "localhost");
    assert_eq!(header_checked_at(&out), inside);
}
