//! A CRL without a CRL Number extension, as `openssl ca -gencrl` writes one when no
//! `crlnumber` file is configured. With other CRL extensions (an authority key identifier) the
//! verifier can use it: `check` passes and the handshake refuses the client it lists. With no
//! CRL extensions at all it cannot: `check` and the gateway refuse it at load time naming the
//! file and the missing extension, not with a bare `ParseError`.

use crate::support::*;

use rcgen::SerialNumber;

/// `portcullis check --config CONFIG`.
fn check(config: &std::path::Path) -> Out {
    let mut a = args(["check", "--config"]);
    a.push(config.into());
    portcullis(a)
}

#[tokio::test]
async fn crl_without_number_but_with_extensions_is_used() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let mut leaf = Leaf::client("listed-client");
    leaf.serial = Some(SerialNumber::from(0x0badu64));
    let listed = issue(&pki.intermediate, leaf);
    let crl = openssl_crl(
        pki.dir.path(),
        "issuing",
        &pki.intermediate,
        &[("0BAD", "listed-client")],
        Some("authorityKeyIdentifier = keyid:always"),
    );
    assert_eq!(
        crl_info(&crl).number,
        None,
        "the fixture must lack a CRL Number"
    );

    let text = Config::new(&pki, &[up.addr])
        .crls(std::slice::from_ref(&crl))
        .build();
    let config = pki.write("gateway.toml", &text);
    let out = check(&config);
    assert!(out.ok(), "check refused a usable CRL: {out:#?}");

    let gw = Gateway::start(&text).await;
    let got = request(
        gw.addr(),
        "localhost",
        &pki.root.pem,
        Some(&listed),
        get_req("/inventory"),
    )
    .await;
    assert!(got.is_err(), "the listed client was served: {got:?}");
    assert!(up.seen().is_empty(), "upstream saw {:?}", up.seen());
    let reason = assert_rejected(
        &explain(
            &config,
            "localhost",
            &pki.write("listed.pem", &listed.chain_pem),
            &[],
        ),
        "localhost",
    );
    assert!(reason.starts_with("revoked on "), "{reason}");

    assert_eq!(get(&gw, &pki, "/inventory").await.status, 200);
}

#[tokio::test]
async fn crl_without_any_extension_is_refused_naming_the_file() {
    let pki = Pki::new("localhost");
    let crl = openssl_crl(
        pki.dir.path(),
        "bare",
        &pki.intermediate,
        &[("0BAD", "listed-client")],
        None,
    );
    let config = explain_config(
        &pki,
        "gateway.toml",
        &pki.path("truststore.pem"),
        std::slice::from_ref(&crl),
    );
    let expected = format!(
        "{}: CRL has no CRL Number extension (RFC 5280 5.2.3 requires one)",
        crl.display()
    );

    let out = check(&config);
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(
        out.stderr.contains(&expected),
        "`{expected}` missing: {out:#?}"
    );
    assert!(!out.stderr.contains("ParseError"), "{out:#?}");

    let text = std::fs::read_to_string(&config).unwrap();
    let err = match Gateway::try_start(&text).await {
        Ok(_) => panic!("the gateway started with an unusable CRL"),
        Err(e) => e,
    };
    assert!(err.contains(&expected), "`{expected}` missing: {err}");
}
