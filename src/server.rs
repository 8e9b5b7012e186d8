//! Listeners and connections: accept, TLS handshake (SNI -> domain), identity, then hyper
//! serving HTTP/1.1 and HTTP/2 with every phase bounded, and a two-phase drain on shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::LazyConfigAcceptor;
use tokio_util::task::TaskTracker;

use crate::config::Limits;
use crate::framing::FramingGuard;
use crate::service::{self, ConnContext};
use crate::state::{SharedSnapshot, Snapshot};
use crate::telemetry::InFlight;
use crate::tls::{ClientIdentity, refusal_of};

/// Bytes of head room hyper gets above `max_header_bytes`, so the gateway itself can answer an
/// oversized head with its JSON 431 rather than hyper's bare one.
const HEAD_SLACK: usize = 16 * 1024;

/// A bound gateway: listeners open, not yet serving.
pub struct Gateway {
    state: SharedSnapshot,
    listeners: Vec<(SocketAddr, TcpListener)>,
}

impl Gateway {
    /// Bind every listen address of `snapshot`.
    pub async fn bind(snapshot: Snapshot) -> io::Result<Gateway> {
        let mut listeners = Vec::new();
        for l in &snapshot.listeners {
            let socket = TcpListener::bind(l.addr).await.map_err(|e| {
                io::Error::new(e.kind(), format!("cannot listen on {}: {e}", l.addr))
            })?;
            listeners.push((l.addr, socket));
        }
        Ok(Gateway {
            state: Arc::new(ArcSwap::from_pointee(snapshot)),
            listeners,
        })
    }

    /// The addresses actually bound, in configuration order.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|(_, l)| l.local_addr().ok())
            .collect()
    }

    /// The shared snapshot, for reloads.
    pub fn state(&self) -> SharedSnapshot {
        self.state.clone()
    }

    /// Serve until `shutdown` resolves; then stop accepting, let in-flight requests finish
    /// within the grace period, and return.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let tracker = TaskTracker::new();
        let max_conns = self.state.load().config.limits.max_connections;
        let mut accept_loops = Vec::new();
        for (configured, listener) in self.listeners {
            let state = self.state.clone();
            let stop = stop_rx.clone();
            let tracker2 = tracker.clone();
            if let Ok(a) = listener.local_addr() {
                tracing::info!(listen = %a, "listening");
            }
            accept_loops.push(tokio::spawn(accept_loop(
                listener,
                configured,
                state,
                stop,
                tracker2,
                Arc::new(Semaphore::new(max_conns)),
            )));
        }
        shutdown.await;
        let grace = self.state.load().config.limits.shutdown_grace;
        tracing::info!(
            ?grace,
            "shutting down: no new connections, draining in-flight requests"
        );
        let _ = stop_tx.send(true);
        for l in accept_loops {
            l.abort();
        }
        tracker.close();
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
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
    state: SharedSnapshot,
    stop: watch::Receiver<bool>,
    tracker: TaskTracker,
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
        let snapshot = state.load_full();
        let stop = stop.clone();
        tracker.spawn(async move {
            serve_connection(tcp, peer, configured, snapshot, stop).await;
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
    snapshot: Arc<Snapshot>,
    mut stop: watch::Receiver<bool>,
) {
    let _ = tcp.set_nodelay(true);
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
            return;
        }
        Ok(Err(HandshakeError::Tls(e))) => {
            match refusal_of(&e) {
                Some(r) => tracing::warn!(
                    client = %peer,
                    subject = r.subject.as_deref().unwrap_or("-"),
                    reason = %r.reason,
                    "client refused"
                ),
                None => tracing::info!(client = %peer, error = %e, "TLS handshake failed"),
            }
            return;
        }
        Err(_) => {
            tracing::warn!(client = %peer, timeout = ?limits.handshake_timeout, "TLS handshake timed out");
            return;
        }
    };
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
    let activity = Arc::new(AtomicU64::new(0));
    let ctx = Arc::new(ConnContext {
        snapshot: snapshot.clone(),
        domain,
        identity: Arc::new(identity),
        peer,
        in_flight: in_flight.clone(),
    });
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
    let mut ticker = tokio::time::interval(idle / 4);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_seen = u64::MAX;
    let mut quiet_ticks = 0;
    let mut closing = false;
    loop {
        tokio::select! {
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
                let now = activity.load(Ordering::Relaxed);
                if now != last_seen || in_flight.get() > 0 {
                    last_seen = now;
                    quiet_ticks = 0;
                } else {
                    quiet_ticks += 1;
                    if quiet_ticks >= 4 {
                        tracing::debug!(client = %peer, "idle timeout; closing connection");
                        closing = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        }
    }
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
