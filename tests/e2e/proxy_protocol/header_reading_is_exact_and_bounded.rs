//! The header is read exactly: one that arrives in pieces, or runs long with TLVs, is taken
//! whole and TLS gets every byte of the ClientHello after it; one that never completes is cut
//! at the handshake timeout and counted as `timeout`.

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use super::*;

#[tokio::test]
async fn a_header_in_pieces_or_with_long_tlvs_is_taken_whole_and_tls_follows() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&proxied(&pki, up.addr, "\"127.0.0.0/8\"").build()).await;

    for header in [v1("203.0.113.9:4711"), v2("203.0.113.9:4711", &[])] {
        let mut tcp = opened_with(gw.addr(), &header[..3]).await;
        for piece in header[3..].chunks(7) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            tcp.write_all(piece).await.unwrap();
        }
        let got = get_over(tcp, &pki, &pki.client, "/inventory")
            .await
            .unwrap();
        assert_eq!(got.status, 200, "{got:?}");
    }
    // 2000 bytes of TLVs (a NOOP TLV): more than one peek.
    let noop = [&[0x04, 0x07, 0xcd][..], &[0u8; 1997]].concat();
    let got = via_lb(
        gw.addr(),
        &pki,
        &v2("198.51.100.20:50000", &noop),
        "/inventory",
    )
    .await
    .unwrap();
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(seen_header(&up, 0, "x-forwarded-for"), "203.0.113.9");
    assert_eq!(seen_header(&up, 2, "x-forwarded-for"), "198.51.100.20");
}

#[tokio::test]
async fn a_header_that_never_completes_is_cut_at_the_handshake_timeout() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let config = proxied(&pki, up.addr, "\"127.0.0.0/8\"").limits("handshake_timeout_ms = 400");
    let gw = Gateway::start(&config.build()).await;

    let started = Instant::now();
    let mut tcp = opened_with(gw.addr(), b"PROXY TCP4 203.0.113.9 ").await;
    let out = read_until_closed(&mut tcp, STEP).await;
    assert!(out.closed && out.bytes.is_empty(), "{out:?}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(350) && took < Duration::from_secs(5),
        "closed after {took:?}"
    );
    assert_eq!(refusals_reach(&gw, "timeout", 1.0).await, 1.0);
}
