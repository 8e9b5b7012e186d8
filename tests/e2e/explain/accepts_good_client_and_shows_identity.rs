//! `portcullis explain` accepts a good client certificate (exit 0, `ACCEPTED`) and shows the
//! identity the upstream would receive: subject, URI SAN, and the exact
//! `x-forwarded-client-cert` value the live gateway sends.

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_client_is_accepted_with_the_identity_the_upstream_receives() {
    let pki = Pki::new("localhost");
    let mut leaf = Leaf::client("inventory-client");
    leaf.uris = vec!["spiffe://corp/inventory".into()];
    let client = issue(&pki.intermediate, leaf);
    let client_pem = pki.write("inventory-client.pem", &client.chain_pem);
    let config = explain_config(&pki, "gateway.toml", &pki.path("truststore.pem"), &[]);

    let c = config.clone();
    let p = client_pem.clone();
    let out = blocking(move || explain(&c, "localhost", &p, &[])).await;
    assert_accepted(&out, "localhost");
    let sha = hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &client.der).as_ref());
    let xfcc = format!("Hash={sha};Subject=\"CN=inventory-client\";URI=spiffe://corp/inventory");
    assert!(
        out.stdout.contains("subject: CN=inventory-client"),
        "{out:#?}"
    );
    assert!(out.stdout.contains("spiffe://corp/inventory"), "{out:#?}");
    assert!(
        out.stdout.lines().any(
            |l| l.trim_start() == format!("upstream receives: x-forwarded-client-cert: {xfcc}")
        ),
        "explain must show the x-forwarded-client-cert value {xfcc}:\n{}",
        out.stdout
    );
    let checked = parse_rfc3339(&header_checked_at(&out));
    assert!((checked - now_secs()).abs() <= 5, "checked at {checked}");

    // The live gateway, with the same configuration, sends exactly that header.
    let up = Upstream::start().await;
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("127.0.0.1:9", &up.addr.to_string());
    let gw = Gateway::start(&text).await;
    let got = request(
        gw.addr(),
        "localhost",
        &pki.root.pem,
        Some(&client),
        get_req("/inventory"),
    )
    .await
    .unwrap();
    assert_eq!(got.status, 200, "{got:?}");
    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0]
            .headers
            .get("x-forwarded-client-cert")
            .map(|v| v.to_str().unwrap()),
        Some(xfcc.as_str()),
        "explain and the gateway disagree on the identity"
    );
}
