//! A request body that breaks (malformed chunk line, size overflow, truncated) is the client's
//! error: 400, and the upstream connection it was streaming to is closed, never pooled for the
//! next request.

use crate::support::*;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the upstream saw: connections accepted, and which of them the gateway closed.
#[derive(Default)]
struct Conns {
    accepted: usize,
    closed: Vec<usize>,
}

/// An upstream that reads each connection until EOF, answering bodiless requests with 200 and
/// never answering one with a body (so the gateway is still streaming when the client breaks).
async fn counting_upstream() -> (SocketAddr, Arc<Mutex<Conns>>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let conns: Arc<Mutex<Conns>> = Arc::default();
    let seen = conns.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let id = {
                let mut c = seen.lock().unwrap();
                c.accepted += 1;
                c.accepted
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let mut pending = Vec::new();
                let run = async {
                    loop {
                        let n = s.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        pending.extend_from_slice(&buf[..n]);
                        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&pending[..end]).to_lowercase();
                            pending.drain(..end + 4);
                            if head.starts_with("get ") {
                                let _ = s
                                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                                    .await;
                            }
                        }
                    }
                };
                let _ = tokio::time::timeout(Duration::from_secs(30), run).await;
                seen.lock().unwrap().closed.push(id);
            });
        }
    });
    (addr, conns)
}

#[tokio::test]
async fn broken_chunked_body_closes_the_upstream_connection_it_was_streaming_to() {
    let pki = Pki::new("localhost");
    let (up, conns) = counting_upstream().await;
    let gw = Gateway::start(&Config::new(&pki, &[up]).routes(PROXY_ROUTE).build()).await;
    for (i, broken) in [
        "5\r\nhello\r\nzz\r\n",
        "5\r\nhello\r\nffffffffffffffffffff\r\nabcd\r\n",
        "5\r\nhello\r\n5\nworld\r\n",
    ]
    .iter()
    .enumerate()
    {
        let req = format!(
            "POST /upload HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n{broken}"
        );
        let got = exchange(gw.addr(), &pki, req.as_bytes()).await;
        assert_eq!(got.status, Some(400), "{broken:?}: {}", got.text);
        let n = i + 1;
        assert!(
            eventually(|| conns.lock().unwrap().closed.len() == n).await,
            "{broken:?}: the upstream connection stayed open"
        );
        // The next request needs a connection of its own: nothing broken was pooled.
        let got = exchange(
            gw.addr(),
            &pki,
            b"GET /after HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(got.status, Some(200), "{}", got.text);
        // One live upstream connection remains: the GET's, pooled; the broken one is gone.
        let c = conns.lock().unwrap();
        assert_eq!(c.closed.len(), n);
        assert_eq!(c.accepted - c.closed.len(), 1, "live upstream connections");
    }
}

#[tokio::test]
async fn truncated_chunked_body_closes_the_upstream_connection() {
    let pki = Pki::new("localhost");
    let (up, conns) = counting_upstream().await;
    let gw = Gateway::start(&Config::new(&pki, &[up]).routes(PROXY_ROUTE).build()).await;
    let mut tls = connect(gw.addr(), &pki).await;
    tls.write_all(
        b"POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
    )
    .await
    .unwrap();
    tls.flush().await.unwrap();
    assert!(
        eventually(|| conns.lock().unwrap().accepted == 1).await,
        "the request never reached the upstream"
    );
    // The client goes away mid-chunk.
    drop(tls);
    assert!(
        eventually(|| conns.lock().unwrap().closed == vec![1]).await,
        "the upstream connection stayed open after the client's body was cut short"
    );
}
