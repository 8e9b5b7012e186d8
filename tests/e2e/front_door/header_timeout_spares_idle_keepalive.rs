//! The header timeout cuts a client that trickles its request head, but not a keep-alive
//! connection that is merely idle between requests (that is the idle timeout's job).

use crate::support::*;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(pki: &Pki, up: std::net::SocketAddr, idle_ms: u64) -> String {
    Config::new(pki, &[up])
        .limits(&format!(
            "header_read_timeout_ms = 300\nidle_timeout_ms = {idle_ms}"
        ))
        .build()
}

/// Read one response head (up to the blank line) plus whatever body bytes came with it.
async fn read_response(tls: &mut (impl AsyncReadExt + Unpin)) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + STEP;
    while Instant::now() < deadline {
        let n = tokio::time::timeout(STEP, tls.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out);
        if let Some(i) = text.find("\r\n\r\n") {
            let len: usize = text[..i]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if out.len() >= i + 4 + len {
                break;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

const REQ: &[u8] = b"GET /inventory HTTP/1.1\r\nHost: localhost\r\n\r\n";

#[tokio::test]
async fn idle_keepalive_outlives_the_header_timeout() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&config(&pki, up.addr, 10_000)).await;
    let mut tls = connect(gw.addr(), &pki).await;
    tls.write_all(REQ).await.unwrap();
    assert!(read_response(&mut tls).await.starts_with("HTTP/1.1 200"));
    // Idle for more than three header timeouts, then reuse the same connection.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    tls.write_all(REQ).await.unwrap();
    let second = read_response(&mut tls).await;
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
    assert_eq!(up.seen().len(), 2);
}

#[tokio::test]
async fn trickled_head_is_cut_off_at_the_header_timeout() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&config(&pki, up.addr, 10_000)).await;
    let mut tls = connect(gw.addr(), &pki).await;
    let start = Instant::now();
    tls.write_all(b"GET /inventory HTTP/1.1\r\nHost: loc")
        .await
        .unwrap();
    // The server must close well before the idle timeout (10 s) and the step bound.
    let mut rest = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut rest)).await;
    let elapsed = start.elapsed();
    assert!(r.is_ok(), "connection still open after 5 s");
    assert!(!String::from_utf8_lossy(&rest).contains(" 200 "));
    assert!(
        elapsed >= Duration::from_millis(250),
        "cut too early: {elapsed:?}"
    );
    assert!(up.seen().is_empty());
}

#[tokio::test]
async fn silent_connection_is_cut_at_the_header_timeout_for_its_first_request() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&config(&pki, up.addr, 10_000)).await;
    let mut tls = connect(gw.addr(), &pki).await;
    let mut rest = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut rest)).await;
    assert!(
        r.is_ok(),
        "a connection that never sends a request must be closed"
    );
}

#[tokio::test]
async fn idle_connection_is_closed_at_the_idle_timeout() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&config(&pki, up.addr, 400)).await;
    let mut tls = connect(gw.addr(), &pki).await;
    tls.write_all(REQ).await.unwrap();
    assert!(read_response(&mut tls).await.starts_with("HTTP/1.1 200"));
    let start = Instant::now();
    let mut rest = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut rest)).await;
    assert!(r.is_ok(), "idle connection still open after 5 s");
    assert!(
        start.elapsed() >= Duration::from_millis(350),
        "{:?}",
        start.elapsed()
    );
}
