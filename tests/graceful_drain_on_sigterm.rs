//! SIGTERM to `portcullis serve` drains: the request in flight still completes with 200, new
//! connections are refused from the signal on, and the process exits 0 within a bound.

mod common;
mod common_http;
use common::*;
use common_http::*;

use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// The binary serving a configuration, its stderr lines streamed to the test.
struct Served {
    child: Child,
    lines: UnboundedReceiver<String>,
    log: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Served {
    fn start(config: &str) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.toml");
        std::fs::write(&path, config).unwrap();
        let mut child = Command::new(bin())
            .args(["serve", "--config"])
            .arg(&path)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Served {
            child,
            lines,
            log: Vec::new(),
            _dir: dir,
        }
    }

    /// Wait (bounded) for a stderr line containing `needle`.
    async fn wait_for(&mut self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Ok(None) => panic!("stderr closed before `{needle}`:\n{}", self.log.join("\n")),
                Err(_) => panic!("no `{needle}` within {STEP:?}:\n{}", self.log.join("\n")),
            }
        }
    }

    /// The address of the `listening` log line.
    async fn listen_addr(&mut self) -> SocketAddr {
        let line = self.wait_for("listening").await;
        let addr = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("listen="))
            .unwrap_or_else(|| panic!("no listen= in `{line}`"));
        addr.trim_matches('"').parse().unwrap()
    }

    /// Poll for the exit status within `bound`.
    async fn exit_within(&mut self, bound: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + bound;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_and_refuses_new_connections() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let cfg = config(&pki, "shutdown_grace_ms = 10000", &[up.addr], PROXY_ROUTE);
    let mut served = Served::start(&cfg);
    let addr = served.listen_addr().await;

    // The binary serves.
    let warm = request(
        addr,
        "localhost",
        &pki.root.pem,
        Some(&pki.client),
        get_req("/warm"),
    )
    .await
    .unwrap();
    assert_eq!(warm.status, 200, "{warm:?}");

    // A request in flight: the upstream takes 3 s to answer /slow.
    let root = pki.root.pem.clone();
    let client = pki.client.clone();
    let in_flight = tokio::spawn(async move {
        request(addr, "localhost", &root, Some(&client), get_req("/slow")).await
    });
    assert!(eventually(|| up.seen().iter().any(|s| s.path_and_query == "/slow")).await);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let pid = served.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let signalled = Instant::now();
    served.wait_for("shutting down").await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    // New connections are refused while the old request drains.
    let fresh =
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await;
    assert!(
        matches!(fresh, Ok(Err(_))),
        "a new connection was accepted after SIGTERM: {fresh:?}"
    );
    assert!(
        !in_flight.is_finished(),
        "the in-flight request ended before the drain was observed"
    );

    let got = tokio::time::timeout(STEP, in_flight)
        .await
        .expect("in-flight request did not finish")
        .unwrap()
        .expect("the in-flight request failed during the drain");
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.body, "upstream:/slow");

    let status = served
        .exit_within(Duration::from_secs(10))
        .await
        .expect("the gateway did not exit within 10 s of SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    assert!(signalled.elapsed() < Duration::from_secs(8));
}
