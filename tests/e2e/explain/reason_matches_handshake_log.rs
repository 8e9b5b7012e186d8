//! For every kind of refused client certificate, the reason `portcullis explain` gives is the
//! reason the running gateway logs for the refused handshake (`client refused ... reason=`),
//! word for word apart from the `(checked at ...)` moment.

use crate::support::*;

use rcgen::{ExtendedKeyUsagePurpose, SerialNumber};

/// One bad client: what it is, its certificate (the chain it sends), and the file explain reads.
struct Case {
    what: &'static str,
    subject: String,
    client: Issued,
    file: std::path::PathBuf,
    /// Words the reason must contain, so that parity is not parity of two wrong texts.
    expect: &'static str,
}

/// Start `serve` with `config`, make each case's handshake with a rustls client, and compare
/// the logged reason with explain's.
async fn check_parity(config: &std::path::Path, root_pem: &str, cases: &[Case]) -> Vec<String> {
    let served = Served::start(config);
    let addr = served.listen_addr().await;
    let mut failures = Vec::new();
    for case in cases {
        let (c, f) = (config.to_path_buf(), case.file.clone());
        let (code, verdict) = blocking(move || explain_json(&c, "localhost", &f, &[])).await;
        if code != Some(1) || verdict["result"] != "REJECTED" {
            failures.push(format!(
                "{}: explain did not reject: {verdict:#}",
                case.what
            ));
            continue;
        }
        let explained = verdict["reason"].as_str().unwrap_or_default().to_owned();
        if !explained.contains(case.expect) {
            failures.push(format!(
                "{}: explain's reason lacks `{}`: {explained}",
                case.what, case.expect
            ));
        }

        let got = request(
            addr,
            "localhost",
            root_pem,
            Some(&case.client),
            get_req("/inventory"),
        )
        .await;
        if got.is_ok() {
            failures.push(format!(
                "{}: the gateway accepted the client: {got:?}",
                case.what
            ));
            continue;
        }
        let subject = case.subject.clone();
        let Some(line) = served
            .wait_event(|e| e["message"] == "client refused" && e["subject"] == subject.as_str())
            .await
        else {
            failures.push(format!("{}: no `client refused` line", case.what));
            continue;
        };
        let logged = line["reason"].as_str().unwrap_or_default();
        if strip_checked_at(logged) != strip_checked_at(&explained) {
            failures.push(format!(
                "{}: reasons differ\n  log:     {logged}\n  explain: {explained}",
                case.what
            ));
        }
    }
    if !failures.is_empty() {
        failures.push(format!("--- gateway log ---\n{}", served.dump()));
    }
    failures
}

fn case(pki: &Pki, what: &'static str, client: Issued, cn: &str, expect: &'static str) -> Case {
    let file = pki.write(&format!("{cn}.pem"), &client.chain_pem);
    Case {
        what,
        subject: format!("CN={cn}"),
        client,
        file,
        expect,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_gives_the_reason_the_gateway_logs() {
    let pki = Pki::new("localhost");
    let other = Pki::new("elsewhere");
    let now = time::OffsetDateTime::now_utc();

    let mut leaf = Leaf::client("parity-expired");
    leaf.not_before = now - time::Duration::hours(20);
    leaf.not_after = now - time::Duration::hours(2);
    let expired = issue(&pki.intermediate, leaf);

    let mut leaf = Leaf::client("parity-future");
    leaf.not_before = now + time::Duration::days(2);
    let future = issue(&pki.intermediate, leaf);

    let stranger = issue(&other.intermediate, Leaf::client("parity-stranger"));

    let mut leaf = Leaf::client("parity-revoked");
    leaf.serial = Some(SerialNumber::from(0x0badu64));
    let revoked = issue(&pki.intermediate, leaf);
    let crl = pki.write(
        "issuing.crl.pem",
        &pki.intermediate.crl(&[SerialNumber::from(0x0badu64)]),
    );

    let mut leaf = Leaf::client("parity-server-only");
    leaf.eku = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_only = issue(&pki.intermediate, leaf);

    let cases = vec![
        case(
            &pki,
            "expired",
            expired,
            "parity-expired",
            "certificate expired on",
        ),
        case(
            &pki,
            "not yet valid",
            future,
            "parity-future",
            "not valid before",
        ),
        case(
            &pki,
            "unknown issuer",
            stranger,
            "parity-stranger",
            "is not in the truststore; the truststore holds:",
        ),
        case(&pki, "revoked", revoked, "parity-revoked", "revoked on"),
        case(
            &pki,
            "no clientAuth",
            server_only,
            "parity-server-only",
            "no clientAuth in extended key usage",
        ),
    ];
    let config = explain_config(
        &pki,
        "gateway.toml",
        &pki.path("truststore.pem"),
        std::slice::from_ref(&crl),
    );
    let mut failures = check_parity(&config, &pki.root.pem, &cases).await;

    // A revoked intermediate needs a hierarchy of its own: it refuses every client under it.
    let rev = Pki::new("localhost");
    let serial = cert_info(&rev.intermediate.der).serial;
    let root_crl = rev.write(
        "root.crl.pem",
        &rev.root.crl(&[SerialNumber::from_slice(&serial)]),
    );
    let client = issue(&rev.intermediate, Leaf::client("parity-under-revoked"));
    let cases = vec![case(
        &rev,
        "revoked intermediate",
        client,
        "parity-under-revoked",
        "intermediate 'CN=localhost Issuing CA'",
    )];
    let config = explain_config(
        &rev,
        "gateway.toml",
        &rev.path("truststore.pem"),
        std::slice::from_ref(&root_crl),
    );
    failures.extend(check_parity(&config, &rev.root.pem, &cases).await);

    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
