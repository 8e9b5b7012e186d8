//! A certificate signed with an algorithm the verifier does not take (ecdsa-with-SHA1), or
//! carrying a critical extension it does not handle, is refused by the handshake and by
//! `explain` with the same reason, and the reason names the algorithm and the extension in
//! words (by name, or by dotted OID when it has none), and the certificate that carries it.

use crate::support::*;

use std::path::PathBuf;

/// One refused client: its files (leaf, CA certificates sent with it, key) and the reason
/// both `explain` and the gateway log must give.
struct Case {
    cn: &'static str,
    leaf: PathBuf,
    chain: PathBuf,
    key: PathBuf,
    expect: &'static str,
}

/// Each case's client files: the leaf and its key from openssl, the chain sent with it.
fn case(pki: &Pki, made: &Made, sent: &Ca, cn: &'static str, expect: &'static str) -> Case {
    Case {
        cn,
        leaf: made.cert_path.clone(),
        chain: pki.write(&format!("{cn}.chain.pem"), &sent.pem),
        key: made.key_path.clone(),
        expect,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_algorithm_and_critical_extension_are_named() {
    let pki = Pki::new("localhost");
    let dir = pki.dir.path();
    let p256 = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
    let made = |name: &str, ca: &Ca, digest: &str, serial: &str, ext: &str| {
        let key = genpkey(dir, name, &p256);
        sign(dir, ca, &key, name, digest, serial, ext)
    };

    let sha1 = made("sha1-client", &pki.intermediate, "sha1", "51", CLIENT_EXT);
    let policy = made(
        "policy-client",
        &pki.intermediate,
        "sha256",
        "52",
        &format!("{CLIENT_EXT}certificatePolicies = critical, 1.3.6.1.4.1.55555.9\n"),
    );
    let private = made(
        "private-ext-client",
        &pki.intermediate,
        "sha256",
        "53",
        &format!("{CLIENT_EXT}1.3.6.1.4.1.55555.1 = critical, ASN1:UTF8String:private\n"),
    );
    // An intermediate with a critical extension of its own, sent in the client's chain.
    let odd_ca = made(
        "localhost Odd CA",
        &pki.root,
        "sha256",
        "54",
        &format!("{CA_EXT}1.3.6.1.4.1.55555.7 = critical, ASN1:UTF8String:odd\n"),
    )
    .as_ca();
    let under_odd = made("under-odd-client", &odd_ca, "sha256", "55", CLIENT_EXT);

    let cases = [
        case(
            &pki,
            &sha1,
            &pki.intermediate,
            "sha1-client",
            "signature algorithm ecdsa-with-SHA1 is not accepted (on 'CN=sha1-client', \
             signed by 'CN=localhost Issuing CA')",
        ),
        case(
            &pki,
            &policy,
            &pki.intermediate,
            "policy-client",
            "unhandled critical extension certificatePolicies (2.5.29.32) in 'CN=policy-client'",
        ),
        case(
            &pki,
            &private,
            &pki.intermediate,
            "private-ext-client",
            "unhandled critical extension 1.3.6.1.4.1.55555.1 in 'CN=private-ext-client'",
        ),
        case(
            &pki,
            &under_odd,
            &odd_ca,
            "under-odd-client",
            "unhandled critical extension 1.3.6.1.4.1.55555.7 in intermediate 'CN=localhost Odd CA'",
        ),
    ];

    let config = explain_config(&pki, "gateway.toml", &pki.path("truststore.pem"), &[]);
    let served = Served::start(&config);
    let addr = served.listen_addr().await;
    let mut failures = Vec::new();
    for case in &cases {
        let (c, leaf, chain) = (config.clone(), case.leaf.clone(), case.chain.clone());
        let chain_arg = chain.display().to_string();
        let (code, verdict) =
            blocking(move || explain_json(&c, "localhost", &leaf, &["--chain", &chain_arg])).await;
        let explained = verdict["reason"].as_str().unwrap_or_default().to_owned();
        if code != Some(1) || verdict["result"] != "REJECTED" || explained != case.expect {
            failures.push(format!(
                "{}: explain says {verdict:#}, expected reason `{}`",
                case.cn, case.expect
            ));
            continue;
        }

        // The live handshake, by openssl: rustls will not even load a client certificate
        // with a critical extension it does not handle.
        let (root, leaf, key) = (pki.path("root-ca.pem"), case.leaf.clone(), case.key.clone());
        let said = blocking(move || s_client(addr, &root, &leaf, Some(&chain), &key)).await;
        let subject = format!("CN={}", case.cn);
        let Some(line) = served
            .wait_event(|e| e["message"] == "client refused" && e["subject"] == subject.as_str())
            .await
        else {
            failures.push(format!(
                "{}: no `client refused` line; s_client: {said:#?}",
                case.cn
            ));
            continue;
        };
        if line["reason"] != case.expect {
            failures.push(format!(
                "{}: reasons differ\n  log:     {}\n  explain: {explained}",
                case.cn, line["reason"]
            ));
        }
    }
    if !failures.is_empty() {
        failures.push(format!("--- gateway log ---\n{}", served.dump()));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
