//! Listeners and connections: accept, the PROXY protocol header where a listener sits behind
//! a load balancer, the TLS handshake (SNI -> domain), identity, then hyper serving HTTP/1.1
//! and HTTP/2 with every phase bounded, and a two-phase drain on shutdown. Connections are
//! served on one shared runtime or on per-core workers (see [`RuntimeModel`]).

mod connection;
mod handshake;
mod listen;
mod proxy_protocol;
mod workers;

pub use workers::RuntimeModel;

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

use crate::metrics::{Metrics, WorkerLabels};
use crate::state::{SharedSnapshot, Snapshot};
use crate::worker::PerWorker;
use listen::Listener;
use workers::Workers;

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
    /// Shutdown began, told to each worker's connections on a channel of the worker's own:
    /// a connection polls its receivers on every wake-up, and a shared channel's waiter lock
    /// would pass between the workers' cores several times a request.
    stop_tx: PerWorker<watch::Sender<bool>>,
    /// The generation last swapped in: connections judge their client again on each change.
    /// One channel per worker, as `stop_tx`.
    reload_tx: PerWorker<watch::Sender<u64>>,
    tracker: TaskTracker,
    draining: AtomicBool,
    running: AtomicBool,
    /// The runtimes connections are accepted and served on.
    workers: Workers,
}

impl Gateway {
    /// Bind every listen address of `snapshot`, with fresh metrics, to serve on the calling
    /// runtime.
    pub async fn bind(snapshot: Snapshot) -> io::Result<Gateway> {
        Self::bind_with_metrics(snapshot, Arc::new(Metrics::new())).await
    }

    /// Bind every listen address of `snapshot`, recording into `metrics`, to serve on the
    /// calling runtime.
    pub async fn bind_with_metrics(
        snapshot: Snapshot,
        metrics: Arc<Metrics>,
    ) -> io::Result<Gateway> {
        Self::bind_on(snapshot, metrics, 1).await
    }

    /// Bind every listen address of `snapshot` once per worker, to serve on per-core workers:
    /// the calling runtime (best a current-thread one) and a thread with a current-thread
    /// runtime for each further worker. Build `snapshot` with
    /// [`crate::state::load_for_workers`]: its upstream clients, one per worker, set how many.
    pub async fn bind_per_core(snapshot: Snapshot) -> io::Result<Gateway> {
        let workers = snapshot.upstreams.runtime.workers();
        Self::bind_on(snapshot, Arc::new(Metrics::new()), workers).await
    }

    async fn bind_on(
        snapshot: Snapshot,
        metrics: Arc<Metrics>,
        workers: usize,
    ) -> io::Result<Gateway> {
        let mut listeners = Vec::new();
        for l in &snapshot.listeners {
            listeners.push(Listener::bind(l.addr, workers)?);
        }
        let stop_tx = PerWorker::from_fn(workers, || watch::channel(false).0);
        let reload_tx = PerWorker::from_fn(workers, || watch::channel(snapshot.generation).0);
        let workers = Workers::start(workers)?;
        metrics.generation.set(snapshot.generation as i64);
        snapshot.upstreams.start_health_checks(&snapshot.config);
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
                workers,
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

    /// Swap in a new snapshot: bind listen addresses it adds, on every worker (failing without
    /// any change if one cannot be bound), swap atomically, then stop accepting on addresses it
    /// dropped. Unchanged listeners are never rebound.
    pub async fn apply(&self, snapshot: Snapshot) -> io::Result<()> {
        let wanted: Vec<SocketAddr> = snapshot.listeners.iter().map(|l| l.addr).collect();
        let existing: Vec<SocketAddr> =
            self.lock_listeners().iter().map(|l| l.configured).collect();
        let mut added = Vec::new();
        for addr in wanted.iter().filter(|a| !existing.contains(a)) {
            added.push(Listener::bind(*addr, self.inner.workers.len())?);
        }
        let generation = snapshot.generation;
        snapshot.upstreams.start_health_checks(&snapshot.config);
        self.inner.state.store(Arc::new(snapshot));
        self.inner.metrics.generation.set(generation as i64);
        for tx in self.inner.reload_tx.iter() {
            tx.send_replace(generation);
        }
        let mut listeners = self.lock_listeners();
        listeners.retain_mut(|l| {
            let keep = wanted.contains(&l.configured);
            if !keep {
                tracing::info!(listen = %l.local, "listener removed by reload");
                l.stop();
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

    /// Start accepting on `l`: each worker's socket becomes a tokio listener inside that
    /// worker's runtime (registered with its reactor) and gets an accept loop there. The
    /// connection limit is the address's, shared by its workers.
    fn spawn_accept(&self, l: &mut Listener) {
        if l.sockets.is_empty() {
            return;
        }
        tracing::info!(listen = %l.local, workers = l.sockets.len(), "listening");
        let max_conns = self.inner.state.load().config.limits.max_connections;
        let slots = Arc::new(Semaphore::new(max_conns));
        for (worker, socket) in l.sockets.drain(..).enumerate() {
            let (configured, gateway, slots) = (l.configured, self.clone(), slots.clone());
            l.tasks.push(self.inner.workers.spawn(worker, async move {
                match TcpListener::from_std(socket) {
                    Ok(listener) => {
                        accept_loop(listener, configured, gateway, slots, worker).await;
                    }
                    Err(e) => {
                        tracing::error!(listen = %configured, worker, error = %e, "cannot accept on this worker");
                    }
                }
            }));
        }
    }

    /// Serve until `shutdown` resolves; then stop accepting, let in-flight requests finish
    /// within the grace period, stop the per-core worker threads, and return.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        // Should this future be dropped instead of finishing, the worker threads end too.
        let _workers = StopWorkers(&self.inner.workers);
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
        // Stored even with no receiver: a connection accepted after this sees it.
        for tx in self.inner.stop_tx.iter() {
            tx.send_replace(true);
        }
        for l in self.lock_listeners().iter_mut() {
            l.stop();
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
        self.inner.workers.stop().await;
    }
}

/// Ends the worker threads when dropped.
struct StopWorkers<'a>(&'a Workers);

impl Drop for StopWorkers<'_> {
    fn drop(&mut self) {
        self.0.signal_stop();
    }
}

async fn accept_loop(
    listener: TcpListener,
    configured: SocketAddr,
    gateway: Gateway,
    slots: Arc<Semaphore>,
    worker: usize,
) {
    let accepted = gateway
        .inner
        .metrics
        .worker_connections
        .get_or_create(&WorkerLabels { worker })
        .clone();
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
        accepted.inc();
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
    let reloads = gateway.inner.reload_tx.current().subscribe();
    let snapshot = gateway.inner.state.load_full();
    let stop = gateway.inner.stop_tx.current().subscribe();
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
