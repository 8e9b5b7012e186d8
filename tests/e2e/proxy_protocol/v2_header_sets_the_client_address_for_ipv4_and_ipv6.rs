//! A v2 (binary) header names the client for either address family, its TLVs skipped: the
//! upstream sees the IPv4 or IPv6 client in `X-Forwarded-For` and `context.identity.sourceIp`.

use super::*;

#[tokio::test]
async fn v2_names_an_ipv4_or_ipv6_client_and_its_tlvs_are_skipped() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&proxied(&pki, up.addr, "\"127.0.0.1\"").build()).await;

    // An AWS NLB sends its VPC endpoint id as a TLV (type 0xEA); the gateway ignores it.
    let endpoint = [&[0xEA, 0x00, 0x17, 0x01][..], b"vpce-08d2bf15fac5001c9"].concat();
    for (i, (header, client)) in [
        (v2("198.51.100.20:50000", &endpoint), "198.51.100.20"),
        (v2("[2001:db8:cafe::17]:50001", &[]), "2001:db8:cafe::17"),
    ]
    .into_iter()
    .enumerate()
    {
        let got = via_lb(gw.addr(), &pki, &header, "/inventory")
            .await
            .unwrap();
        assert_eq!(got.status, 200, "{client}: {got:?}");
        assert_eq!(seen_header(&up, i, "x-forwarded-for"), client);
        assert_eq!(seen_header(&up, i, "x-source-ip"), client);
    }
}
