//! Helpers shared by the HTTP behaviour tests: configuration builders, raw HTTP/1.1 exchanges
//! that tolerate the server closing early, and a small response parser.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{Pki, STEP, tls_client};

/// `ANY /{proxy+}` -> `http://${stageVariables.backend}/{proxy}`: everything goes upstream as is.
pub const PROXY_ROUTE: &str = "[[api.inv.routes]]\nmethod = \"ANY\"\npath = \"/{proxy+}\"\nintegration = \"http://${stageVariables.backend}/{proxy}\"\n";

/// A route table entry for API `inv`.
pub fn route(method: &str, path: &str, integration: &str) -> String {
    format!(
        "[[api.inv.routes]]\nmethod = \"{method}\"\npath = \"{path}\"\nintegration = \"{integration}\"\n"
    )
}

/// Like `common::simple_config`, but with a `[limits]` table and pool `onprem` over `targets`.
pub fn config(pki: &Pki, limits: &str, targets: &[SocketAddr], routes: &str) -> String {
    let targets = targets
        .iter()
        .map(|t| format!("\"{t}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "[limits]\n{limits}\n{}\n[[domain.mapping]]\nbase_path = \"/\"\napi = \"inv\"\nstage = \"prod\"\n\n[api.inv.stages.prod]\nvariables = {{ backend = \"onprem\" }}\n\n{routes}\n[upstream.onprem]\ntargets = [{targets}]\n",
        pki.domain_toml("localhost", "127.0.0.1:0")
    )
}

/// An mTLS connection to the gateway as the PKI's good client, speaking HTTP/1.1.
pub async fn connect(addr: SocketAddr, pki: &Pki) -> tokio_rustls::client::TlsStream<TcpStream> {
    let connector = tls_client(&pki.root.pem, Some(&pki.client), &[b"http/1.1"]);
    let tcp = tokio::time::timeout(STEP, TcpStream::connect(addr))
        .await
        .expect("connect timed out")
        .unwrap();
    tokio::time::timeout(
        STEP,
        connector.connect(ServerName::try_from("localhost").unwrap(), tcp),
    )
    .await
    .expect("handshake timed out")
    .unwrap()
}

/// What a read until close saw.
#[derive(Debug)]
pub struct ReadOutcome {
    /// Every byte received.
    pub bytes: Vec<u8>,
    /// The connection ended (EOF or error) rather than the bound passing.
    pub closed: bool,
    /// Time from the start of the read to its end.
    pub elapsed: Duration,
}

/// Read until the peer closes (EOF or error) or `bound` passes.
pub async fn read_until_closed(r: &mut (impl AsyncRead + Unpin), bound: Duration) -> ReadOutcome {
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + bound;
    let mut bytes = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let closed = loop {
        match tokio::time::timeout_at(deadline, r.read(&mut buf)).await {
            Err(_) => break false,
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => bytes.extend_from_slice(&buf[..n]),
        }
    };
    ReadOutcome {
        bytes,
        closed,
        elapsed: start.elapsed(),
    }
}

/// Send `bytes` over a fresh mTLS connection while reading, and read until the server closes
/// (bounded by `STEP`). Write errors are ignored: the server may answer and close before the
/// whole request is written (an oversized head or body), and the answer is what counts.
pub async fn exchange(addr: SocketAddr, pki: &Pki, bytes: &[u8]) -> RawResponse {
    let tls = connect(addr, pki).await;
    let (mut rd, mut wr) = tokio::io::split(tls);
    let data = bytes.to_vec();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&data).await;
        let _ = wr.flush().await;
        // Keep the write half open until the read side is done.
        wr
    });
    let out = read_until_closed(&mut rd, STEP).await;
    writer.abort();
    assert!(
        out.closed,
        "the server did not close the connection within {STEP:?}"
    );
    RawResponse::parse(&out.bytes)
}

/// An HTTP/1.1 response as bytes on the wire.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// Status code of the first response, if any arrived.
    pub status: Option<u16>,
    /// Header names (lower case) and values of the first response.
    pub headers: Vec<(String, String)>,
    /// Everything after the first head.
    pub body: Vec<u8>,
    /// The whole exchange as text, for assertion messages.
    pub text: String,
}

impl RawResponse {
    /// Parse the first response in `bytes` (tolerates nothing having arrived).
    pub fn parse(bytes: &[u8]) -> RawResponse {
        let text = String::from_utf8_lossy(bytes).into_owned();
        let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
            return RawResponse {
                status: None,
                headers: vec![],
                body: vec![],
                text,
            };
        };
        let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok());
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        RawResponse {
            status,
            headers,
            body: bytes[end + 4..].to_vec(),
            text,
        }
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The JSON body of a gateway response with `message`.
pub fn gateway_body(message: &str) -> String {
    format!("{{\"message\":\"{message}\"}}")
}
