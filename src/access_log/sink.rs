//! The sink: the buffer shared by request threads, and the writer thread that empties it by
//! size, by time, on request (SIGHUP, exit) and reopens its destination when told.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;

use super::Settings;
use super::buffer::{Pending, Pushed};
use super::output::{Output, Target};

/// What the request threads and the writer thread share, under one lock.
#[derive(Debug)]
struct State {
    /// Lines accepted and not yet written.
    pending: Pending,
    /// Longest a line waits in the buffer while the destination keeps up.
    flush_interval: Duration,
    /// The destination the configuration names.
    target: Target,
    /// Open `target` anew (SIGHUP, new path) after writing the lines accepted before the first
    /// such request: this many bytes of the buffer go to the old destination, the rest to the new.
    reopen: Option<usize>,
    /// Flushes asked for so far.
    flushes_asked: u64,
    /// Flushes done: every line accepted before the `flushes_done`-th request is written.
    flushes_done: u64,
    /// Write what is left, then end the writer thread.
    stop: bool,
    /// The writer thread has ended: lines can no longer be written and are counted as dropped.
    ended: bool,
}

impl State {
    /// Reopen the target after the lines accepted so far (the first request's point holds).
    fn ask_reopen(&mut self) {
        let at = self.pending.len();
        self.reopen.get_or_insert(at);
    }
}

/// The state, the writer's wake-up call, and the flushers' "done" call.
#[derive(Debug)]
pub(super) struct Shared {
    state: Mutex<State>,
    /// Wakes the writer: a full buffer, a flush, a reopen, the stop.
    wake: Condvar,
    /// Wakes those waiting for a flush or the writer's end.
    done: Condvar,
    /// Lines refused (buffer over capacity) or lost (failed write): `portcullis_access_log_dropped_lines_total`.
    dropped: Counter,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wait up to `bound` on the writer's "done" calls until `until` holds or the writer ended.
    fn wait_done<'a>(
        &self,
        state: MutexGuard<'a, State>,
        bound: Duration,
        until: impl Fn(&State) -> bool,
    ) -> MutexGuard<'a, State> {
        self.done
            .wait_timeout_while(state, bound, |s| !(s.ended || until(s)))
            .unwrap_or_else(|p| p.into_inner())
            .0
    }

    /// Buffer one whole line, or drop and count it; never waits for the destination.
    pub(super) fn push(&self, line: &[u8]) {
        let mut state = self.lock();
        let pushed = if state.ended {
            Pushed::Dropped
        } else {
            state.pending.push(line)
        };
        drop(state);
        match pushed {
            Pushed::Buffered => {}
            // Once per buffer: the wake-up is a system call, too dear for every line.
            Pushed::Full => self.wake.notify_one(),
            Pushed::Dropped => {
                self.dropped.inc();
            }
        }
    }
}

/// The access log's buffer and its writer thread.
#[derive(Debug)]
pub(super) struct Sink {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Sink {
    /// Start the writer thread with `settings`; lines it drops or loses count in `dropped`.
    pub(super) fn start(settings: &Settings, dropped: Counter) -> std::io::Result<Sink> {
        let target = Target::of(settings.path.as_deref());
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                pending: Pending::new(settings.buffer_bytes, settings.max_pending_bytes),
                flush_interval: settings.flush_interval,
                reopen: None,
                target: target.clone(),
                flushes_asked: 0,
                flushes_done: 0,
                stop: false,
                ended: false,
            }),
            wake: Condvar::new(),
            done: Condvar::new(),
            dropped,
        });
        let writer = shared.clone();
        let thread = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_until_stopped(&writer, &target))?;
        Ok(Sink {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// What request threads write to.
    pub(super) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Apply `settings`: new limits at once; a new destination once the lines before are
    /// written to the old one.
    pub(super) fn configure(&self, settings: &Settings) {
        let target = Target::of(settings.path.as_deref());
        let mut state = self.shared.lock();
        state
            .pending
            .set_limits(settings.buffer_bytes, settings.max_pending_bytes);
        if state.flush_interval != settings.flush_interval {
            state.flush_interval = settings.flush_interval;
            // The writer may be waiting out the old interval: a write now restarts its wait.
            state.flushes_asked += 1;
        }
        if state.target != target {
            state.target = target;
            state.ask_reopen();
        }
        drop(state);
        self.shared.wake.notify_one();
    }

    /// Write what is buffered to the current destination, then open it again (SIGHUP: a
    /// rotated file is closed, a new one created at the path). Returns at once.
    pub(super) fn reopen(&self) {
        self.shared.lock().ask_reopen();
        self.shared.wake.notify_one();
    }

    /// Wait up to `bound` until every line accepted so far is written; false on timeout.
    #[cfg(test)]
    pub(super) fn flush(&self, bound: Duration) -> bool {
        let mut state = self.shared.lock();
        state.flushes_asked += 1;
        let ticket = state.flushes_asked;
        self.shared.wake.notify_one();
        let state = self
            .shared
            .wait_done(state, bound, |s| s.flushes_done >= ticket);
        state.flushes_done >= ticket
    }

    /// Write everything buffered and end the writer thread, waiting up to `bound` (a blocked
    /// destination must not keep the process from exiting). False when lines were left.
    pub(super) fn finish(&self, bound: Duration) -> bool {
        let mut state = self.shared.lock();
        state.stop = true;
        self.shared.wake.notify_one();
        if !self.shared.wait_done(state, bound, |_| false).ended {
            return false;
        }
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        thread.is_none_or(|t| t.join().is_ok())
    }
}

/// One round of the writer: the lines it took, and where in them to reopen which target.
struct Job {
    lines: Vec<u8>,
    reopen: Option<(usize, Target)>,
    flush_ticket: u64,
    stop: bool,
}

/// The writer thread: open `target`, then wait for a job, write it outside the lock, repeat
/// until stopped.
fn write_until_stopped(shared: &Shared, target: &Target) {
    let mut output = Output::Stderr;
    reopen(&mut output, target);
    let mut failing = false;
    let mut spare = Vec::new();
    loop {
        let job = next_job(shared, spare);
        let (before, after) = match &job.reopen {
            Some((at, _)) => job.lines.split_at(*at),
            None => (&job.lines[..], &[][..]),
        };
        write(shared, &mut output, before, &mut failing);
        if let Some((_, target)) = &job.reopen {
            reopen(&mut output, target);
        }
        write(shared, &mut output, after, &mut failing);
        spare = job.lines;
        let mut state = shared.lock();
        state.pending.written();
        state.flushes_done = job.flush_ticket;
        if job.stop && state.pending.is_empty() && state.reopen.is_none() {
            state.ended = true;
            drop(state);
            shared.done.notify_all();
            return;
        }
        drop(state);
        shared.done.notify_all();
    }
}

/// Write `lines` to `output`; count and report lines lost (once until writes work again).
fn write(shared: &Shared, output: &mut Output, lines: &[u8], failing: &mut bool) {
    if lines.is_empty() {
        return;
    }
    match output.write_chunk(lines) {
        Err(lost) => {
            shared.dropped.inc_by(lost.lines);
            if !*failing {
                tracing::error!(
                    error = %lost.error,
                    lines = lost.lines,
                    "cannot write the access log; lost lines are counted in \
                     portcullis_access_log_dropped_lines_total"
                );
            }
            *failing = true;
        }
        Ok(()) if *failing => {
            tracing::info!("the access log is written again");
            *failing = false;
        }
        Ok(()) => {}
    }
}

/// Replace `output` by `target` opened anew; when that fails, keep `output` and say why.
fn reopen(output: &mut Output, target: &Target) {
    match Output::open(target) {
        Ok(o) => *output = o,
        Err(e) => tracing::error!(
            error = %e,
            "cannot open the access log {target}; it keeps going to the destination it had"
        ),
    }
}

/// Wait until the buffer is full, the flush interval has passed, or a flush, reopen or stop is
/// asked; then take the buffered lines (swapping in `spare`) and the requests.
fn next_job(shared: &Shared, spare: Vec<u8>) -> Job {
    let state = shared.lock();
    let interval = state.flush_interval;
    let idle = |s: &mut State| {
        let asked = s.stop || s.reopen.is_some() || s.flushes_asked > s.flushes_done;
        !(asked || s.pending.is_full())
    };
    let mut state = shared
        .wake
        .wait_timeout_while(state, interval, idle)
        .unwrap_or_else(|p| p.into_inner())
        .0;
    let lines = state.pending.take(spare);
    let reopen = state.reopen.take().map(|at| (at, state.target.clone()));
    Job {
        lines,
        reopen,
        flush_ticket: state.flushes_asked,
        stop: state.stop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::time::Instant;

    const HOUR: Duration = Duration::from_secs(3600);
    const BOUND: Duration = Duration::from_secs(5);

    /// A sink writing `access.log` in a fresh directory, and its dropped-lines counter.
    struct Fixture {
        dir: tempfile::TempDir,
        path: PathBuf,
        sink: Sink,
        dropped: Counter,
    }

    fn fixture(buffer_bytes: usize, max_pending_bytes: usize, flush: Duration) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let settings = Settings {
            path: Some(path.clone()),
            buffer_bytes,
            flush_interval: flush,
            max_pending_bytes,
        };
        let dropped = Counter::default();
        let sink = Sink::start(&settings, dropped.clone()).unwrap();
        Fixture {
            dir,
            path,
            sink,
            dropped,
        }
    }

    impl Fixture {
        fn push(&self, line: &str) {
            self.sink.shared().push(line.as_bytes());
        }
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// Poll `cond` for up to `BOUND`.
    fn soon(cond: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + BOUND;
        while Instant::now() < deadline {
            if cond() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        cond()
    }

    #[test]
    fn lines_wait_until_the_buffer_fills() {
        let f = fixture(20, 1000, HOUR);
        f.push("first line\n");
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(read(&f.path), "", "under the threshold nothing is written");
        f.push("second line\n");
        assert!(soon(|| read(&f.path) == "first line\nsecond line\n"));
        assert!(f.sink.finish(BOUND));
    }

    #[test]
    fn lines_are_written_within_the_flush_interval() {
        let f = fixture(1 << 20, 1 << 21, Duration::from_millis(100));
        f.push("lonely line\n");
        assert!(soon(|| read(&f.path) == "lonely line\n"));
        assert!(f.sink.finish(BOUND));
    }

    #[test]
    fn flush_and_finish_write_everything_accepted() {
        let f = fixture(1 << 20, 1 << 21, HOUR);
        f.push("a\n");
        assert!(f.sink.flush(BOUND));
        assert_eq!(read(&f.path), "a\n");
        f.push("b\n");
        assert!(f.sink.finish(BOUND));
        assert_eq!(read(&f.path), "a\nb\n");
    }

    #[test]
    fn a_shorter_flush_interval_applies_without_waiting_out_the_old_one() {
        let f = fixture(1 << 20, 1 << 21, HOUR);
        f.push("before\n");
        let settings = Settings {
            path: Some(f.path.clone()),
            flush_interval: Duration::from_millis(50),
            ..Settings::default()
        };
        f.sink.configure(&settings);
        assert!(soon(|| read(&f.path) == "before\n"));
        f.push("after\n");
        assert!(soon(|| read(&f.path) == "before\nafter\n"));
        assert!(f.sink.finish(BOUND));
    }

    #[test]
    fn lines_past_the_capacity_are_counted_as_dropped() {
        let f = fixture(1 << 20, 10, HOUR);
        f.push("12345\n");
        f.push("67890\n");
        f.push("abc\n");
        assert_eq!(f.dropped.get(), 1, "the second line did not fit");
        assert!(f.sink.finish(BOUND));
        assert_eq!(read(&f.path), "12345\nabc\n");
    }

    #[test]
    fn lines_after_the_writer_ended_are_counted_as_dropped() {
        let f = fixture(64, 1024, Duration::from_secs(1));
        assert!(f.sink.finish(BOUND));
        f.push("late\n");
        assert_eq!(f.dropped.get(), 1);
        assert_eq!(read(&f.path), "");
    }

    #[test]
    fn reopen_writes_the_old_file_then_creates_a_new_one() {
        let f = fixture(1 << 20, 1 << 21, HOUR);
        let rotated = f.dir.path().join("access.log.1");
        f.push("before\n");
        assert!(f.sink.flush(BOUND));
        f.push("buffered at rotation\n");
        std::fs::rename(&f.path, &rotated).unwrap();
        f.sink.reopen();
        // Accepted after the request, before the writer acts on it: the new file's.
        f.push("after\n");
        assert!(f.sink.finish(BOUND));
        assert_eq!(read(&rotated), "before\nbuffered at rotation\n");
        assert_eq!(read(&f.path), "after\n");
    }

    #[test]
    fn a_failed_reopen_keeps_the_open_file() {
        let f = fixture(1 << 20, 1 << 21, HOUR);
        f.push("one\n");
        assert!(f.sink.flush(BOUND));
        let moved = f.dir.path().join("moved.log");
        std::fs::rename(&f.path, &moved).unwrap();
        // The path is now a directory: it cannot be opened for appending.
        std::fs::create_dir(&f.path).unwrap();
        f.sink.reopen();
        f.push("two\n");
        assert!(f.sink.finish(BOUND));
        assert_eq!(read(&moved), "one\ntwo\n");
    }
}
