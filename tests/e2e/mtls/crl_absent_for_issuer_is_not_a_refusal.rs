//! Revocation status that no configured CRL covers is not a reason to refuse: a CRL for the
//! root only does not block clients of the intermediate (which has no CRL), and a CRL of the
//! issuing CA that does not list the client does not block it either.

use crate::support::*;

use rcgen::SerialNumber;

#[tokio::test]
async fn crl_for_root_only_accepts_client_of_intermediate() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    // The root's CRL revokes some unrelated serial; the intermediate has no CRL at all.
    let crl = pki.write(
        "root.crl.pem",
        &pki.root.crl(&[SerialNumber::from(0xdead_beefu64)]),
    );
    let gw = Gateway::start(&Config::new(&pki, &[up.addr]).crls(&[&crl]).build()).await;

    let got = get(&gw, &pki, "/inventory").await;
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(up.seen().len(), 1);
}

#[tokio::test]
async fn issuer_crl_not_listing_client_accepts_it() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let mut leaf = Leaf::client("listed-nowhere");
    leaf.serial = Some(SerialNumber::from(0x0100u64));
    let client = issue(&pki.intermediate, leaf);
    let crl = pki.write(
        "issuing.crl.pem",
        &pki.intermediate.crl(&[SerialNumber::from(0x0200u64)]),
    );
    let root_crl = pki.write("root.crl.pem", &pki.root.crl(&[]));
    let gw = Gateway::start(
        &Config::new(&pki, &[up.addr])
            .crls(&[&crl, &root_crl])
            .build(),
    )
    .await;

    let got = request(
        gw.addr(),
        "localhost",
        &pki.root.pem,
        Some(&client),
        get_req("/inventory"),
    )
    .await
    .expect("client not listed in any CRL is accepted");
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(up.seen().len(), 1);
}
