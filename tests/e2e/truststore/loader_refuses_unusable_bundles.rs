//! The truststore loader refuses a bundle without certificates or with a non-certificate PEM
//! block (naming the file and `domain[0].truststore`), both in-process and via `check`; it
//! accepts a bundle holding expired CA, non-CA or duplicate certificates, and `check` warns
//! about each of them by file.

use crate::support::*;

use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair};

/// The configuration with the domain's truststore replaced by a file holding `contents`.
fn config_with_truststore(
    pki: &Pki,
    up: &Upstream,
    name: &str,
    contents: &str,
) -> (String, String) {
    let path = pki.write(name, contents);
    let config = simple_config(pki, up.addr, INVENTORY_ROUTE).replace(
        &pki.path("truststore.pem").display().to_string(),
        &path.display().to_string(),
    );
    (config, path.display().to_string())
}

/// Run `portcullis check` on `config`; exit code and stderr.
fn check(pki: &Pki, config: &str) -> (Option<i32>, String, String) {
    let file = pki.write("gateway.toml", config);
    let mut a = args(["check", "--config"]);
    a.push(file.into());
    let out = portcullis(a);
    (out.code, out.stdout, out.stderr)
}

fn key_pem(pki: &Pki) -> String {
    pki.server.key_pem.clone()
}

fn expired_ca_pem() -> String {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Retired Root CA");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(400);
    p.not_after = time::OffsetDateTime::now_utc() - time::Duration::days(10);
    p.self_signed(&key).unwrap().pem()
}

#[tokio::test]
async fn unusable_truststores_are_refused_with_file_and_key() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let cases = [
        ("empty", "empty.pem", String::new()),
        ("no PEM at all", "text.pem", "just some text\n".to_owned()),
        ("private key only", "key-only.pem", key_pem(&pki)),
        (
            "CA then a private key",
            "mixed.pem",
            format!("{}{}", pki.root.pem, key_pem(&pki)),
        ),
        (
            "private key then a CA",
            "mixed2.pem",
            format!("{}{}", key_pem(&pki), pki.root.pem),
        ),
        (
            "unparsable certificate",
            "garbage.pem",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_owned(),
        ),
    ];
    let mut failures = Vec::new();
    for (what, file, contents) in cases {
        let (config, path) = config_with_truststore(&pki, &up, file, &contents);
        match Gateway::try_start(&config).await {
            Ok(_) => failures.push(format!("{what}: try_start accepted {path}")),
            Err(e) => {
                if !e.contains(&path) || !e.contains("domain[0].truststore") {
                    failures.push(format!(
                        "{what}: error must name {path} and domain[0].truststore: {e}"
                    ));
                }
            }
        }
        let (code, _, stderr) = check(&pki, &config);
        if code != Some(1) {
            failures.push(format!("{what}: check exited {code:?}:\n{stderr}"));
        }
        let line = stderr
            .lines()
            .find(|l| l.starts_with("error:") && l.contains("domain[0].truststore"));
        match line {
            Some(l) if l.contains(&path) => {}
            _ => failures.push(format!(
                "{what}: check must print an error naming {path} and domain[0].truststore:\n{stderr}"
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn questionable_certificates_are_accepted_with_warnings() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    // intermediate, root, an expired CA, a non-CA (the server leaf), and the root again.
    let server_leaf = pki
        .server
        .chain_pem
        .split_inclusive("-----END CERTIFICATE-----\n")
        .next()
        .unwrap()
        .to_owned();
    let bundle = format!(
        "{}{}{}{}{}",
        pki.intermediate.pem,
        pki.root.pem,
        expired_ca_pem(),
        server_leaf,
        pki.root.pem
    );
    let (config, path) = config_with_truststore(&pki, &up, "questionable.pem", &bundle);

    let gw = Gateway::try_start(&config)
        .await
        .unwrap_or_else(|e| panic!("the bundle must be accepted: {e}"));
    // The good CAs in it still verify clients.
    assert_eq!(get(&gw, &pki, "/inventory").await.status, 200);

    let (code, stdout, stderr) = check(&pki, &config);
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning:") && l.contains(&path))
        .collect();
    let expect = [
        ("expired CA", "Retired Root CA", "expired"),
        ("non-CA", "CN=localhost", "not a CA"),
        ("duplicate", "localhost Root CA", "duplicate"),
    ];
    for (what, subject, word) in expect {
        assert!(
            warnings
                .iter()
                .any(|w| w.contains(subject) && w.contains(word)),
            "{what}: no warning naming {path}, `{subject}` and `{word}` in:\n{stderr}"
        );
    }
    // The good certificates are not warned about.
    assert!(
        !warnings.iter().any(|w| w.contains("Issuing CA")),
        "the intermediate is fine:\n{stderr}"
    );
}
