//! A hostile upstream: a malformed response (Content-Length with Transfer-Encoding, two
//! Content-Lengths, bare CR, NUL or a space in a header name, obs-fold, garbage, a head over
//! `limits.max_response_header_bytes`) is a 502 with API Gateway's JSON shape, never relayed
//! and never reported as a 504 timeout.

use crate::support::*;

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn response_for(path: &str) -> Vec<u8> {
    let big = "x".repeat(20_000);
    let r = match path {
        "/ok" => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_owned(),
        "/cl-te" => "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".into(),
        "/two-cl" => "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!".into(),
        "/bare-cr" => "HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n".into(),
        "/nul" => "HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 0\r\n\r\n".into(),
        "/space-name" => "HTTP/1.1 200 OK\r\nX A: b\r\nContent-Length: 0\r\n\r\n".into(),
        "/obs-fold" => "HTTP/1.1 200 OK\r\nX-A: a\r\n  folded\r\nContent-Length: 0\r\n\r\n".into(),
        "/garbage" => "garbage that is not HTTP\r\n\r\n".into(),
        "/huge-head" => format!("HTTP/1.1 200 OK\r\nX-Big: {big}\r\nContent-Length: 0\r\n\r\n"),
        _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".into(),
    };
    r.into_bytes()
}

/// An upstream that answers each request with the raw bytes its path names, then closes.
async fn hostile_upstream() -> SocketAddr {
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
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
                let _ = s.write_all(&response_for(&path)).await;
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn malformed_upstream_responses_are_502_never_relayed() {
    let pki = Pki::new("localhost");
    let up = hostile_upstream().await;
    let gw = Gateway::start(&simple_config(&pki, up, PROXY_ROUTE)).await;
    let send = |path: &'static str| {
        let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        let (gw, pki) = (&gw, &pki);
        async move { exchange(gw.addr(), pki, req.as_bytes()).await }
    };
    let ok = send("/ok").await;
    assert_eq!(ok.status, Some(200), "{}", ok.text);
    let mut wrong = Vec::new();
    for path in [
        "/cl-te",
        "/two-cl",
        "/bare-cr",
        "/nul",
        "/space-name",
        "/obs-fold",
        "/garbage",
        "/huge-head",
    ] {
        let got = send(path).await;
        let shaped = got.header("x-amzn-errortype") == Some("InternalServerErrorException")
            && got.body_text().starts_with("{\"message\":");
        if got.status != Some(502) || !shaped || got.text.contains("hello") {
            wrong.push(format!("{path}: {}", got.text));
        }
    }
    assert!(wrong.is_empty(), "not answered 502:\n{}", wrong.join("\n"));
}
