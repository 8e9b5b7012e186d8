//! One worker's HTTP/1 client towards upstreams: keep-alive connections parked per target
//! between exchanges, dialled through hyper-rustls' connector. Ours rather than hyper-util's
//! pooled client, which hashes every request's pool key byte by byte and spawns a task per
//! response to hand its connection back (13 % of the gateway's instructions per request).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use http::uri::Authority;
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use tower_service::Service as _;

use crate::body::RequestBody;
use crate::config::Scheme;

type Sender = SendRequest<RequestBody>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why an exchange failed: the connection could not be made, or the exchange on it broke.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No connection: TCP connect, TLS handshake or the name lookup failed. Nothing was sent.
    #[error("connect error")]
    Connect(#[source] BoxError),
    /// The connection was made (or reused) and the exchange on it failed.
    #[error(transparent)]
    Exchange(hyper::Error),
}

/// A worker's client: how to dial a target, and the connections idle between exchanges.
#[derive(Debug)]
pub struct Client {
    connector: HttpsConnector<HttpConnector>,
    http1: http1::Builder,
    parking: Arc<Parking>,
}

impl Client {
    /// A client dialling with `connector`, speaking HTTP/1 as `http1` says, keeping at most
    /// `max_idle` idle connections per target for `idle_timeout` each.
    pub fn new(
        connector: HttpsConnector<HttpConnector>,
        http1: http1::Builder,
        idle_timeout: Duration,
        max_idle: usize,
    ) -> Client {
        Client {
            connector,
            http1,
            parking: Arc::new(Parking {
                by_target: Mutex::default(),
                idle_timeout,
                max_idle,
                reaping: AtomicBool::new(false),
            }),
        }
    }

    /// Send `req` (origin-form URI, `Host` set) to `target` over an idle connection, else a new
    /// one; the connection comes back with the response and is parked again when dropped.
    #[allow(
        clippy::manual_async_fn,
        reason = "an async fn keeps its arguments twice (rust-lang/rust#62958); every request moves this future"
    )]
    pub fn send(
        &self,
        scheme: Scheme,
        target: &Authority,
        mut req: Request<RequestBody>,
    ) -> impl Future<Output = Result<(Response<Incoming>, Connection), ClientError>> + Send {
        async move {
            // An idle connection the upstream closed just now fails before the request leaves;
            // hyper hands the request back and the next idle one (or a new one) gets it.
            while let Some(mut sender) = self.parking.take(scheme, target.as_str()) {
                match sender.try_send_request(req).await {
                    Ok(response) => return Ok((response, self.lend(sender, scheme, target))),
                    Err(mut e) => match e.take_message() {
                        Some(unsent) => req = unsent,
                        None => return Err(ClientError::Exchange(e.into_error())),
                    },
                }
            }
            // Boxed: dialling is rare next to reuse, and its future would otherwise enlarge every
            // exchange's future (and each copy of it) by a kilobyte.
            let mut sender = Box::pin(self.connect(scheme, target)).await?;
            let response = sender
                .send_request(req)
                .await
                .map_err(ClientError::Exchange)?;
            Ok((response, self.lend(sender, scheme, target)))
        }
    }

    /// How many open connections are parked for `target`, and how many of them take a request
    /// now.
    #[cfg(test)]
    fn idle(&self, target: &Authority) -> (usize, usize) {
        self.parking.lock()[slot(Scheme::Http)]
            .get(target.as_str())
            .map_or((0, 0), |list| {
                let open = list.iter().filter(|p| !p.sender.is_closed());
                (
                    open.clone().count(),
                    open.filter(|p| p.sender.is_ready()).count(),
                )
            })
    }

    fn lend(&self, sender: Sender, scheme: Scheme, target: &Authority) -> Connection {
        Connection {
            sender: Some(sender),
            scheme,
            target: target.clone(),
            parking: self.parking.clone(),
        }
    }

    async fn connect(&self, scheme: Scheme, target: &Authority) -> Result<Sender, ClientError> {
        let scheme = match scheme {
            Scheme::Http => http::uri::Scheme::HTTP,
            Scheme::Https => http::uri::Scheme::HTTPS,
        };
        let uri = Uri::builder()
            .scheme(scheme)
            .authority(target.clone())
            .path_and_query("/")
            .build()
            .map_err(|e| ClientError::Connect(e.into()))?;
        let mut connector = self.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(ClientError::Connect)?;
        let io = connector.call(uri).await.map_err(ClientError::Connect)?;
        let (sender, connection) = self
            .http1
            .handshake(io)
            .await
            .map_err(|e| ClientError::Connect(e.into()))?;
        let peer = target.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(target = %peer, error = %e, "upstream connection ended");
            }
        });
        self.parking.reap_from_now_on();
        Ok(sender)
    }
}

/// Idle connections by target address, one map per scheme (`slot`): a connection dialled for
/// `http://` is never handed to an `https://` exchange with the same address, or the reverse.
/// FNV rather than SipHash: the keys are configured targets, never a client's bytes, and two
/// lookups per request cost SipHash about 460 instructions (FNV about 80).
type ByTarget = [fnv::FnvHashMap<Box<str>, Vec<Parked>>; 2];

fn slot(scheme: Scheme) -> usize {
    match scheme {
        Scheme::Http => 0,
        Scheme::Https => 1,
    }
}

/// Connections idle between exchanges, by scheme and target address.
#[derive(Debug)]
struct Parking {
    by_target: Mutex<ByTarget>,
    idle_timeout: Duration,
    max_idle: usize,
    /// The task that closes connections idle too long has been started.
    reaping: AtomicBool,
}

#[derive(Debug)]
struct Parked {
    sender: Sender,
    since: Instant,
}

impl Parking {
    fn lock(&self) -> MutexGuard<'_, ByTarget> {
        self.by_target.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The most recently parked connection to `target` that can take a request now; closed and
    /// expired ones are dropped on the way, ones still finishing their last response stay.
    fn take(&self, scheme: Scheme, target: &str) -> Option<Sender> {
        let mut maps = self.lock();
        let list = maps[slot(scheme)].get_mut(target)?;
        let now = Instant::now();
        let mut i = list.len();
        while i > 0 {
            i -= 1;
            let p = &list[i];
            if p.sender.is_closed() || now.duration_since(p.since) >= self.idle_timeout {
                list.swap_remove(i);
            } else if p.sender.is_ready() {
                return Some(list.swap_remove(i).sender);
            }
        }
        None
    }

    /// Park `sender` for the next exchange with `target`, unless it closed or the target
    /// already has `max_idle` parked (it is then dropped, which closes it).
    fn park(&self, scheme: Scheme, target: &Authority, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let parked = Parked {
            sender,
            since: Instant::now(),
        };
        let mut maps = self.lock();
        let map = &mut maps[slot(scheme)];
        let list = match map.get_mut(target.as_str()) {
            Some(list) => list,
            None => map.entry(target.as_str().into()).or_default(),
        };
        if list.len() < self.max_idle {
            list.push(parked);
        }
    }

    /// Close the connections idle longer than the timeout (and forget closed ones).
    fn prune(&self) {
        let now = Instant::now();
        for map in self.lock().iter_mut() {
            for list in map.values_mut() {
                list.retain(|p| {
                    !p.sender.is_closed() && now.duration_since(p.since) < self.idle_timeout
                });
            }
            map.retain(|_, list| !list.is_empty());
        }
    }

    /// Start the task that prunes every half timeout, on the runtime of the first connection
    /// made; it ends with the parking (when its client and every lent connection are gone).
    fn reap_from_now_on(self: &Arc<Self>) {
        if self.reaping.swap(true, Ordering::Relaxed) {
            return;
        }
        let parking: Weak<Parking> = Arc::downgrade(self);
        let every = (self.idle_timeout / 2).max(Duration::from_millis(50));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(parking) = parking.upgrade() else {
                    return;
                };
                parking.prune();
            }
        });
    }
}

/// An upstream connection lent to one exchange; parked for the next one when dropped (held
/// until the response body is done), unless it closed.
#[derive(Debug)]
pub struct Connection {
    sender: Option<Sender>,
    scheme: Scheme,
    target: Authority,
    parking: Arc<Parking>,
}

impl Connection {
    /// Close the connection instead of parking it (its last response is not to be trusted).
    pub fn discard(mut self) {
        self.sender = None;
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(sender) = self.sender.take() {
            self.parking.park(self.scheme, &self.target, sender);
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::atomic::AtomicUsize;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// What a loopback upstream saw: connections accepted, and connections it saw end.
    #[derive(Default)]
    pub(in crate::upstream) struct Seen {
        pub(in crate::upstream) accepted: AtomicUsize,
        ended: AtomicUsize,
    }

    /// An HTTP/1 upstream on 127.0.0.1 answering every request `200 ok`; with `close_after`,
    /// it closes each connection silently after its first response (keep-alive promised).
    async fn upstream(close_after: bool) -> (Authority, Arc<Seen>) {
        upstream_answering(
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
            close_after,
        )
        .await
    }

    /// An upstream on 127.0.0.1 answering every request with the bytes `response`; with
    /// `close_after`, it closes each connection silently after its first response.
    pub(in crate::upstream) async fn upstream_answering(
        response: &'static [u8],
        close_after: bool,
    ) -> (Authority, Arc<Seen>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Seen::default());
        let s = seen.clone();
        tokio::spawn(async move {
            loop {
                let (mut sock, _) = listener.accept().await.unwrap();
                s.accepted.fetch_add(1, Ordering::SeqCst);
                let s = s.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    loop {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..end + 4);
                            if sock.write_all(response).await.is_err() || close_after {
                                s.ended.fetch_add(1, Ordering::SeqCst);
                                return;
                            }
                        }
                    }
                    s.ended.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        (addr.to_string().parse().unwrap(), seen)
    }

    /// A client as the gateway builds one, without TLS settings of its own.
    pub(in crate::upstream) fn client(idle_timeout: Duration) -> Client {
        let tls = crate::tls::client::direct_config(&Default::default());
        super::super::client(tls, None, idle_timeout, 8192)
    }

    /// `GET /x` for `target`.
    fn get_x(target: &Authority) -> Request<RequestBody> {
        Request::get("/x")
            .header(http::header::HOST, target.as_str())
            .body(RequestBody::empty())
            .unwrap()
    }

    /// One exchange, its body read to the end before the connection is handed back.
    async fn get(client: &Client, target: &Authority) -> Result<(), ClientError> {
        use http_body_util::BodyExt as _;
        let (resp, connection) = client.send(Scheme::Http, target, get_x(target)).await?;
        assert_eq!(resp.status(), 200);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"ok");
        drop(connection);
        Ok(())
    }

    /// Wait (bounded) until `done` holds.
    async fn until(done: impl Fn() -> bool) -> bool {
        for _ in 0..200 {
            if done() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        done()
    }

    #[tokio::test]
    async fn exchanges_one_after_another_share_one_connection() {
        let (target, seen) = upstream(false).await;
        let client = client(Duration::from_secs(30));
        for _ in 0..5 {
            get(&client, &target).await.unwrap();
            // The connection is ready again once hyper has finished the response.
            assert!(until(|| client.idle(&target) == (1, 1)).await);
        }
        assert_eq!(seen.accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_connection_idle_past_the_timeout_is_closed() {
        let (target, seen) = upstream(false).await;
        let client = client(Duration::from_millis(100));
        get(&client, &target).await.unwrap();
        assert_eq!(client.idle(&target).0, 1);
        assert!(
            until(|| seen.ended.load(Ordering::SeqCst) == 1).await,
            "the upstream never saw the idle connection close"
        );
        assert_eq!(client.idle(&target), (0, 0));
    }

    #[tokio::test]
    async fn a_parked_connection_the_upstream_closed_is_not_used_again() {
        let (target, seen) = upstream(true).await;
        let client = client(Duration::from_secs(30));
        get(&client, &target).await.unwrap();
        assert!(
            until(|| client.idle(&target) == (0, 0)).await,
            "closed connection still parked"
        );
        get(&client, &target).await.unwrap();
        assert_eq!(seen.accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_https_exchange_never_takes_a_connection_parked_for_http() {
        let (target, seen) = upstream(false).await;
        let client = client(Duration::from_secs(30));
        get(&client, &target).await.unwrap();
        assert!(until(|| client.idle(&target) == (1, 1)).await);
        // The upstream speaks plain HTTP: an https exchange must dial a connection of its own
        // (whose handshake the upstream never answers), not go out in clear over the parked one.
        let sent = client.send(Scheme::Https, &target, get_x(&target));
        let got = tokio::time::timeout(Duration::from_millis(500), sent).await;
        assert!(
            !matches!(got, Ok(Ok(_))),
            "answered over the http connection"
        );
        assert_eq!(seen.accepted.load(Ordering::SeqCst), 2);
        assert_eq!(
            client.idle(&target),
            (1, 1),
            "the http connection stays parked"
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target: Authority = listener.local_addr().unwrap().to_string().parse().unwrap();
        drop(listener);
        let err = get(&client(Duration::from_secs(1)), &target)
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::Connect(_)), "{err:?}");
    }
}
