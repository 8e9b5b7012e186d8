//! Listeners and connections: accept, the PROXY protocol header where a listener sits behind
//! a load balancer, the TLS handshake (SNI -> domain), identity, then hyper serving HTTP/1.1
//! and HTTP/2 with every phase bounded, and a two-phase drain on shutdown.

mod connection;
mod handshake;
mod proxy_protocol;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_util::task::TaskTracker;

use crate::metrics::Metrics;
use crate::state::{SharedSnapshot, Snapshot};

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
    /// The generation last swapped in: connections judge their client again on each change.
    reload_tx: watch::Sender<u64>,
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
        let (reload_tx, _) = watch::channel(snapshot.generation);
        Ok(Gateway {
            inner: Arc::new(Inner {
                state: Arc::new(ArcSwap::from_pointee(snapshot)),
                metrics,
                listeners: std::sync::Mutex::new(listeners),
                stop_tx,
                reload_tx,
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
        self.inner.reload_tx.send_replace(generation);
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

/// One client connection, start to end: the handshake, then the connection's life.
async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    configured: SocketAddr,
    gateway: Gateway,
) {
    // Subscribed before the snapshot is loaded: a reload in between is seen, never missed.
    let reloads = gateway.inner.reload_tx.subscribe();
    let snapshot = gateway.inner.state.load_full();
    let stop = gateway.inner.stop_tx.subscribe();
    if *stop.borrow() {
        return;
    }
    let metrics = gateway.inner.metrics.clone();
    let Some(accepted) = handshake::accept(tcp, peer, configured, &snapshot, &metrics).await else {
        return;
    };
    let conn = connection::Connection {
        peer: accepted.client,
        listener: configured,
        state: gateway.inner.state.clone(),
        snapshot,
        metrics,
        stop,
        reloads,
    };
    conn.serve(accepted).await;
}
