//! `portcullis explain` rejects an expired client certificate with `certificate expired on
//! <not_after> (checked at <time>)`, and `--at` moves the check: a valid certificate checked
//! after its expiry is rejected as expired, an expired one checked inside its validity accepted.

use crate::support::*;

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

#[test]
fn expiry_is_reported_with_both_times_and_at_moves_the_check() {
    let pki = Pki::new("localhost");
    let now = time::OffsetDateTime::now_utc();
    // Inside the CAs' validity (from a day ago), expired two hours ago.
    let mut leaf = Leaf::client("expired-client");
    leaf.not_before = now - time::Duration::hours(20);
    leaf.not_after = now - time::Duration::hours(2);
    let expired = issue(&pki.intermediate, leaf);
    let expired_pem = pki.write("expired.pem", &expired.chain_pem);
    let expired_info = cert_info(&expired.der);
    let good_pem = pki.path("client.pem");
    let good_info = cert_info(&pki.client.der);
    let config = explain_config(&pki, "gateway.toml", &pki.path("truststore.pem"), &[]);

    // Expired, checked now.
    let out = explain(&config, "localhost", &expired_pem, &[]);
    let reason = assert_rejected(&out, "localhost");
    let checked = header_checked_at(&out);
    assert!(
        (parse_rfc3339(&checked) - now_secs()).abs() <= 5,
        "{out:#?}"
    );
    assert_eq!(
        reason,
        format!(
            "certificate expired on {} (checked at {checked})",
            rfc3339(expired_info.not_after)
        )
    );
    assert!(
        out.stdout.contains("subject: CN=expired-client"),
        "{out:#?}"
    );

    // A valid certificate, checked after its expiry.
    let later = rfc3339(good_info.not_after + 10 * DAY);
    let out = explain(&config, "localhost", &good_pem, &["--at", &later]);
    let reason = assert_rejected(&out, "localhost");
    assert_eq!(header_checked_at(&out), later, "{out:#?}");
    assert_eq!(
        reason,
        format!(
            "certificate expired on {} (checked at {later})",
            rfc3339(good_info.not_after)
        )
    );
    // ...and checked now it is fine.
    assert_accepted(&explain(&config, "localhost", &good_pem, &[]), "localhost");

    // The expired certificate, checked while it was valid.
    let earlier = rfc3339(expired_info.not_after - 8 * HOUR);
    let out = explain(&config, "localhost", &expired_pem, &["--at", &earlier]);
    assert_accepted(&out, "localhost");
    assert_eq!(header_checked_at(&out), earlier, "{out:#?}");
}
