//! hyper's side of one connection. HTTP/2 is one hyper connection for the connection's whole
//! life. HTTP/1 is served request by request: once a response is flushed and nothing of the
//! next request has arrived, hyper's connection (its read and write buffers, the header map it
//! caches, its request slot) is dropped, and only the TLS stream and the framing guard wait for
//! the next request; its first bytes build a new one. An idle keep-alive connection holds no
//! HTTP buffer, as NGINX frees its request buffers between requests. A connection whose next
//! request came within [`LINGER`] of parking is busy: it keeps hyper's connection until it has
//! been quiet for `LINGER`, so back-to-back requests do not build one each.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::HttpService;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Duration, Instant, Sleep};

use crate::framing::{FramingGuard, Traffic};
use crate::telemetry::InFlight;

/// An error that ended a connection: hyper's, or the socket's while no request was open.
pub(in crate::server) type BoxError = Box<dyn StdError + Send + Sync>;

/// What the framing guard hands on first when a client starts HTTP/2 without ALPN: hyper's
/// automatic builder served HTTP/2 then, so this does too.
const H2_PREFACE_HEAD: &[u8] = b"PRI * HTTP/2.0\r\n\r\n";

/// How quiet a busy HTTP/1 connection must be before it parks; a request that comes within
/// this of parking makes the connection busy.
const LINGER: Duration = Duration::from_millis(10);

/// Longest an HTTP/1 connection closed in the middle of a request body (an early answer: 413,
/// 403) takes in and discards the rest of it, so a client that writes its whole body before
/// reading is not reset under its writes and gets to read the answer (RFC 9112 section 9.6;
/// NGINX's `lingering_close`).
const DISCARD_TIME: Duration = Duration::from_secs(5);

/// Most bytes discarded that way: past it, the connection closes even within [`DISCARD_TIME`].
const DISCARD_BYTES: u64 = 64 << 20;

/// The connection as hyper sees it.
type Io<T> = TokioIo<FramingGuard<T>>;

/// A busy connection's wait before parking: it parks when `timer` fires and no byte has moved
/// since it was set (`moves`).
struct Linger {
    timer: Pin<Box<Sleep>>,
    moves: u64,
}

/// The rest of a request body after an early answer, read and dropped until the client
/// closes, [`DISCARD_TIME`] passes or [`DISCARD_BYTES`] came.
struct Discard<T> {
    io: Io<T>,
    until: Pin<Box<Sleep>>,
    left: u64,
}

/// hyper's side of one connection (see the module documentation).
pub(in crate::server) struct Http<T, S>
where
    S: HttpService<Incoming>,
{
    state: State<T, S>,
    service: S,
    /// The largest request head hyper must take (`max_header_bytes` plus slack).
    max_head: usize,
    in_flight: Arc<InFlight>,
    traffic: Arc<Traffic>,
    /// When the connection last parked.
    parked_at: Option<Instant>,
    /// While serving a busy connection: its wait before parking.
    linger: Option<Linger>,
    /// Closing was asked for: when hyper ends, the connection ends.
    closing: bool,
}

enum State<T, S>
where
    S: HttpService<Incoming>,
{
    /// HTTP/1 between requests: no hyper connection, no HTTP buffer.
    Parked(Io<T>),
    /// HTTP/1 serving a request.
    Serving(Box<http1::Connection<Io<T>, S>>),
    /// HTTP/2, for the connection's life.
    H2(Pin<Box<http2::Connection<Io<T>, S, TokioExecutor>>>),
    /// Sending TLS close_notify and closing the socket, as hyper does when HTTP/1 ends.
    ShuttingDown(Io<T>),
    /// Closed on our side in the middle of a request body: taking in the rest, discarded.
    Discarding(Box<Discard<T>>),
    Done,
}

impl<T, S, B> Http<T, S>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: HttpService<Incoming, ResBody = B> + Clone + Unpin + Send + 'static,
    S::Future: Unpin + Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// Serve `io` with `service`: HTTP/2 when `h2` (ALPN chose it), else HTTP/1, parked until
    /// the first request arrives. hyper takes heads up to `max_head` bytes. `in_flight` and
    /// `traffic` tell when an HTTP/1 connection is between requests.
    pub(in crate::server) fn new(
        io: FramingGuard<T>,
        service: S,
        h2: bool,
        max_head: usize,
        in_flight: Arc<InFlight>,
        traffic: Arc<Traffic>,
    ) -> Self {
        let io = TokioIo::new(io);
        let state = if h2 {
            State::H2(Box::pin(
                http2_builder(max_head).serve_connection(io, service.clone()),
            ))
        } else {
            State::Parked(io)
        };
        Http {
            state,
            service,
            max_head,
            in_flight,
            traffic,
            parked_at: None,
            linger: None,
            closing: false,
        }
    }

    /// Drive the connection; ready once it has ended (`Err` when it ended with an error).
    pub(in crate::server) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        loop {
            match &mut self.state {
                State::Parked(io) => match ready!(io.inner_mut().poll_next_request(cx)) {
                    Ok(true) => self.resume(),
                    Ok(false) => self.shut_down(),
                    Err(e) => return self.end(Err(e.into())),
                },
                State::Serving(conn) => match conn.poll_without_shutdown(cx) {
                    Poll::Ready(Ok(())) => self.served(),
                    Poll::Ready(Err(e)) => return self.end(Err(e.into())),
                    Poll::Pending => {
                        if self.closing
                            || !self.traffic.between_requests()
                            || self.in_flight.get() > 0
                            || lingers(&mut self.linger, &self.traffic, cx)
                        {
                            return Poll::Pending;
                        }
                        // Between requests: an idle hyper connection ends at once when told to.
                        Pin::new(&mut **conn).graceful_shutdown();
                        match conn.poll_without_shutdown(cx) {
                            Poll::Ready(Ok(())) => self.park(),
                            Poll::Ready(Err(e)) => return self.end(Err(e.into())),
                            Poll::Pending => {
                                // hyper was still busy after all: it now closes after the
                                // exchange, as on a drain.
                                tracing::debug!(
                                    "HTTP/1 connection busy between requests; closing after it"
                                );
                                self.closing = true;
                                return Poll::Pending;
                            }
                        }
                    }
                },
                State::H2(conn) => {
                    let r = ready!(conn.as_mut().poll(cx));
                    return self.end(r.map_err(Into::into));
                }
                State::ShuttingDown(io) => {
                    let r = ready!(Pin::new(io.inner_mut()).poll_shutdown(cx));
                    if r.is_err() || !io.inner().mid_body() {
                        return self.end(r.map_err(Into::into));
                    }
                    self.discard_rest();
                }
                State::Discarding(d) => {
                    ready!(d.poll_rest(cx));
                    return self.end(Ok(()));
                }
                State::Done => return Poll::Ready(Ok(())),
            }
        }
    }

    /// Finish the request in progress, if any, then close.
    pub(in crate::server) fn graceful_shutdown(&mut self) {
        self.closing = true;
        match &mut self.state {
            State::Serving(conn) => Pin::new(&mut **conn).graceful_shutdown(),
            State::H2(conn) => conn.as_mut().graceful_shutdown(),
            State::Parked(_) => self.shut_down(),
            State::ShuttingDown(_) | State::Discarding(_) | State::Done => {}
        }
    }

    /// Bytes of HTTP buffer an idle HTTP/1 connection holds: `Some(0)` once parked, `None`
    /// while hyper serves it (hyper's buffers are then in use).
    #[cfg(test)]
    pub(in crate::server) fn parked_buffer_bytes(&self) -> Option<usize> {
        match &self.state {
            State::Parked(io) => Some(io.inner().buffer_capacity()),
            _ => None,
        }
    }

    /// A request's first bytes wait in the guard: build hyper's connection for them.
    fn resume(&mut self) {
        let State::Parked(io) = std::mem::replace(&mut self.state, State::Done) else {
            return;
        };
        let service = self.service.clone();
        // Never parked before: no request has come yet, so the first bytes may still be
        // HTTP/2's preface.
        if self.parked_at.is_none() && io.inner().pending().starts_with(H2_PREFACE_HEAD) {
            let conn = http2_builder(self.max_head).serve_connection(io, service);
            self.state = State::H2(Box::pin(conn));
            return;
        }
        if self.parked_at.is_some_and(|at| at.elapsed() < LINGER) {
            self.linger = Some(Linger {
                timer: Box::pin(tokio::time::sleep(LINGER)),
                moves: self.traffic.moves(),
            });
        }
        let conn = http1_builder(self.max_head).serve_connection(io, service);
        self.state = State::Serving(Box::new(conn));
    }

    /// hyper's HTTP/1 connection ended on its own (the client closed, `Connection: close`,
    /// an error answered) or on a drain: close the TLS stream.
    fn served(&mut self) {
        let State::Serving(conn) = std::mem::replace(&mut self.state, State::Done) else {
            return;
        };
        self.state = State::ShuttingDown(conn.into_parts().io);
    }

    /// hyper's HTTP/1 connection ended between requests: drop it, keep the stream.
    fn park(&mut self) {
        let State::Serving(conn) = std::mem::replace(&mut self.state, State::Done) else {
            return;
        };
        let parts = conn.into_parts();
        let mut io = parts.io;
        // Bytes hyper had read but not parsed come first next time.
        io.inner_mut().unread(&parts.read_buf);
        self.state = State::Parked(io);
        self.linger = None;
        self.parked_at = Some(Instant::now());
    }

    /// Our side is closed in the middle of a request body: take in the rest before closing.
    fn discard_rest(&mut self) {
        if let State::ShuttingDown(io) = std::mem::replace(&mut self.state, State::Done) {
            tracing::debug!("closed during a request body; discarding the rest of it");
            self.state = State::Discarding(Box::new(Discard {
                io,
                until: Box::pin(tokio::time::sleep(DISCARD_TIME)),
                left: DISCARD_BYTES,
            }));
        }
    }

    fn shut_down(&mut self) {
        if let State::Parked(io) = std::mem::replace(&mut self.state, State::Done) {
            self.state = State::ShuttingDown(io);
        }
    }

    fn end(&mut self, r: Result<(), BoxError>) -> Poll<Result<(), BoxError>> {
        self.state = State::Done;
        Poll::Ready(r)
    }
}

impl<T: AsyncRead + Unpin> Discard<T> {
    /// Ready once the client closed, sent [`DISCARD_BYTES`] or [`DISCARD_TIME`] passed.
    fn poll_rest(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut scratch = [0u8; 8192];
        while self.left > 0 {
            let mut buf = tokio::io::ReadBuf::new(&mut scratch);
            match Pin::new(self.io.inner_mut().get_mut()).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                    self.left = self.left.saturating_sub(buf.filled().len() as u64);
                }
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => return self.until.as_mut().poll(cx),
            }
        }
        Poll::Ready(())
    }
}

/// Between requests on a busy connection: whether to wait longer before parking (its timer
/// then wakes the connection).
fn lingers(linger: &mut Option<Linger>, traffic: &Traffic, cx: &mut Context<'_>) -> bool {
    let Some(linger) = linger.as_mut() else {
        return false;
    };
    if linger.timer.as_mut().poll(cx).is_pending() {
        return true;
    }
    let moves = traffic.moves();
    if moves == linger.moves {
        return false;
    }
    // Requests came since the timer was set: look again later.
    linger.moves = moves;
    linger.timer.as_mut().reset(Instant::now() + LINGER);
    let _ = linger.timer.as_mut().poll(cx);
    true
}

/// HTTP/1 settings: heads up to `max_head`, keep-alive.
fn http1_builder(max_head: usize) -> http1::Builder {
    let mut b = http1::Builder::new();
    // The head timeout is the framing guard's: hyper's would also cut idle keep-alive.
    b.header_read_timeout(None)
        .max_buf_size(max_head.max(8192))
        .keep_alive(true);
    b
}

/// HTTP/2 settings: header lists up to `max_head`, 256 concurrent streams.
fn http2_builder(max_head: usize) -> http2::Builder<TokioExecutor> {
    let mut b = http2::Builder::new(TokioExecutor::new());
    b.timer(TokioTimer::new())
        .max_header_list_size(max_head as u32)
        .max_concurrent_streams(256);
    b
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::time::Duration;

    use bytes::Bytes;
    use http::{Request, Response};
    use http_body_util::Full;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    use super::*;

    /// Answers `hello <path>`, never reading the request body.
    #[derive(Clone)]
    struct Hello;

    impl hyper::service::Service<Request<Incoming>> for Hello {
        type Response = Response<Full<Bytes>>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Self::Response, Infallible>>;

        fn call(&self, req: Request<Incoming>) -> Self::Future {
            let body = format!("hello {}", req.uri().path());
            std::future::ready(Ok(Response::new(Full::new(Bytes::from(body)))))
        }
    }

    type Served = Http<DuplexStream, Hello>;

    fn served() -> (Served, DuplexStream) {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let traffic = Arc::new(Traffic::default());
        let guard = FramingGuard::new(server, 1024, true, Duration::from_secs(5), traffic.clone());
        let http = Http::new(guard, Hello, false, 1024, Arc::default(), traffic);
        (http, client)
    }

    /// Read from `client` until what came ends with `end`, driving `http` meanwhile.
    async fn read_until(http: &mut Served, client: &mut DuplexStream, end: &str) -> String {
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        let read = async {
            loop {
                tokio::select! {
                    n = client.read(&mut buf) => {
                        let n = n.expect("read");
                        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
                        got.extend_from_slice(&buf[..n]);
                        if got.ends_with(end.as_bytes()) {
                            return String::from_utf8(got).expect("utf-8");
                        }
                    }
                    r = std::future::poll_fn(|cx| http.poll(cx)) => panic!("connection ended: {r:?}"),
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .expect("response in time")
    }

    /// Send `GET path` and read its response.
    async fn get(http: &mut Served, client: &mut DuplexStream, path: &str) -> String {
        let req = format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n");
        client.write_all(req.as_bytes()).await.unwrap();
        read_until(http, client, &format!("hello {path}")).await
    }

    /// Poll `http` once; true while the connection lives.
    async fn alive(http: &mut Served) -> bool {
        std::future::poll_fn(|cx| Poll::Ready(http.poll(cx).is_pending())).await
    }

    /// Drive `http` until the connection ends, within 5 s.
    async fn ended(http: &mut Served) -> Result<(), BoxError> {
        let end = std::future::poll_fn(|cx| http.poll(cx));
        tokio::time::timeout(Duration::from_secs(5), end)
            .await
            .expect("ends in time")
    }

    #[tokio::test(start_paused = true)]
    async fn http1_holds_no_buffer_before_and_between_requests() {
        let (mut http, mut client) = served();
        assert_eq!(
            http.parked_buffer_bytes(),
            Some(0),
            "before the first request"
        );
        for path in ["/a", "/b", "/c"] {
            let resp = get(&mut http, &mut client, path).await;
            assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
            assert!(!resp.contains("connection: close"), "{resp}");
            assert!(alive(&mut http).await);
            assert_eq!(http.parked_buffer_bytes(), Some(0), "after {path}");
            tokio::time::advance(LINGER * 2).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_connection_parks_once_quiet() {
        let (mut http, mut client) = served();
        get(&mut http, &mut client, "/a").await;
        assert!(alive(&mut http).await);
        assert_eq!(
            http.parked_buffer_bytes(),
            Some(0),
            "one request: parked at once"
        );
        // The next requests come at once: the connection is busy and keeps hyper's.
        for path in ["/b", "/c"] {
            get(&mut http, &mut client, path).await;
            assert!(alive(&mut http).await);
            assert_eq!(http.parked_buffer_bytes(), None, "after {path}");
        }
        // Quiet for a whole `LINGER` after its timer was set: parked.
        tokio::time::advance(LINGER).await;
        assert!(alive(&mut http).await);
        assert_eq!(
            http.parked_buffer_bytes(),
            None,
            "traffic since the timer was set"
        );
        tokio::time::advance(LINGER).await;
        assert!(alive(&mut http).await);
        assert_eq!(http.parked_buffer_bytes(), Some(0));
        // It serves on, parking at once again.
        tokio::time::advance(LINGER * 2).await;
        get(&mut http, &mut client, "/d").await;
        assert!(alive(&mut http).await);
        assert_eq!(http.parked_buffer_bytes(), Some(0));
    }

    #[tokio::test]
    async fn pipelined_requests_and_unread_bodies_are_all_answered_before_parking() {
        let (mut http, mut client) = served();
        let reqs = "POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello\
                    GET /b HTTP/1.1\r\nhost: x\r\n\r\nGET /c HTTP/1.1\r\nhost: x\r\n\r\n";
        client.write_all(reqs.as_bytes()).await.unwrap();
        let resp = read_until(&mut http, &mut client, "hello /c").await;
        assert_eq!(resp.matches("HTTP/1.1 200 OK").count(), 3, "{resp}");
        assert!(resp.find("hello /a") < resp.find("hello /b"), "{resp}");
        assert!(alive(&mut http).await);
        assert_eq!(http.parked_buffer_bytes(), Some(0));
    }

    #[tokio::test]
    async fn a_head_split_across_reads_is_served() {
        let (mut http, mut client) = served();
        client.write_all(b"GET /slow HTTP/1.1\r\nho").await.unwrap();
        assert!(alive(&mut http).await);
        client.write_all(b"st: x\r\n\r\n").await.unwrap();
        let resp = read_until(&mut http, &mut client, "hello /slow").await;
        assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    }

    #[tokio::test]
    async fn connection_close_ends_the_connection_after_its_response() {
        let (mut http, mut client) = served();
        let req = "GET /bye HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
        client.write_all(req.as_bytes()).await.unwrap();
        assert!(ended(&mut http).await.is_ok());
        let mut resp = String::new();
        client.read_to_string(&mut resp).await.unwrap();
        assert!(resp.ends_with("hello /bye"), "{resp}");
    }

    #[tokio::test]
    async fn graceful_shutdown_closes_a_parked_connection() {
        let (mut http, mut client) = served();
        get(&mut http, &mut client, "/a").await;
        assert!(alive(&mut http).await);
        http.graceful_shutdown();
        assert!(ended(&mut http).await.is_ok());
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    }

    #[tokio::test]
    async fn the_client_closing_a_parked_connection_ends_it() {
        let (mut http, mut client) = served();
        get(&mut http, &mut client, "/a").await;
        client.shutdown().await.unwrap();
        assert!(ended(&mut http).await.is_ok());
    }
}
