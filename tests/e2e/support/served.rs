//! The gateway binary as a child process with its log collected, for signals and log lines.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{bin, eventually};

/// The gateway binary, killed when dropped; stderr is collected line by line.
pub struct Served {
    /// The process.
    pub child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Served {
    /// `portcullis serve --config CONFIG --log-format json --workers 2`.
    pub fn start(config: &Path) -> Served {
        Self::spawn(config, "json", &[])
    }

    /// `portcullis serve --config CONFIG --workers 2` with the text log operators read.
    pub fn start_text(config: &Path) -> Served {
        Self::spawn(config, "text", &[])
    }

    /// [`Served::start`] on runtime model `model` (`--runtime per-core` or `shared`).
    pub fn start_on(config: &Path, model: &str) -> Served {
        Self::spawn(config, "json", &["--runtime", model])
    }

    fn spawn(config: &Path, log_format: &str, extra: &[&str]) -> Served {
        let mut child = Command::new(bin())
            .args(["serve", "--log-format", log_format, "--workers", "2"])
            .args(extra)
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the gateway binary");
        let stderr = child.stderr.take().unwrap();
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Served { child, log }
    }

    /// Every line logged so far.
    pub fn lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// The first line satisfying `pred`, polling for up to `STEP`.
    pub async fn wait_line(&self, pred: impl Fn(&str) -> bool) -> Option<String> {
        let mut found = None;
        eventually(|| {
            found = self.lines().into_iter().find(|l| pred(l));
            found.is_some()
        })
        .await;
        found
    }

    /// The log so far, for failure messages.
    pub fn dump(&self) -> String {
        self.lines().join("\n")
    }

    /// Every JSON event logged so far (other lines are skipped).
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The first event satisfying `pred`, polling for up to `STEP`.
    pub async fn wait_event(
        &self,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> Option<serde_json::Value> {
        let mut found = None;
        eventually(|| {
            found = self.events().into_iter().find(|e| pred(e));
            found.is_some()
        })
        .await;
        found
    }

    /// Messages of the events logged so far.
    pub fn messages(&self) -> Vec<String> {
        self.events()
            .iter()
            .filter_map(|e| e["message"].as_str().map(str::to_owned))
            .collect()
    }

    /// Wait for the `listening` event and return its address.
    pub async fn listen_addr(&self) -> SocketAddr {
        let ev = self
            .wait_event(|e| e["message"] == "listening" && e["listen"].is_string())
            .await
            .unwrap_or_else(|| panic!("the gateway never logged `listening`:\n{}", self.dump()));
        let addr: SocketAddr = ev["listen"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap_or_else(|e| panic!("bad listen address in {ev}: {e}"));
        assert_ne!(addr.port(), 0, "{ev}");
        addr
    }

    /// Poll for the exit status within `bound`.
    pub async fn exit_within(&mut self, bound: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + bound;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// SIGTERM, then the process must exit 0 within 15 s (drain and last access-log write).
    pub async fn terminate(&mut self) {
        self.signal("-TERM");
        let status = self.exit_within(Duration::from_secs(15)).await;
        assert!(
            status.is_some_and(|s| s.success()),
            "exit after SIGTERM: {status:?}\n{}",
            self.dump()
        );
    }

    /// Send SIGHUP to the process.
    pub fn sighup(&self) {
        self.signal("-HUP");
    }

    /// Send `signal` (e.g. `-HUP`) with `kill`.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {signal} {} failed", self.child.id());
    }
}

/// The access lines (JSON, target `access`) of a log file's text; other lines are skipped.
pub fn access_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["target"] == "access")
        .collect()
}

/// The access lines in the file at `path` (none when it does not exist).
pub fn access_lines_in(path: &Path) -> Vec<serde_json::Value> {
    access_lines(&std::fs::read_to_string(path).unwrap_or_default())
}

/// The request ids of the access lines in the file at `path`, in file order.
pub fn access_ids_in(path: &Path) -> Vec<String> {
    access_lines_in(path)
        .iter()
        .map(|l| l["request_id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
