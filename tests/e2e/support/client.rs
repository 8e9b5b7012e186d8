//! The test client: one rustls client builder, and HTTP/1.1, HTTP/2 and raw requests over it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, HandshakeKind, ProtocolVersion, SupportedProtocolVersion};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{Gateway, Issued, Pki, STEP, Upstream};

/// Both TLS versions the gateway may speak.
pub const BOTH: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

/// TLS 1.2 only.
pub const TLS12_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];

/// TLS 1.3 only.
pub const TLS13_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];

/// The one rustls client builder: trusts `roots_pem`, presents `client`, speaks `versions`.
///
/// Offers `alpn`; resumption is disabled (set `resumption` on the result to change that).
pub fn client_config(
    roots_pem: &[&str],
    client: Option<&Issued>,
    versions: &[&'static SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for pem in roots_pem {
        for c in rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let b = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    let mut cfg = match client {
        Some(c) => b
            .with_client_auth_cert(c.chain_der.clone(), c.key())
            .unwrap(),
        None => b.with_no_client_auth(),
    };
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    cfg.resumption = rustls::client::Resumption::disabled();
    cfg
}

/// `client_config` as a connector: trusting `root_pem`, TLS 1.2 and 1.3, presenting `client`.
pub fn tls_client(root_pem: &str, client: Option<&Issued>, alpn: &[&[u8]]) -> TlsConnector {
    TlsConnector::from(Arc::new(client_config(&[root_pem], client, BOTH, alpn)))
}

/// A `ServerName` for a DNS name.
pub fn dns(name: &str) -> ServerName<'static> {
    ServerName::try_from(name.to_owned()).unwrap()
}

/// A `ServerName` for 127.0.0.1: rustls sends no SNI for IP addresses.
pub fn loopback_ip() -> ServerName<'static> {
    ServerName::IpAddress(std::net::IpAddr::from([127, 0, 0, 1]).into())
}

/// A response read back by the test client.
#[derive(Debug)]
pub struct Got {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body, as (lossy) text.
    pub body: String,
}

/// One HTTP/1.1 request as `client` with SNI `sni`; `Err` when refused or failed.
pub async fn request(
    addr: SocketAddr,
    sni: &str,
    root_pem: &str,
    client: Option<&Issued>,
    req: Request<Full<Bytes>>,
) -> Result<Got, String> {
    let name = ServerName::try_from(sni.to_owned()).map_err(|e| e.to_string())?;
    let cfg = client_config(&[root_pem], client, BOTH, &[b"http/1.1"]);
    let attempt = tls_exchange(addr, name, Arc::new(cfg), req).await;
    attempt.result.map(|(got, _)| got)
}

/// Read a whole response.
pub async fn collect(resp: Response<Incoming>) -> Result<Got, String> {
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(Got {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// `GET path` with the PKI's good client, which must get a response.
pub async fn get(gw: &Gateway, pki: &Pki, path: &str) -> Got {
    get_at(gw.addr(), pki, path).await.unwrap()
}

/// `METHOD path` (no body) on a fresh mTLS connection as the PKI's good client; panics naming
/// the request when it fails.
pub async fn send(gw: &Gateway, pki: &Pki, method: &str, path: &str) -> Got {
    request(
        gw.addr(),
        "localhost",
        &pki.root.pem,
        Some(&pki.client),
        req(method, path, ""),
    )
    .await
    .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// `GET path` on a fresh mTLS connection as the PKI's good client.
pub async fn get_at(addr: SocketAddr, pki: &Pki, path: &str) -> Result<Got, String> {
    request(
        addr,
        "localhost",
        &pki.root.pem,
        Some(&pki.client),
        get_req(path),
    )
    .await
}

/// A GET request for `path` with Host localhost.
pub fn get_req(path: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// A GET for `path`, with an absolute `https://localhost` URI so it also works over HTTP/2.
pub fn get_abs(path: &str) -> Request<Full<Bytes>> {
    Request::get(format!("https://localhost{path}"))
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// A request with a method and an optional body.
pub fn req(method: &str, path: &str, body: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

/// One HTTP/1.1 keep-alive connection to the gateway.
pub struct KeepAlive {
    send: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    /// The connection task; it ends when the connection closes.
    pub conn: tokio::task::JoinHandle<()>,
}

impl KeepAlive {
    /// Connect as `client` (the PKI's good client when `None`).
    pub async fn open(addr: SocketAddr, pki: &Pki, client: Option<&Issued>) -> KeepAlive {
        let connector = tls_client(
            &pki.root.pem,
            Some(client.unwrap_or(&pki.client)),
            &[b"http/1.1"],
        );
        let fut = async {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let tls = connector
                .connect(ServerName::try_from("localhost").unwrap(), tcp)
                .await
                .unwrap();
            let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .unwrap();
            let conn = tokio::spawn(async move {
                let _ = conn.await;
            });
            KeepAlive { send, conn }
        };
        tokio::time::timeout(STEP, fut)
            .await
            .expect("keep-alive connect timed out")
    }

    /// Send one request on this connection.
    pub async fn send(&mut self, req: Request<Full<Bytes>>) -> Result<Got, String> {
        let fut = async {
            self.send
                .ready()
                .await
                .map_err(|e| format!("not ready: {e}"))?;
            let resp = self
                .send
                .send_request(req)
                .await
                .map_err(|e| format!("request: {e}"))?;
            collect(resp).await
        };
        tokio::time::timeout(STEP, fut)
            .await
            .map_err(|_| "timed out".to_string())?
    }

    /// `GET path` on this connection.
    pub async fn get(&mut self, path: &str) -> Result<Got, String> {
        self.send(get_req(path)).await
    }

    /// `GET /hold/1` on this connection, held by `up` while `during` runs (a reload, say), then
    /// released: the response must be a 200 that says `Connection: close`.
    pub async fn closing_after_held_request(
        &mut self,
        up: &Upstream,
        during: impl std::future::Future<Output = ()>,
    ) {
        let while_held = async {
            let held =
                super::eventually(|| up.seen().iter().any(|s| s.path_and_query == "/hold/1"));
            assert!(held.await, "the held request never reached the upstream");
            during.await;
            up.release();
        };
        let (got, ()) = tokio::join!(self.get("/hold/1"), while_held);
        let got = got.expect("the request held across the change is answered");
        assert_eq!(got.status, 200, "{got:?}");
        assert_eq!(
            got.headers.get("connection").map(|v| v.to_str().unwrap()),
            Some("close"),
            "{got:?}"
        );
    }

    /// `GET path` on this connection with `x-request-id: id`, answered 200 (panics otherwise).
    pub async fn get_ok_with_id(&mut self, path: &str, id: &str) -> Got {
        let mut req = get_req(path);
        req.headers_mut()
            .insert("x-request-id", id.parse().expect("a header-safe id"));
        let got = self.send(req).await.unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(got.status, 200, "{id}: {got:?}");
        got
    }
}

/// What the client side of a TLS connection negotiated.
#[derive(Debug, Clone)]
pub struct Negotiated {
    /// TLS version.
    pub version: Option<ProtocolVersion>,
    /// ALPN protocol.
    pub alpn: Option<Vec<u8>>,
    /// Full or resumed.
    pub kind: Option<HandshakeKind>,
}

/// One connection attempt: the client's own address, and the outcome.
#[derive(Debug)]
pub struct Attempt {
    /// The client socket's local address (what the gateway logs as `client=`).
    pub local: Option<SocketAddr>,
    /// The response and what TLS negotiated, or why it failed.
    pub result: Result<(Got, Negotiated), String>,
}

impl Attempt {
    /// The response, panicking with the failure.
    pub fn ok(self) -> (Got, Negotiated) {
        self.result
            .unwrap_or_else(|e| panic!("expected a response, got an error: {e}"))
    }
}

/// One request with `cfg` as `name`, over whichever of h2 or HTTP/1.1 ALPN chose, within `STEP`.
pub async fn tls_exchange(
    addr: SocketAddr,
    name: ServerName<'static>,
    cfg: Arc<ClientConfig>,
    req: Request<Full<Bytes>>,
) -> Attempt {
    let connector = TlsConnector::from(cfg);
    let tcp = match tokio::time::timeout(STEP, TcpStream::connect(addr)).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => {
            return Attempt {
                local: None,
                result: Err(format!("connect: {e}")),
            };
        }
        Err(_) => {
            return Attempt {
                local: None,
                result: Err("connect timed out".into()),
            };
        }
    };
    let local = tcp.local_addr().ok();
    let fut = async move {
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let conn = tls.get_ref().1;
        let negotiated = Negotiated {
            version: conn.protocol_version(),
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
            kind: conn.handshake_kind(),
        };
        let resp = if negotiated.alpn.as_deref() == Some(b"h2") {
            let (mut send, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                    .await
                    .map_err(|e| format!("h2 handshake: {e}"))?;
            tokio::spawn(conn);
            send.send_request(req)
                .await
                .map_err(|e| format!("request: {e}"))?
        } else {
            let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            send.send_request(req)
                .await
                .map_err(|e| format!("request: {e}"))?
        };
        Ok((collect(resp).await?, negotiated))
    };
    let result = tokio::time::timeout(STEP, fut)
        .await
        .unwrap_or_else(|_| Err("timed out".into()));
    Attempt { local, result }
}

/// Assert a connection attempt was refused and the upstream saw nothing.
pub fn assert_refused<T: std::fmt::Debug>(what: &str, result: &Result<T, String>, up: &Upstream) {
    assert!(
        result.is_err(),
        "{what}: expected the gateway to refuse the client, got {result:?}"
    );
    let seen = up.seen();
    assert!(
        seen.is_empty(),
        "{what}: the upstream must see nothing, saw {seen:?}"
    );
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

/// Raw bytes over a fresh mTLS connection, read until the server closes (within `STEP`).
///
/// Write errors are ignored: the server may answer and close before the whole request is
/// written (an oversized head or body), and the answer is what counts.
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

/// Plain HTTP/1.1 `GET path` to `addr` (the admin endpoint): status and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let fut = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let req = Request::get(path)
            .header("host", addr.to_string())
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    };
    tokio::time::timeout(STEP, fut)
        .await
        .map_err(|_| "timed out".to_string())?
}
