//! The whole `portcullis pki` round trip against the real binary: `pki init`, `issue server`,
//! `issue client`, `serve` with the CA directory's truststore and CRLs, `curl` gets through;
//! then `pki revoke` rewrites the issuing CA's CRL and after SIGHUP the same curl is refused and
//! logged as revoked.

use crate::support::*;

use std::path::{Path, PathBuf};

/// The README's curl with the client certificate of `dir`, writing the status code last.
async fn curl_inventory(dir: &Path, port: u16) -> Out {
    let p = |f: &str| dir.join(f).display().to_string();
    curl(
        args([
            "--cert".to_owned(),
            p("inventory-client.pem"),
            "--key".into(),
            p("inventory-client.key"),
            "--cacert".into(),
            p("root-ca.pem"),
            "--write-out".into(),
            "\n%{http_code}".into(),
            format!("https://localhost:{port}/inventory"),
        ]),
        None,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_client_is_refused_after_sighup() {
    assert!(
        installed("curl", "--version"),
        "the `curl` binary is required"
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("certs");
    let d = dir.clone();
    let leaf = blocking(move || {
        pki_init(&d, &["--levels", "3", "--cn", "Example Root CA"]);
        pki_issue(
            "server",
            &d,
            &["--dns", "localhost", "--ip", "127.0.0.1", "--out", "server"],
        );
        pki_issue(
            "client",
            &d,
            &[
                "--cn",
                "inventory-client",
                "--san-uri",
                "spiffe://corp/inventory",
            ],
        );
        cert_infos(&d.join("inventory-client.pem")).remove(0)
    })
    .await;

    let up = Upstream::start().await;
    let crls = crl_files(&dir);
    assert_eq!(crls.len(), 3, "{crls:?}");
    let config = tmp.path().join("gateway.toml");
    std::fs::write(
        &config,
        Config::with_files(
            &dir.join("server.pem"),
            &dir.join("server.key"),
            &dir.join("truststore.pem"),
            &[up.addr],
        )
        .crls(&crls)
        .build(),
    )
    .unwrap();
    let served = Served::start(&config);
    let port = served.listen_addr().await.port();

    let ok = curl_inventory(&dir, port).await;
    assert!(
        ok.ok(),
        "curl before the revocation: {ok:#?}\n{}",
        served.dump()
    );
    assert_eq!(
        ok.stdout, "upstream:/rest-service/inventory\n200",
        "{ok:#?}"
    );
    assert_eq!(up.seen().len(), 1);

    // The serial, as `pki list` shows it.
    let d = dir.clone();
    let list = blocking(move || {
        let mut a = args(["pki", "list", "--dir"]);
        a.push(d.into());
        portcullis(a).expect_ok("pki list")
    })
    .await;
    let serial = list
        .stdout
        .lines()
        .find(|l| l.contains("inventory-client.pem"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("inventory-client.pem is not listed:\n{}", list.stdout))
        .to_owned();
    assert_eq!(
        serial,
        hex(&leaf.serial),
        "pki list shows the serial in hex"
    );

    // Revoke: the issuing CA's CRL now lists the serial; the root's is untouched.
    let issuing_crl: PathBuf = crls
        .iter()
        .find(|p| crl_info(p).issuer == leaf.issuer)
        .cloned()
        .unwrap_or_else(|| panic!("no CRL of {} in {crls:?}", leaf.issuer));
    let before = crl_info(&issuing_crl);
    let root_crl_before = std::fs::read(dir.join("root-ca.crl.pem")).unwrap();
    let d = dir.clone();
    let s = serial.clone();
    let revoke = blocking(move || {
        let mut a = args(["pki", "revoke", "--dir"]);
        a.push(d.into());
        a.extend(args(["--serial", &s]));
        portcullis(a).expect_ok("pki revoke")
    })
    .await;
    assert_eq!(
        wrote(&revoke)
            .iter()
            .map(|p| std::fs::canonicalize(p).unwrap())
            .collect::<Vec<_>>(),
        vec![std::fs::canonicalize(&issuing_crl).unwrap()],
        "revoke must rewrite the issuing CA's CRL: {revoke:#?}"
    );
    let after = crl_info(&issuing_crl);
    assert_eq!(after.issuer, leaf.issuer);
    assert_eq!(after.revoked.len(), 1, "{after:?}");
    assert_eq!(after.revoked[0].serial, leaf.serial, "{after:?}");
    assert_eq!(
        after.revoked[0].reason,
        Some(1),
        "keyCompromise by default: {after:?}"
    );
    assert!(
        after.number > before.number,
        "the CRL number must grow: {before:?} -> {after:?}"
    );
    assert_eq!(
        std::fs::read(dir.join("root-ca.crl.pem")).unwrap(),
        root_crl_before,
        "the root's CRL must not change"
    );

    // Reload, then the same curl is refused and the refusal logged with the reason.
    served.sighup();
    served
        .wait_event(|e| e["message"] == "configuration reloaded")
        .await
        .unwrap_or_else(|| {
            panic!(
                "no `configuration reloaded` after SIGHUP:\n{}",
                served.dump()
            )
        });
    let refused = curl_inventory(&dir, port).await;
    assert!(
        !refused.ok(),
        "curl with a revoked certificate succeeded: {refused:#?}"
    );
    assert_eq!(
        up.seen().len(),
        1,
        "the revoked client reached the upstream"
    );
    let line = served
        .wait_event(|e| e["message"] == "client refused" && e["subject"] == "CN=inventory-client")
        .await
        .unwrap_or_else(|| panic!("no `client refused` line:\n{}", served.dump()));
    let reason = line["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("revoked on ")
            && reason.contains(&format!("(CRL of '{}', reason keyCompromise)", leaf.issuer)),
        "the log must say revoked, by whose CRL and why: {line}"
    );
}
