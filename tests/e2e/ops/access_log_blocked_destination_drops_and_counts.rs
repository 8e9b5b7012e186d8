//! An access log destination that stops taking lines (a FIFO nobody reads) never slows
//! requests: they all answer 200 promptly, the lines past the buffer's capacity are dropped and
//! counted in `portcullis_access_log_dropped_lines_total`, and none is lost silently: the lines
//! read from the FIFO afterwards plus the dropped ones make exactly one per request.

use crate::support::*;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DROPPED: &str = "portcullis_access_log_dropped_lines_total";

/// A FIFO at `path`, and its read end, open but not read until the caller says.
fn fifo(path: &Path) -> tokio::net::unix::pipe::Receiver {
    let made = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(made.success(), "mkfifo {}", path.display());
    // Read-write: the open neither waits for a writer nor sees end-of-file when one closes.
    tokio::net::unix::pipe::OpenOptions::new()
        .read_write(true)
        .open_receiver(path)
        .unwrap()
}

/// Read everything the FIFO gets into `into`, until the task is aborted.
fn drain(
    rx: tokio::net::unix::pipe::Receiver,
    into: Arc<Mutex<Vec<u8>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = vec![0; 64 * 1024];
        loop {
            if rx.readable().await.is_err() {
                return;
            }
            match rx.try_read(&mut buf) {
                Ok(n) => into.lock().unwrap().extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_destination_drops_counted_lines_and_never_slows_requests() {
    const N: usize = 300;
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let log = pki.path("access.fifo");
    let rx = fifo(&log);
    let admin = free_port();
    let cfg = Config::new(&pki, &[up.addr])
        .top(&format!("[admin]\nlisten = \"{admin}\""))
        .access_log(&format!(
            "path = {}\nbuffer_bytes = 1024\nmax_pending_bytes = 4096\nflush_interval_ms = 50",
            toml_path(&log)
        ))
        .build();
    let mut served = Served::start(&pki.write("gateway.toml", &cfg));
    let addr = served.listen_addr().await;

    // N lines of about 500 bytes: far more than the pipe (64 KiB) and the buffer (4 KiB) hold.
    let mut conn = KeepAlive::open(addr, &pki, None).await;
    let mut slowest = Duration::ZERO;
    for i in 0..N {
        let started = Instant::now();
        conn.get_ok_with_id("/inventory", &format!("blocked-{i}"))
            .await;
        slowest = slowest.max(started.elapsed());
    }
    assert!(
        slowest < Duration::from_secs(2),
        "a request took {slowest:?}"
    );

    let dropped = || async {
        let (status, body) = http_get(admin, "/metrics").await.unwrap();
        assert_eq!(status, 200, "{body}");
        metric_one(&body, DROPPED, &[]).unwrap_or_else(|| panic!("no {DROPPED}:\n{body}"))
    };
    assert!(
        within(STEP, || async { dropped().await > 0.0 }).await,
        "nothing counted as dropped:\n{}",
        served.dump()
    );

    // Now read: the writer thread unblocks and writes what it kept.
    let read: Arc<Mutex<Vec<u8>>> = Arc::default();
    let reader = drain(rx, read.clone());
    let written = || access_lines(&String::from_utf8_lossy(&read.lock().unwrap())).len();
    let accounted = within(STEP, || async { written() + dropped().await as usize == N }).await;
    let gone = dropped().await;
    assert!(
        accounted,
        "{} written + {gone} dropped != {N}:\n{}",
        written(),
        served.dump()
    );
    assert!(gone < N as f64, "every line was dropped");

    served.terminate().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    reader.abort();
    let lines = access_lines(&String::from_utf8_lossy(&read.lock().unwrap()));
    assert_eq!(
        lines.len() + gone as usize,
        N,
        "no line after the count settled"
    );
    assert!(
        lines.iter().all(|l| l["path"] == "/inventory"),
        "only whole access lines went through the FIFO"
    );
}
