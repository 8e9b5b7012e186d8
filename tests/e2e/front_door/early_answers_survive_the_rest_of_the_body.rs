//! An HTTP/1 client that sends its whole request body before it reads (as simple clients do)
//! still gets the answer the gateway gave early (413 for a declared length over
//! `max_body_bytes`): the gateway closes its side, then takes in and discards the rest of the
//! body for a bounded time instead of resetting the connection under the client's writes (RFC
//! 9112 section 9.6). A client that keeps sending is cut off after a bound.

use crate::support::*;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(pki: &Pki, up: &Upstream) -> String {
    Config::new(pki, &[up.addr])
        .limits("max_body_bytes = 1024")
        .routes(PROXY_ROUTE)
        .build()
}

#[tokio::test]
async fn client_writing_its_whole_body_first_reads_the_413() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&config(&pki, &up)).await;
    const BODY: usize = 4 << 20;
    let mut tls = connect(gw.addr(), &pki).await;
    let head =
        format!("POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: {BODY}\r\n\r\n");
    let written = tokio::time::timeout(STEP, async {
        tls.write_all(head.as_bytes()).await?;
        for _ in 0..BODY / 65_536 {
            tls.write_all(&[b'x'; 65_536]).await?;
        }
        tls.flush().await
    })
    .await
    .expect("the body was not taken in");
    assert!(
        written.is_ok(),
        "the gateway broke the connection under the body: {written:?}"
    );
    let out = read_until_closed(&mut tls, STEP).await;
    let text = String::from_utf8_lossy(&out.bytes);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("Request Too Long"), "{text}");
    assert!(out.closed, "the connection stayed open after the 413");
    assert!(up.seen().is_empty(), "the refused request was forwarded");
}

#[tokio::test]
async fn a_client_that_keeps_sending_after_the_answer_is_cut_off_after_the_bound() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&config(&pki, &up)).await;
    let mut tls = connect(gw.addr(), &pki).await;
    let head = "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000000\r\n\r\n";
    tls.write_all(head.as_bytes()).await.unwrap();
    tls.flush().await.unwrap();
    let mut first = [0u8; 12];
    tokio::time::timeout(STEP, tls.read_exact(&mut first))
        .await
        .expect("the 413 came at once")
        .unwrap();
    assert_eq!(&first, b"HTTP/1.1 413");
    // Then the client trickles body bytes on: they are taken in for a while, not forever.
    let answered = Instant::now();
    let cut = loop {
        if answered.elapsed() > Duration::from_secs(15) {
            break None;
        }
        let wrote = tls.write_all(&[b'x'; 1024]).await.and(tls.flush().await);
        if wrote.is_err() {
            break Some(answered.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let cut = cut.expect("the gateway took body bytes for 15 s after its answer");
    assert!(
        cut >= Duration::from_secs(2),
        "reset {cut:?} after the answer: the rest of the body was not taken in"
    );
    assert!(cut < Duration::from_secs(9), "cut only after {cut:?}");
}
