//! The runtime models for more than one worker. `shared`: one multi-threaded, work-stealing tokio
//! runtime serves every connection, so a connection's tasks, its upstream connections and their
//! wake-ups move between threads. `per-core` (the NGINX worker model; Pingora runs its runtimes
//! without work stealing for the same reason): each worker is a single-threaded runtime with its
//! own `SO_REUSEPORT` socket per listen address and its own upstream clients, so a connection is
//! accepted, served and forwarded on one thread, and the kernel spreads connections over the
//! workers. Worker 0 is the runtime that binds the gateway (the main thread's, which also runs
//! the admin endpoint, reloads, health checks and signals); workers 1.. run on their own threads.

use std::future::Future;
use std::io;
use std::sync::Mutex;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long a worker's runtime waits for its blocking tasks (DNS lookups) when it stops.
const BLOCKING_GRACE: Duration = Duration::from_secs(1);
/// How long stopping waits for the worker threads to end.
const THREAD_EXIT: Duration = Duration::from_secs(5);

/// How a gateway with more than one worker spreads its connections over threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RuntimeModel {
    /// One single-threaded runtime per worker, each with its own `SO_REUSEPORT` listening
    /// sockets and its own upstream connections.
    PerCore,
    /// One multi-threaded, work-stealing runtime for every connection.
    Shared,
}

/// The runtimes a gateway accepts on: worker 0 is the one that bound it, the others (per-core
/// only) run each on a thread of its own until stopped.
pub(super) struct Workers {
    /// Worker 0's runtime.
    caller: Handle,
    /// Every worker's runtime, worker 0's first.
    handles: Vec<Handle>,
    stops: Mutex<Vec<oneshot::Sender<()>>>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Workers {
    /// `count` per-core workers: the calling runtime, and `count - 1` threads each running a
    /// current-thread runtime (one: the calling runtime alone, the shared model's worker).
    pub(super) fn start(count: usize) -> io::Result<Workers> {
        let caller = caller_handle()?;
        let mut handles = vec![caller.clone()];
        let mut stops = Vec::new();
        let mut threads = Vec::new();
        for i in 1..count {
            let (stop, stopped) = oneshot::channel::<()>();
            // On an error, dropping `stops` ends the threads already started.
            let (handle, thread) = spawn_worker(i, stopped)?;
            handles.push(handle);
            stops.push(stop);
            threads.push(thread);
        }
        Ok(Workers {
            caller,
            handles,
            stops: Mutex::new(stops),
            threads: Mutex::new(threads),
        })
    }

    /// How many workers accept.
    pub(super) fn len(&self) -> usize {
        self.handles.len()
    }

    /// Run `task` on worker `i`'s runtime (worker 0's when there is no worker `i`).
    pub(super) fn spawn<F>(&self, i: usize, task: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.handles.get(i).unwrap_or(&self.caller).spawn(task)
    }

    /// Tell the worker threads to end: each runtime drops what still runs on it.
    pub(super) fn signal_stop(&self) {
        self.stops.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// End the worker threads and wait (off the runtime, within a bound) until they have.
    pub(super) async fn stop(&self) {
        self.signal_stop();
        let threads: Vec<_> = self
            .threads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect();
        if threads.is_empty() {
            return;
        }
        let join = tokio::task::spawn_blocking(move || {
            threads
                .into_iter()
                .map(|t| t.join())
                .filter(Result::is_err)
                .count()
        });
        match tokio::time::timeout(THREAD_EXIT, join).await {
            Ok(Ok(0)) => tracing::debug!("worker threads ended"),
            Ok(Ok(n)) => tracing::error!(threads = n, "worker threads ended by a panic"),
            Ok(Err(e)) => tracing::error!(error = %e, "cannot wait for the worker threads"),
            Err(_) => tracing::warn!(?THREAD_EXIT, "worker threads still running; leaving them"),
        }
    }
}

/// The runtime the caller runs on: worker 0.
fn caller_handle() -> io::Result<Handle> {
    Handle::try_current().map_err(|e| {
        io::Error::other(format!(
            "the gateway must be bound inside a tokio runtime: {e}"
        ))
    })
}

/// Start worker `i`: a thread running a current-thread runtime until `stopped` resolves (or its
/// sender is dropped).
fn spawn_worker(
    i: usize,
    stopped: oneshot::Receiver<()>,
) -> io::Result<(Handle, std::thread::JoinHandle<()>)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        // The runtime's blocking threads (DNS lookups) count as the worker too.
        .on_thread_start(move || crate::worker::set_index(i))
        .build()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot start worker {i}'s runtime: {e}")))?;
    let handle = runtime.handle().clone();
    let thread = std::thread::Builder::new()
        .name(format!("portcullis-worker-{i}"))
        .spawn(move || {
            crate::worker::set_index(i);
            tracing::debug!(worker = i, "worker started");
            runtime.block_on(async {
                let _ = stopped.await;
            });
            runtime.shutdown_timeout(BLOCKING_GRACE);
        })
        .map_err(|e| io::Error::new(e.kind(), format!("cannot start worker {i}'s thread: {e}")))?;
    Ok((handle, thread))
}
