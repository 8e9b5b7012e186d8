//! A client certificate must carry the clientAuth extended key usage: a serverAuth-only
//! certificate and a certificate with no extendedKeyUsage extension are both refused.

use crate::support::*;

use rcgen::ExtendedKeyUsagePurpose;

async fn refused_with_eku(eku: Vec<ExtendedKeyUsagePurpose>, what: &str) {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, INVENTORY_ROUTE)).await;

    let mut leaf = Leaf::client("wrong-purpose-client");
    leaf.eku = eku;
    let client = issue(&pki.intermediate, leaf);

    let got = request(
        gw.addr(),
        "localhost",
        &pki.root.pem,
        Some(&client),
        get_req("/inventory"),
    )
    .await;
    assert!(got.is_err(), "{what}: client was served: {got:?}");
    assert!(up.seen().is_empty(), "{what}: upstream saw {:?}", up.seen());

    assert_eq!(get(&gw, &pki, "/inventory").await.status, 200);
    assert_eq!(up.seen().len(), 1);
}

#[tokio::test]
async fn server_auth_only_certificate_is_refused() {
    refused_with_eku(vec![ExtendedKeyUsagePurpose::ServerAuth], "serverAuth only").await;
}

#[tokio::test]
async fn certificate_without_eku_extension_is_refused() {
    refused_with_eku(vec![], "no EKU extension").await;
}

#[tokio::test]
async fn client_and_server_auth_certificate_is_accepted() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, INVENTORY_ROUTE)).await;
    let mut leaf = Leaf::client("dual-purpose-client");
    leaf.eku = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let client = issue(&pki.intermediate, leaf);
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
    assert_eq!(up.seen().len(), 1);
}
