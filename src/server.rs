//! Listeners and connections: accept, TLS handshake (SNI -> domain), identity, then hyper
//! serving HTTP/1.1 and HTTP/2 with every phase bounded, and a two-phase drain on shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::LazyConfigAcceptor;
use tokio_util::task::TaskTracker;

use crate::body::Delivery;
use crate::config::Limits;
use crate::framing::FramingGuard;
use crate::metrics::{DomainLabels, FailureLabels, Metrics};
use crate::service::{self, ConnContext};
use crate::state::{SharedSnapshot, Snapshot};
use crate::telemetry::InFlight;
use crate::tls::{ClientIdentity, refusal_of};

/// Bytes of head room hyper gets above `max_header_bytes`, so the gateway itself can answer an
/// oversized head with its JSON 431 rather than hyper's bare one.
const HEAD_SLACK: usize = 16 * 1024;

/// How long a connection told to close (idle, age, drain) may take to finish its requests
/// before its socket is closed anyway: a client that ignores GOAWAY and never acknowledges the
/// shutdown PING cannot keep the connection.
pub const CLOSE_GRACE: Duration = Duration::from_secs(3);

/// A gateway: its listeners, the current snapshot, metrics, and the drain machinery. Cheap to
/// clone; every clone drives the same gateway.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    state: SharedSnapshot,
    metrics: Arc<Metrics>,
    listeners: std::sync::Mutex<Vec<Listener>>,
    stop_tx: watch::Sender<bool>,
    tracker: TaskTracker,
    draining: AtomicBool,
    running: AtomicBool,
}

struct Listener {
    configured: SocketAddr,
    local: SocketAddr,
    socket: Option<TcpListener>,
    task: Option<tokio::task::JoinHandle<()>>,
}

async fn bind_one(addr: SocketAddr) -> io::Result<Listener> {
    let socket = TcpListener::bind(addr)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    Ok(Listener {
        configured: addr,
        local: socket.local_addr()?,
        socket: Some(socket),
        task: None,
    })
}

impl Gateway {
    /// Bind every listen address of `snapshot`, with fresh metrics.
    pub async fn bind(snapshot: Snapshot) -> io::Result<Gateway> {
        Self::bind_with_metrics(snapshot, Arc::new(Metrics::new())).await
    }

    /// Bind every listen address of `snapshot`, recording into `metrics`.
    pub async fn bind_with_metrics(
        snapshot: Snapshot,
        metrics: Arc<Metrics>,
    ) -> io::Result<Gateway> {
        let mut listeners = Vec::new();
        for l in &snapshot.listeners {
            listeners.push(bind_one(l.addr).await?);
        }
        metrics.generation.set(snapshot.generation as i64);
        snapshot.upstreams.start_health_checks(&snapshot.config);
        let (stop_tx, _) = watch::channel(false);
        Ok(Gateway {
            inner: Arc::new(Inner {
                state: Arc::new(ArcSwap::from_pointee(snapshot)),
                metrics,
                listeners: std::sync::Mutex::new(listeners),
                stop_tx,
                tracker: TaskTracker::new(),
                draining: AtomicBool::new(false),
                running: AtomicBool::new(false),
            }),
        })
    }

    /// The addresses actually bound, in configuration order.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.lock_listeners().iter().map(|l| l.local).collect()
    }

    fn lock_listeners(&self) -> std::sync::MutexGuard<'_, Vec<Listener>> {
        self.inner
            .listeners
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The shared snapshot.
    pub fn state(&self) -> SharedSnapshot {
        self.inner.state.clone()
    }

    /// The gateway's metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.inner.metrics.clone()
    }

    /// Serving, and not draining: what `/readyz` reports.
    pub fn is_ready(&self) -> bool {
        self.inner.running.load(Ordering::Relaxed) && !self.inner.draining.load(Ordering::Relaxed)
    }

    /// Swap in a new snapshot: bind listen addresses it adds (failing without any change if one
    /// cannot be bound), swap atomically, then stop accepting on addresses it dropped.
    /// Unchanged listeners are never rebound.
    pub async fn apply(&self, snapshot: Snapshot) -> io::Result<()> {
        let wanted: Vec<SocketAddr> = snapshot.listeners.iter().map(|l| l.addr).collect();
        let existing: Vec<SocketAddr> =
            self.lock_listeners().iter().map(|l| l.configured).collect();
        let mut added = Vec::new();
        for addr in wanted.iter().filter(|a| !existing.contains(a)) {
            added.push(bind_one(*addr).await?);
        }
        let generation = snapshot.generation;
        snapshot.upstreams.start_health_checks(&snapshot.config);
        self.inner.state.store(Arc::new(snapshot));
        self.inner.metrics.generation.set(generation as i64);
        let mut listeners = self.lock_listeners();
        listeners.retain_mut(|l| {
            let keep = wanted.contains(&l.configured);
            if !keep {
                tracing::info!(listen = %l.local, "listener removed by reload");
                if let Some(t) = l.task.take() {
                    t.abort();
                }
            }
            keep
        });
        let running = self.inner.running.load(Ordering::Relaxed);
        for mut l in added {
            if running {
                self.spawn_accept(&mut l);
            }
            listeners.push(l);
        }
        Ok(())
    }

    fn spawn_accept(&self, l: &mut Listener) {
        let Some(socket) = l.socket.take() else {
            return;
        };
        tracing::info!(listen = %l.local, "listening");
        let max_conns = self.inner.state.load().config.limits.max_connections;
        l.task = Some(tokio::spawn(accept_loop(
            socket,
            l.configured,
            self.clone(),
            Arc::new(Semaphore::new(max_conns)),
        )));
    }

    /// Serve until `shutdown` resolves; then stop accepting, let in-flight requests finish
    /// within the grace period, and return.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        {
            let mut listeners = self.lock_listeners();
            for l in listeners.iter_mut() {
                self.spawn_accept(l);
            }
        }
        self.inner.running.store(true, Ordering::Relaxed);
        shutdown.await;
        self.inner.draining.store(true, Ordering::Relaxed);
        let grace = self.inner.state.load().config.limits.shutdown_grace;
        tracing::info!(
            ?grace,
            "shutting down: no new connections, draining in-flight requests"
        );
        let _ = self.inner.stop_tx.send(true);
        for l in self.lock_listeners().iter_mut() {
            if let Some(t) = l.task.take() {
                t.abort();
            }
        }
        self.inner.tracker.close();
        if tokio::time::timeout(grace, self.inner.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                ?grace,
                "grace period over; closing the remaining connections"
            );
        } else {
            tracing::info!("drained");
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    configured: SocketAddr,
    gateway: Gateway,
    slots: Arc<Semaphore>,
) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::error!(listen = %configured, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(client = %peer, listen = %configured, "connection limit reached; connection refused");
            continue;
        };
        let gw = gateway.clone();
        gateway.inner.tracker.spawn(async move {
            serve_connection(tcp, peer, configured, gw).await;
            drop(permit);
        });
    }
}

/// Why a handshake did not produce a connection.
enum HandshakeError {
    UnknownSni(String),
    Tls(io::Error),
}

async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    configured: SocketAddr,
    gateway: Gateway,
) {
    let snapshot = gateway.inner.state.load_full();
    let mut stop = gateway.inner.stop_tx.subscribe();
    if *stop.borrow() {
        return;
    }
    let metrics = gateway.inner.metrics.clone();
    let _ = tcp.set_nodelay(true);
    // The bound address labels handshake failures (the configured one may be port 0).
    let local = tcp.local_addr().unwrap_or(configured);
    let Some(listener) = snapshot.listener(configured) else {
        return;
    };
    let limits = &snapshot.config.limits;
    let handshake = async {
        let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp)
            .await
            .map_err(HandshakeError::Tls)?;
        let sni = start.client_hello().server_name().map(str::to_owned);
        let domain = listener
            .select(sni.as_deref())
            .ok_or_else(|| HandshakeError::UnknownSni(sni.unwrap_or_default()))?
            .clone();
        let tls = start
            .into_stream(domain.tls.clone())
            .await
            .map_err(HandshakeError::Tls)?;
        Ok::<_, HandshakeError>((tls, domain))
    };
    let (tls, domain) = match tokio::time::timeout(limits.handshake_timeout, handshake).await {
        Ok(Ok(done)) => done,
        Ok(Err(HandshakeError::UnknownSni(name))) => {
            tracing::warn!(client = %peer, sni = %name, "TLS handshake refused: unknown SNI name");
            handshake_failed(&metrics, local, "unknown_sni");
            return;
        }
        Ok(Err(HandshakeError::Tls(e))) => {
            match refusal_of(&e) {
                Some(r) => {
                    tracing::warn!(
                        client = %peer,
                        subject = r.subject.as_deref().unwrap_or("-"),
                        reason = %r.reason,
                        "client refused"
                    );
                    handshake_failed(&metrics, local, crate::metrics::failure_class(&r.reason));
                }
                None => {
                    tracing::info!(client = %peer, error = %e, "TLS handshake failed");
                    handshake_failed(&metrics, local, "tls_error");
                }
            }
            return;
        }
        Err(_) => {
            tracing::warn!(client = %peer, timeout = ?limits.handshake_timeout, "TLS handshake timed out");
            handshake_failed(&metrics, local, "timeout");
            return;
        }
    };
    metrics
        .handshakes
        .get_or_create(&DomainLabels {
            domain: domain.name.clone(),
        })
        .inc();
    let identity = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|c| ClientIdentity::from_der(c));
    let Some(identity) = identity else {
        tracing::warn!(client = %peer, "client refused: certificate could not be parsed");
        return;
    };
    let in_flight = Arc::new(InFlight::default());
    let delivery = Arc::new(Delivery::default());
    let activity = Arc::new(AtomicU64::new(0));
    let max_age = domain.max_connection_age;
    let ctx = Arc::new(ConnContext {
        state: gateway.inner.state.clone(),
        listener: configured,
        snapshot: snapshot.clone(),
        domain,
        identity: Arc::new(identity),
        peer,
        forwarded_for: crate::forward::forwarded_for(peer),
        in_flight: in_flight.clone(),
        delivery: delivery.clone(),
        metrics: metrics.clone(),
        metric_cache: Arc::default(),
    });
    metrics.open_connections.inc();
    let _open = OpenGuard(metrics.clone());
    let svc = service_fn(move |req| service::handle(req, ctx.clone()));
    let builder = http_builder(limits);
    let is_h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let io = TokioIo::new(FramingGuard::new(
        tls,
        limits.max_header_bytes + HEAD_SLACK,
        !is_h2,
        limits.header_read_timeout,
        activity.clone(),
    ));
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);

    let idle = limits.idle_timeout;
    let response_idle = limits.response_idle_timeout;
    let mut ticker = tokio::time::interval(idle.min(response_idle) / 4);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_seen = u64::MAX;
    let mut quiet_since = tokio::time::Instant::now();
    // While a response waits on the client: since when, and the frame count then.
    let mut stalled: Option<(tokio::time::Instant, u64)> = None;
    let mut closing = false;
    let age_limit = tokio::time::sleep(max_age.unwrap_or(Duration::from_secs(u32::MAX as u64)));
    tokio::pin!(age_limit);
    // Armed when closing starts: past it, a connection without requests in flight is closed,
    // and past `shutdown_grace` one with requests too.
    let close_by = tokio::time::sleep(Duration::from_secs(u32::MAX as u64));
    tokio::pin!(close_by);
    let mut hard_close = tokio::time::Instant::now();
    loop {
        let was_closing = closing;
        tokio::select! {
            _ = &mut close_by, if closing => {
                if in_flight.get() == 0 || tokio::time::Instant::now() >= hard_close {
                    tracing::debug!(client = %peer, "closing grace over; closing the socket");
                    break;
                }
                close_by.as_mut().reset(tokio::time::Instant::now() + Duration::from_millis(250));
            }
            _ = &mut age_limit, if !closing && max_age.is_some() => {
                tracing::debug!(client = %peer, "max_connection_age reached; closing connection");
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(client = %peer, error = %e, "connection ended with an error");
                }
                break;
            }
            _ = stop.changed(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = ticker.tick(), if !closing => {
                let now = tokio::time::Instant::now();
                if client_stalled(&delivery, &mut stalled, now, response_idle) {
                    tracing::warn!(client = %peer, timeout = ?response_idle, "client took no response bytes; closing connection");
                    delivery.cut_stalled_client();
                    break;
                }
                let seen = if is_h2 {
                    in_flight.started()
                } else {
                    activity.load(Ordering::Relaxed)
                };
                if seen != last_seen || in_flight.get() > 0 {
                    last_seen = seen;
                    quiet_since = now;
                } else if now - quiet_since >= idle {
                    tracing::debug!(client = %peer, "idle timeout; closing connection");
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
        if closing && !was_closing {
            let now = tokio::time::Instant::now();
            close_by.as_mut().reset(now + CLOSE_GRACE);
            hard_close = now + CLOSE_GRACE.max(limits.shutdown_grace);
        }
    }
}

/// Whether a response has waited on the client, with no frame handed on, for `limit`.
fn client_stalled(
    delivery: &Delivery,
    stalled: &mut Option<(tokio::time::Instant, u64)>,
    now: tokio::time::Instant,
    limit: Duration,
) -> bool {
    if !delivery.waiting_on_client() {
        *stalled = None;
        return false;
    }
    let frames = delivery.frames();
    match *stalled {
        Some((since, seen)) if seen == frames => now - since >= limit,
        _ => {
            *stalled = Some((now, frames));
            false
        }
    }
}

/// Decrements the open-connection gauge when a connection ends.
struct OpenGuard(Arc<Metrics>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open_connections.dec();
    }
}

fn handshake_failed(metrics: &Metrics, listener: SocketAddr, reason: &'static str) {
    metrics
        .handshake_failures
        .get_or_create(&FailureLabels {
            listener: listener.to_string(),
            reason,
        })
        .inc();
}

fn http_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        // The head timeout is the framing guard's: hyper's would also cut idle keep-alive.
        .header_read_timeout(None)
        .max_buf_size((limits.max_header_bytes + HEAD_SLACK).max(8192))
        .keep_alive(true);
    b.http2()
        .timer(TokioTimer::new())
        .max_header_list_size((limits.max_header_bytes + HEAD_SLACK) as u32)
        .max_concurrent_streams(256);
    b
}
