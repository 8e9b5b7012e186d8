//! Responses are bounded in time: an upstream that stops sending its body is cut after
//! `limits.response_idle_timeout_ms` (or the route's `timeout_ms`, which bounds every chunk,
//! not only the head), a client that takes nothing (a full receive window on HTTP/1.1, a
//! flow-control window of 0 on HTTP/2) has its connection closed, and the access log says
//! which. A trickle that keeps moving is not cut.

use crate::support::*;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How the test upstream sends its response body.
#[derive(Clone, Copy)]
enum Body {
    /// Head with Content-Length 1000, 10 bytes, then nothing (the connection stays open).
    Stall,
    /// Head with Content-Length 20, then one byte every 100 ms.
    Trickle,
    /// A chunked body that never ends, as fast as the gateway takes it.
    Endless,
}

/// An upstream that answers every request with `body`, holding each connection for 30 s at most.
async fn upstream(body: Body) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut n = 0;
                while !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") && n < buf.len() {
                    match s.read(&mut buf[n..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => n += k,
                    }
                }
                let work = async {
                    match body {
                        Body::Stall => {
                            s.write_all(
                                b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789",
                            )
                            .await?;
                            tokio::time::sleep(Duration::from_secs(30)).await;
                        }
                        Body::Trickle => {
                            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n")
                                .await?;
                            for _ in 0..20 {
                                tokio::time::sleep(Duration::from_millis(100)).await;
                                s.write_all(b"x").await?;
                            }
                        }
                        Body::Endless => {
                            s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                                .await?;
                            let chunk = format!("4000\r\n{}\r\n", "y".repeat(0x4000));
                            // Bounded: 1 GiB at most, far more than any socket buffers hold.
                            for _ in 0..65_536 {
                                s.write_all(chunk.as_bytes()).await?;
                            }
                        }
                    }
                    Ok::<_, std::io::Error>(())
                };
                let _ = tokio::time::timeout(Duration::from_secs(30), work).await;
            });
        }
    });
    addr
}

fn config_with(pki: &Pki, limits: &str, up: SocketAddr, timeout_ms: Option<u64>) -> String {
    let mut route = PROXY_ROUTE.to_owned();
    if let Some(t) = timeout_ms {
        route.push_str(&format!("timeout_ms = {t}\n"));
    }
    Config::new(pki, &[up])
        .limits(limits)
        .routes(&route)
        .build()
}

/// GET `/x` over a fresh connection with `alpn`: the status, then how the body ended and when.
async fn get_body(
    gw: &Gateway,
    pki: &Pki,
    alpn: &[u8],
) -> (u16, Result<Vec<u8>, String>, Duration) {
    let connector = tls_client(&pki.root.pem, Some(&pki.client), &[alpn]);
    let tcp = TcpStream::connect(gw.addr()).await.unwrap();
    let tls = connector
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let io = hyper_util::rt::TokioIo::new(tls);
    let req = http::Request::get("https://localhost/x")
        .header("host", "localhost")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = if alpn == b"h2" {
        let (mut send, conn) =
            hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
                .await
                .unwrap();
        tokio::spawn(conn);
        send.send_request(req).await.unwrap()
    } else {
        let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        send.send_request(req).await.unwrap()
    };
    let status = resp.status().as_u16();
    let start = Instant::now();
    let body = tokio::time::timeout(Duration::from_secs(10), resp.into_body().collect())
        .await
        .expect("the body neither ended nor was cut within 10 s")
        .map(|b| b.to_bytes().to_vec())
        .map_err(|e| e.to_string());
    (status, body, start.elapsed())
}

#[tokio::test]
async fn upstream_that_stops_sending_its_body_is_cut_after_response_idle_timeout() {
    let pki = Pki::new("localhost");
    let up = upstream(Body::Stall).await;
    let gw = Gateway::start(&config_with(
        &pki,
        "response_idle_timeout_ms = 500",
        up,
        None,
    ))
    .await;
    for alpn in [&b"http/1.1"[..], b"h2"] {
        let (status, body, elapsed) = get_body(&gw, &pki, alpn).await;
        assert_eq!(status, 200);
        assert!(
            body.is_err(),
            "a 10-of-1000-byte body ended cleanly: {body:?}"
        );
        assert!(
            elapsed >= Duration::from_millis(400) && elapsed < Duration::from_secs(5),
            "cut after {elapsed:?}"
        );
    }
}

#[tokio::test]
async fn route_timeout_bounds_every_chunk_not_only_the_head() {
    let pki = Pki::new("localhost");
    let up = upstream(Body::Stall).await;
    // The response idle timeout is long; the route's 400 ms is what cuts the body.
    let gw = Gateway::start(&config_with(&pki, "", up, Some(400))).await;
    let (status, body, elapsed) = get_body(&gw, &pki, b"http/1.1").await;
    assert_eq!(status, 200);
    assert!(body.is_err(), "{body:?}");
    assert!(elapsed < Duration::from_secs(5), "cut after {elapsed:?}");
}

#[tokio::test]
async fn a_trickle_that_keeps_moving_is_not_cut() {
    let pki = Pki::new("localhost");
    let up = upstream(Body::Trickle).await;
    let gw = Gateway::start(&config_with(
        &pki,
        "response_idle_timeout_ms = 500",
        up,
        None,
    ))
    .await;
    for alpn in [&b"http/1.1"[..], b"h2"] {
        let (status, body, elapsed) = get_body(&gw, &pki, alpn).await;
        assert_eq!(status, 200);
        assert_eq!(body.as_deref(), Ok(&b"xxxxxxxxxxxxxxxxxxxx"[..]));
        assert!(elapsed >= Duration::from_millis(1500), "{elapsed:?}");
    }
}

#[tokio::test]
async fn http1_client_that_stops_reading_is_closed_and_logged_as_cut() {
    let pki = Pki::new("localhost");
    let up = upstream(Body::Endless).await;
    let config = pki.write(
        "gateway.toml",
        &config_with(&pki, "response_idle_timeout_ms = 500", up, None),
    );
    let served = Served::start(&config);
    let addr = served.listen_addr().await;
    // A small receive buffer, and no reads while the gateway pushes an endless body.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let tcp = sock.connect(addr).await.unwrap();
    let connector = tls_client(&pki.root.pem, Some(&pki.client), &[b"http/1.1"]);
    let mut tls = connector
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    tls.write_all(b"GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    tls.flush().await.unwrap();
    let line = served
        .wait_line(|l| l.contains("\"target\":\"access\"") && l.contains("client_stalled"))
        .await;
    assert!(
        line.is_some(),
        "no access line with cut client_stalled:\n{}",
        served.dump()
    );
    // The connection is closed: what the socket still holds drains, then it ends.
    let out = read_until_closed(&mut tls, Duration::from_secs(10)).await;
    assert!(
        out.closed,
        "still open after reading {} bytes",
        out.bytes.len()
    );
}

#[tokio::test]
async fn upstream_idle_cut_is_logged_as_such() {
    let pki = Pki::new("localhost");
    let up = upstream(Body::Stall).await;
    let config = pki.write(
        "gateway.toml",
        &config_with(&pki, "response_idle_timeout_ms = 300", up, None),
    );
    let served = Served::start(&config);
    let addr = served.listen_addr().await;
    let mut tls = connect(addr, &pki).await;
    tls.write_all(b"GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let out = read_until_closed(&mut tls, Duration::from_secs(10)).await;
    assert!(out.closed);
    let ev = served
        .wait_event(|e| e["target"] == "access")
        .await
        .unwrap_or_else(|| panic!("no access line:\n{}", served.dump()));
    assert_eq!(ev["cut"], "upstream_idle", "{ev}");
    assert_eq!(ev["aborted"], true, "{ev}");
    assert_eq!(ev["bytes"], 10, "{ev}");
}

#[tokio::test]
async fn h2_client_with_a_zero_window_is_closed_after_response_idle_timeout() {
    let pki = Pki::new("localhost");
    let up = upstream(Body::Endless).await;
    let gw = Gateway::start(&config_with(
        &pki,
        "response_idle_timeout_ms = 500",
        up,
        None,
    ))
    .await;
    let connector = tls_client(&pki.root.pem, Some(&pki.client), &[b"h2"]);
    let tcp = TcpStream::connect(gw.addr()).await.unwrap();
    let tls = connector
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    // A real h2 client that advertises a window of 0 and never opens it.
    let (mut client, conn) = h2::client::Builder::new()
        .initial_window_size(0)
        .handshake::<_, bytes::Bytes>(tls)
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    let req = http::Request::get("https://localhost/x").body(()).unwrap();
    let (resp, _) = client.send_request(req, true).unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(5), resp)
        .await
        .expect("no response head")
        .unwrap();
    assert_eq!(resp.status(), 200);
    let start = Instant::now();
    let mut body = resp.into_body();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        // No capacity is ever released, so no data can arrive: only the end can.
        while let Some(Ok(_)) = body.data().await {}
    })
    .await;
    assert!(ended.is_ok(), "a zero-window stream was kept open");
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(400) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    let conn = tokio::time::timeout(Duration::from_secs(5), conn).await;
    assert!(conn.is_ok(), "the connection stayed open");
}
