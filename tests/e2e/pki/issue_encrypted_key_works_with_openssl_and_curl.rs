//! `portcullis pki issue client --passphrase-file F` writes an encrypted PKCS#8 key that
//! `openssl pkcs8` decrypts with the passphrase (and not without it) to the certificate's key, and
//! the README's `openssl pkcs8` + `curl --cert --key --cacert` steps reach the upstream.

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_encrypted_key_decrypts_to_the_certificates_key_and_curl_gets_through() {
    assert!(
        installed("openssl", "version"),
        "the `openssl` binary is required"
    );
    assert!(
        installed("curl", "--version"),
        "the `curl` binary is required"
    );
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().to_path_buf();
    let dir = work.join("certs");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(work.join("pass.txt"), "correct horse battery staple\n").unwrap();
    std::fs::write(work.join("wrong.txt"), "incorrect horse\n").unwrap();

    let d = dir.clone();
    let w = work.clone();
    blocking(move || {
        pki_init(&d, &[]);
        pki_issue(
            "server",
            &d,
            &["--dns", "localhost", "--ip", "127.0.0.1", "--out", "server"],
        );
        let pass = w.join("pass.txt");
        pki_issue(
            "client",
            &d,
            &[
                "--cn",
                "inventory-client",
                "--san-uri",
                "spiffe://corp/inventory",
                "--passphrase-file",
                pass.to_str().unwrap(),
            ],
        );
    })
    .await;

    let key = dir.join("inventory-client.key");
    let key_text = std::fs::read_to_string(&key).unwrap();
    assert!(
        key_text.starts_with(concat!("-----BEGIN ENCRYPTED ", "PRIVATE KEY-----")),
        "the key must be encrypted PKCS#8:\n{key_text}"
    );
    assert!(!key_text.contains(concat!("-----BEGIN ", "PRIVATE KEY-----")));
    assert_eq!(mode(&key), 0o600, "the private key must be owner-only");

    // A wrong passphrase does not decrypt it.
    let w = work.clone();
    let wrong = blocking(move || {
        tool(
            "openssl",
            args([
                "pkcs8",
                "-in",
                "certs/inventory-client.key",
                "-passin",
                "file:wrong.txt",
                "-out",
                "certs/wrong.plain.key",
            ]),
            Some(&w),
        )
    })
    .await;
    assert!(
        !wrong.ok(),
        "a wrong passphrase decrypted the key: {wrong:#?}"
    );

    // The README's step, with the passphrase from a file instead of the terminal.
    let w = work.clone();
    let (plain, pub_key, pub_cert) = blocking(move || {
        let plain = tool(
            "openssl",
            args([
                "pkcs8",
                "-in",
                "certs/inventory-client.key",
                "-passin",
                "file:pass.txt",
                "-out",
                "certs/inventory-client.plain.key",
            ]),
            Some(&w),
        );
        let pub_key = tool(
            "openssl",
            args(["pkey", "-in", "certs/inventory-client.plain.key", "-pubout"]),
            Some(&w),
        );
        let pub_cert = tool(
            "openssl",
            args([
                "x509",
                "-in",
                "certs/inventory-client.pem",
                "-pubkey",
                "-noout",
            ]),
            Some(&w),
        );
        (plain, pub_key, pub_cert)
    })
    .await;
    assert!(
        plain.ok(),
        "openssl pkcs8 with the passphrase failed: {plain:#?}"
    );
    let plain_text = std::fs::read_to_string(dir.join("inventory-client.plain.key")).unwrap();
    assert!(
        plain_text.starts_with(concat!("-----BEGIN ", "PRIVATE KEY-----")),
        "{plain_text}"
    );
    assert!(pub_key.ok() && pub_cert.ok(), "{pub_key:#?}\n{pub_cert:#?}");
    assert!(
        pub_key.stdout.contains("-----BEGIN PUBLIC KEY-----"),
        "{pub_key:#?}"
    );
    assert_eq!(
        pub_key.stdout, pub_cert.stdout,
        "the decrypted key does not belong to the certificate"
    );

    // The README's curl, against a gateway using this CA directory.
    let up = Upstream::start().await;
    let config = Config::with_files(
        &dir.join("server.pem"),
        &dir.join("server.key"),
        &dir.join("truststore.pem"),
        &[up.addr],
    )
    .crls(&crl_files(&dir))
    .build();
    let gw = Gateway::start(&config).await;
    let url = format!("https://localhost:{}/inventory", gw.addr().port());
    let got = curl(
        args([
            "--cert",
            "certs/inventory-client.pem",
            "--key",
            "certs/inventory-client.plain.key",
            "--cacert",
            "certs/root-ca.pem",
            "--write-out",
            "\n%{http_code}",
            &url,
        ]),
        Some(work.clone()),
    )
    .await;
    assert!(got.ok(), "curl failed: {got:#?}");
    assert_eq!(
        got.stdout, "upstream:/rest-service/inventory\n200",
        "{got:#?}"
    );
    let seen = up.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let xfcc = seen[0]
        .headers
        .get("x-forwarded-client-cert")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        xfcc.contains("Subject=\"CN=inventory-client\"")
            && xfcc.contains("URI=spiffe://corp/inventory"),
        "the upstream must see the client's identity: {xfcc:?}"
    );
}
