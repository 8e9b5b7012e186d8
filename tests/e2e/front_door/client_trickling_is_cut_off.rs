//! Slow clients cannot hold a connection or a request open: a head that stops arriving is cut at
//! `header_read_timeout_ms`, a body that trickles is cut at `request_body_timeout_ms`.

use crate::support::*;

use std::time::Duration;

use tokio::io::AsyncWriteExt;

fn trickle_config(pki: &Pki, up: &Upstream) -> String {
    Config::new(pki, &[up.addr])
        .limits(
            "header_read_timeout_ms = 500\nrequest_body_timeout_ms = 500\nidle_timeout_ms = 20000",
        )
        .routes(PROXY_ROUTE)
        .build()
}

#[tokio::test]
async fn partial_head_then_silence_is_cut_off() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&trickle_config(&pki, &up)).await;

    let mut tls = connect(gw.addr(), &pki).await;
    tls.write_all(b"POST /items/1 HTTP/1.1\r\nHost: localhost\r\nX-Partial: ")
        .await
        .unwrap();
    tls.flush().await.unwrap();
    let out = read_until_closed(&mut tls, Duration::from_secs(5)).await;
    assert!(
        out.closed,
        "connection still open {:?} after a partial head",
        out.elapsed
    );
    assert!(
        out.elapsed >= Duration::from_millis(400) && out.elapsed < Duration::from_millis(3000),
        "cut after {:?}, expected about 500 ms",
        out.elapsed
    );
    let got = RawResponse::parse(&out.bytes);
    assert!(
        matches!(got.status, None | Some(408)),
        "expected a plain close or 408, got:\n{}",
        got.text
    );
    assert!(up.seen().is_empty());
}

#[tokio::test]
async fn head_trickled_byte_by_byte_is_cut_off() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&trickle_config(&pki, &up)).await;

    let tls = connect(gw.addr(), &pki).await;
    let (mut rd, mut wr) = tokio::io::split(tls);
    // One byte every 100 ms: each byte is activity, but the head never completes in time.
    let writer = tokio::spawn(async move {
        let head = b"GET /items/1 HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        for b in head {
            if wr.write_all(&[*b]).await.is_err() || wr.flush().await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let out = read_until_closed(&mut rd, Duration::from_secs(5)).await;
    writer.abort();
    assert!(out.closed, "a trickled head kept the connection open");
    assert!(
        out.elapsed < Duration::from_millis(3000),
        "cut after {:?}, expected about 500 ms",
        out.elapsed
    );
    let got = RawResponse::parse(&out.bytes);
    assert!(matches!(got.status, None | Some(408)), "{}", got.text);
    assert!(up.seen().is_empty());
}

#[tokio::test]
async fn trickled_body_is_cut_off_and_never_answered_200() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&trickle_config(&pki, &up)).await;

    let tls = connect(gw.addr(), &pki).await;
    let (mut rd, mut wr) = tokio::io::split(tls);
    let writer = tokio::spawn(async move {
        let head = b"POST /items/1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n";
        if wr.write_all(head).await.is_err() {
            return;
        }
        // 5 bytes every 200 ms: 100 bytes would take 4 s.
        for _ in 0..20 {
            if wr.write_all(b"slow.").await.is_err() || wr.flush().await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let out = read_until_closed(&mut rd, Duration::from_secs(6)).await;
    writer.abort();
    let got = RawResponse::parse(&out.bytes);
    eprintln!(
        "trickled body: status {:?} after {:?}",
        got.status, out.elapsed
    );
    assert!(
        out.closed || got.status.is_some(),
        "no answer and no close {:?} into a trickled body",
        out.elapsed
    );
    assert!(
        out.elapsed < Duration::from_millis(3500),
        "cut after {:?}, expected about 500 ms",
        out.elapsed
    );
    assert!(
        matches!(got.status, None | Some(408)),
        "expected 408 or a close, got:\n{}",
        got.text
    );
    if got.status == Some(408) {
        assert_eq!(
            got.header("x-amzn-errortype"),
            Some("RequestTimeoutException")
        );
        assert_eq!(got.body_text(), gateway_body("Request Timeout"));
    }
    // The upstream may have seen the head, but never the whole body.
    assert!(
        up.seen().iter().all(|s| s.body_len < 100),
        "{:?}",
        up.seen()
    );
}
