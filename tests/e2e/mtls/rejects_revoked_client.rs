//! A client certificate listed in its issuing CA's CRL (`crls = [...]` on the domain) is
//! refused; the same gateway keeps serving clients that the CRL does not list.

use crate::support::*;

use rcgen::SerialNumber;

#[tokio::test]
async fn client_listed_in_issuer_crl_is_refused() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;

    let mut leaf = Leaf::client("revoked-client");
    leaf.serial = Some(SerialNumber::from(0x5eed_0001u64));
    let revoked = issue(&pki.intermediate, leaf);
    let mut leaf = Leaf::client("kept-client");
    leaf.serial = Some(SerialNumber::from(0x5eed_0002u64));
    let kept = issue(&pki.intermediate, leaf);

    let crl = pki.write(
        "issuing.crl.pem",
        &pki.intermediate.crl(&[SerialNumber::from(0x5eed_0001u64)]),
    );
    let config = Config::new(&pki, &[up.addr]).crls(&[&crl]).build();
    let gw = Gateway::start(&config).await;

    let got = request(
        gw.addr(),
        "localhost",
        &pki.root.pem,
        Some(&revoked),
        get_req("/inventory"),
    )
    .await;
    assert_refused("revoked client", &got, &up);

    let got = request(
        gw.addr(),
        "localhost",
        &pki.root.pem,
        Some(&kept),
        get_req("/inventory"),
    )
    .await
    .expect("a client the CRL does not list is accepted");
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(up.seen().len(), 1);
}

#[tokio::test]
async fn der_encoded_crl_revokes_too() {
    use rustls::pki_types::CertificateRevocationListDer;
    use rustls::pki_types::pem::PemObject;

    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let mut leaf = Leaf::client("revoked-der-client");
    leaf.serial = Some(SerialNumber::from(0x0d3e_0001u64));
    let revoked = issue(&pki.intermediate, leaf);
    let pem = pki.intermediate.crl(&[SerialNumber::from(0x0d3e_0001u64)]);
    let der = CertificateRevocationListDer::from_pem_slice(pem.as_bytes()).unwrap();
    let path = pki.path("issuing.crl");
    std::fs::write(&path, der.as_ref()).unwrap();
    let gw = Gateway::start(&Config::new(&pki, &[up.addr]).crls(&[&path]).build()).await;

    let got = request(
        gw.addr(),
        "localhost",
        &pki.root.pem,
        Some(&revoked),
        get_req("/inventory"),
    )
    .await;
    assert_refused("revoked client (DER CRL)", &got, &up);
    assert_eq!(get(&gw, &pki, "/inventory").await.status, 200);
}
