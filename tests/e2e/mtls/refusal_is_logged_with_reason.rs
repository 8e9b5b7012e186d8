//! The real binary logs every refused client certificate as a `client refused` line naming the
//! client address, the certificate subject (when there is one) and the reason.

use crate::support::*;

use std::net::SocketAddr;
use std::sync::Arc;

use rcgen::{ExtendedKeyUsagePurpose, SerialNumber};

/// The value of `key=` in a text log line, up to the next space (quotes kept).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!(" {key}=");
    let start = line.find(&pat)? + pat.len();
    let rest = &line[start..];
    Some(rest.split(' ').next().unwrap_or(rest))
}

fn addr_field(line: &str, key: &str) -> Option<SocketAddr> {
    field(line, key)?.trim_matches('"').parse().ok()
}

#[tokio::test]
async fn each_refused_client_is_logged_with_address_subject_and_reason() {
    let pki = Pki::new("localhost");
    let other = Pki::new("elsewhere");
    let up = Upstream::start().await;
    let now = time::OffsetDateTime::now_utc();

    let mut leaf = Leaf::client("log-expired");
    leaf.not_before = now - time::Duration::days(30);
    leaf.not_after = now - time::Duration::days(2);
    let expired = issue(&pki.intermediate, leaf);

    let mut leaf = Leaf::client("log-future");
    leaf.not_before = now + time::Duration::days(2);
    let future = issue(&pki.intermediate, leaf);

    let stranger = issue(&other.intermediate, Leaf::client("log-stranger"));

    let mut leaf = Leaf::client("log-revoked");
    leaf.serial = Some(SerialNumber::from(0x00ab_cdefu64));
    let revoked = issue(&pki.intermediate, leaf);
    let crl = pki.write(
        "issuing.crl.pem",
        &pki.intermediate.crl(&[SerialNumber::from(0x00ab_cdefu64)]),
    );

    let mut leaf = Leaf::client("log-server-only");
    leaf.eku = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_only = issue(&pki.intermediate, leaf);

    let mut leaf = Leaf::client("log-no-eku");
    leaf.eku = vec![];
    let no_eku = issue(&pki.intermediate, leaf);

    let config = pki.write(
        "gateway.toml",
        &Config::new(&pki, &[up.addr]).crls(&[&crl]).build(),
    );
    let served = Served::start_text(&config);
    let listening = served
        .wait_line(|l| l.contains("listening") && l.contains("listen="))
        .await
        .unwrap_or_else(|| {
            panic!(
                "gateway never logged `listening`:\n{}",
                served.lines().join("\n")
            )
        });
    let addr = addr_field(&listening, "listen")
        .unwrap_or_else(|| panic!("no listen= address in {listening:?}"));
    assert_ne!(addr.port(), 0, "{listening}");

    // (what, client, versions, expected subject, words the reason must contain)
    let cases: Vec<(&str, Option<&Issued>, _, Option<&str>, &str)> = vec![
        (
            "expired",
            Some(&expired),
            BOTH,
            Some("CN=log-expired"),
            "expired",
        ),
        (
            "expired over TLS 1.2",
            Some(&expired),
            TLS12_ONLY,
            Some("CN=log-expired"),
            "expired",
        ),
        (
            "not yet valid",
            Some(&future),
            BOTH,
            Some("CN=log-future"),
            "not valid before",
        ),
        (
            "unknown issuer",
            Some(&stranger),
            BOTH,
            Some("CN=log-stranger"),
            "not in the truststore",
        ),
        (
            "revoked",
            Some(&revoked),
            BOTH,
            Some("CN=log-revoked"),
            "revoked",
        ),
        (
            "serverAuth only",
            Some(&server_only),
            BOTH,
            Some("CN=log-server-only"),
            "clientAuth",
        ),
        (
            "no EKU",
            Some(&no_eku),
            BOTH,
            Some("CN=log-no-eku"),
            "clientAuth",
        ),
        ("no certificate", None, BOTH, None, "no client certificate"),
        (
            "no certificate over TLS 1.2",
            None,
            TLS12_ONLY,
            None,
            "no client certificate",
        ),
    ];

    let mut failures = Vec::new();
    for (what, client, versions, subject, reason) in cases {
        let cfg = client_config(&[&pki.root.pem], client, versions, &[b"http/1.1"]);
        let attempt =
            tls_exchange(addr, dns("localhost"), Arc::new(cfg), get_abs("/inventory")).await;
        assert_refused(what, &attempt.result, &up);
        let local = attempt.local.expect("client socket address");
        let line = served
            .wait_line(|l| l.contains("client refused") && addr_field(l, "client") == Some(local))
            .await;
        let Some(line) = line else {
            failures.push(format!(
                "{what}: no `client refused` line with client={local}"
            ));
            continue;
        };
        if !line.contains(reason) {
            failures.push(format!("{what}: reason `{reason}` missing from {line:?}"));
        }
        match subject {
            Some(s) if !line.contains(s) => {
                failures.push(format!("{what}: subject `{s}` missing from {line:?}"));
            }
            _ => {}
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n--- gateway log ---\n{}",
        failures.join("\n"),
        served.lines().join("\n")
    );

    // Control: a good client is served by the same process.
    let cfg = client_config(&[&pki.root.pem], Some(&pki.client), BOTH, &[b"http/1.1"]);
    let (got, _) = tls_exchange(addr, dns("localhost"), Arc::new(cfg), get_abs("/inventory"))
        .await
        .ok();
    assert_eq!(got.status, 200, "{got:?}");
    let lines = served.lines();
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("client refused") && l.contains("localhost-client")),
        "the good client must not be logged as refused:\n{}",
        lines.join("\n")
    );
}
