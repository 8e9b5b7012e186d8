//! The access log's buffered, non-blocking writer: one line per request, written by size, by
//! time, on SIGHUP and at exit, to stderr or `[access_log] path`, without a system call per line.
//!
//! Design. The line is formatted on the request's thread into a thread-local `String` (so
//! formatting allocates nothing per request) by [`line::write`], byte for byte what the
//! tracing `fmt` layer writes for the access event but without its per-event machinery.
//! [`push`] copies it into one shared buffer under a mutex held for that copy only.
//! A dedicated OS thread (not a tokio worker, so a blocked disk or pipe never stalls requests)
//! swaps the buffer for an empty spare and writes it in one go when it holds
//! `access_log.buffer_bytes`, when `access_log.flush_interval_ms` has passed, when SIGHUP asks
//! for a reopen, and when the process exits (after the drain, waiting at most
//! [`EXIT_FLUSH_BOUND`]). Bytes being written still count against
//! `access_log.max_pending_bytes`: when the destination stops taking lines, the buffer fills to
//! that and further lines are refused whole and counted in
//! `portcullis_access_log_dropped_lines_total`, as are lines a failed write lost. A request
//! never waits for the destination.
//!
//! Why not `tracing-appender`'s `non_blocking`: its worker writes each line as it arrives (one
//! `write(2)` per line unless wrapped in a `BufWriter`, which then flushes only when the
//! channel runs empty, never by time), allocates a `Vec` per line for its channel, bounds the
//! queue in lines rather than bytes, and cannot reopen a file on SIGHUP.

mod buffer;
pub mod line;
mod output;
mod sink;

use std::path::PathBuf;
use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;

pub use output::check_path;

/// The tracing target of access lines: events with it go to this writer, all others to stderr.
pub const TARGET: &str = "access";

/// Default `access_log.buffer_bytes`: pending bytes that trigger a write, as NGINX's `buffer=64k`.
pub const DEFAULT_BUFFER_BYTES: usize = 64 * 1024;

/// Default `access_log.flush_interval_ms`: longest a line waits, as NGINX's `flush=1s`.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Default `access_log.max_pending_bytes`, as a multiple of `buffer_bytes` (1 MiB by default):
/// room for bursts and short stalls of the destination before lines are dropped.
pub const DEFAULT_MAX_PENDING_BUFFERS: usize = 16;

/// Largest `access_log.buffer_bytes` accepted.
pub const MAX_BUFFER_BYTES: u64 = 64 << 20;

/// Largest `access_log.max_pending_bytes` accepted.
pub const MAX_PENDING_BYTES: u64 = 1 << 30;

/// Longest the process waits at exit for the access log to be written (a blocked destination
/// must not keep it from exiting; what is left is counted and logged).
pub const EXIT_FLUSH_BOUND: Duration = Duration::from_secs(10);

/// Where and how the access log is written: `[access_log]` `path`, `buffer_bytes`,
/// `flush_interval_ms` and `max_pending_bytes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The file lines are appended to; stderr when `None`.
    pub path: Option<PathBuf>,
    /// Pending bytes that trigger a write.
    pub buffer_bytes: usize,
    /// Longest a line waits for a write while the destination keeps up.
    pub flush_interval: Duration,
    /// Most bytes buffered and being written; lines past it are dropped and counted.
    pub max_pending_bytes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            path: None,
            buffer_bytes: DEFAULT_BUFFER_BYTES,
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            max_pending_bytes: DEFAULT_BUFFER_BYTES * DEFAULT_MAX_PENDING_BUFFERS,
        }
    }
}

/// The process's dropped-lines counter, shared by the writer and every metrics registry.
static DROPPED: LazyLock<Counter> = LazyLock::new(Counter::default);

/// The process's writer, started by [`start`] (the `serve` and `demo` commands).
static SINK: OnceLock<sink::Sink> = OnceLock::new();

/// Lines dropped because the buffer was full or a write failed: `portcullis_access_log_dropped_lines_total`.
pub fn dropped_lines() -> Counter {
    DROPPED.clone()
}

/// Start the process's writer thread (once; to stderr until [`configure`] names a path).
pub fn start() -> std::io::Result<()> {
    if SINK.get().is_none() {
        let sink = sink::Sink::start(&Settings::default(), dropped_lines())?;
        SINK.get_or_init(|| sink);
    }
    Ok(())
}

/// Apply the configuration's settings (at start and after each reload): limits at once, a new
/// `path` once the lines before it are written to the old one. No-op without [`start`].
pub fn configure(settings: &Settings) {
    if let Some(sink) = SINK.get() {
        sink.configure(settings);
    }
}

/// SIGHUP: write what is buffered, then open the path again, so a file that logrotate moved
/// away is closed and a new one created. Does not wait; a failed open keeps the old file.
pub fn reopen() {
    if let Some(sink) = SINK.get() {
        sink.reopen();
    }
}

/// At exit, after the drain: write every line and end the writer thread, waiting at most
/// [`EXIT_FLUSH_BOUND`]; lines still unwritten then are logged as lost.
pub fn finish() {
    let Some(sink) = SINK.get() else { return };
    if !sink.finish(EXIT_FLUSH_BOUND) {
        tracing::error!(
            bound = ?EXIT_FLUSH_BOUND,
            "the access log destination did not take the last lines in time; they are lost"
        );
    }
}

/// Hand one whole access line (newline included) to the writer; `false` when the writer is
/// not started (the line then goes through tracing, as in tests that serve in-process).
pub fn push(line: &[u8]) -> bool {
    match SINK.get() {
        Some(sink) => {
            sink.shared().push(line);
            true
        }
        None => false,
    }
}
