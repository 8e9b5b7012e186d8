//! An HTTP/2 header block must complete within `limits.header_read_timeout_ms`, as an HTTP/1.1
//! head must: a client that sends HEADERS and then slow CONTINUATION frames (or none) is closed.

use crate::support::*;

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty SETTINGS frame.
const SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];

/// An h2 frame of `kind` with `flags` on stream 1.
fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![
        (len >> 16) as u8,
        (len >> 8) as u8,
        len as u8,
        kind,
        flags,
        0,
        0,
        0,
        1,
    ];
    f.extend_from_slice(payload);
    f
}

/// An mTLS h2 connection to a gateway with `header_read_timeout_ms`, split, with the preface,
/// SETTINGS and a HEADERS frame (`block`, END_STREAM, no END_HEADERS) sent.
async fn open_block(
    timeout_ms: u64,
    block: &[u8],
) -> (
    Upstream,
    Gateway,
    impl tokio::io::AsyncRead + Unpin,
    impl AsyncWriteExt + Unpin,
) {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(
        &Config::new(&pki, &[up.addr])
            .limits(&format!("header_read_timeout_ms = {timeout_ms}"))
            .routes(PROXY_ROUTE)
            .build(),
    )
    .await;
    let connector = tls_client(&pki.root.pem, Some(&pki.client), &[b"h2"]);
    let tcp = TcpStream::connect(gw.addr()).await.unwrap();
    let tls = connector
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let (rd, mut wr) = tokio::io::split(tls);
    wr.write_all(PREFACE).await.unwrap();
    wr.write_all(SETTINGS).await.unwrap();
    wr.write_all(&frame(1, 0x1, block)).await.unwrap();
    wr.flush().await.unwrap();
    (up, gw, rd, wr)
}

#[tokio::test]
async fn headers_then_slow_continuation_frames_are_cut_at_header_read_timeout() {
    // :method GET, :scheme https, :path / (static table).
    let (up, _gw, mut rd, mut wr) = open_block(600, &[0x82, 0x87, 0x84]).await;
    let writer = tokio::spawn(async move {
        // One more piece of the block after 300 ms, then silence: the block never ends.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = wr.write_all(&frame(9, 0, &[0x41, 0x01, b'x'])).await;
        let _ = wr.flush().await;
        tokio::time::sleep(Duration::from_secs(20)).await;
        wr
    });
    let out = read_until_closed(&mut rd, Duration::from_secs(10)).await;
    writer.abort();
    assert!(
        out.closed,
        "an unfinished header block kept the connection open for {:?}",
        out.elapsed
    );
    assert!(
        out.elapsed >= Duration::from_millis(500) && out.elapsed < Duration::from_secs(5),
        "{:?}",
        out.elapsed
    );
    assert!(up.seen().is_empty(), "nothing may reach the upstream");
}

#[tokio::test]
async fn a_complete_header_block_in_pieces_is_served() {
    // :path /x as a literal: `/{proxy+}` does not match `/`.
    let (up, _gw, rd, mut wr) = open_block(2000, &[0x82, 0x87, 0x44, 2, b'/', b'x']).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // :authority localhost, with END_HEADERS: the block is complete well within the timeout.
    let mut authority = vec![0x41, 9];
    authority.extend_from_slice(b"localhost");
    wr.write_all(&frame(9, 0x4, &authority)).await.unwrap();
    wr.flush().await.unwrap();
    assert!(
        eventually(|| up.seen().len() == 1).await,
        "the request never reached the upstream"
    );
    drop((rd, wr));
}
