//! A real `redis-server` (Debian's package) on a loopback port, for the shared rate-limit store.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{STEP, free_port, installed};

/// A `redis-server` child process without persistence; killed when dropped.
pub struct RedisServer {
    /// Its address.
    pub addr: SocketAddr,
    child: Option<Child>,
}

impl RedisServer {
    /// Start one on a free loopback port. `None` (with a message) when `redis-server` is not
    /// installed and this is not CI; in CI (`CI` set) a missing server fails the test.
    pub async fn start() -> Option<RedisServer> {
        if !installed("redis-server", "--version") {
            assert!(
                std::env::var_os("CI").is_none(),
                "redis-server is not installed (CI installs it: .ci/run)"
            );
            eprintln!("SKIPPED: redis-server is not installed (apt-get install redis-server)");
            return None;
        }
        // Redis cannot listen on port 0: take a free port, release it, hand it over.
        let addr = free_port();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(addr.port().to_string())
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let server = RedisServer {
            addr,
            child: Some(child),
        };
        let up = super::within(STEP, || async { ping(addr).is_ok() }).await;
        assert!(up, "redis-server did not answer PING on {addr}");
        Some(server)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Kill the server now (SIGKILL) and wait for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One `PING`, answered `+PONG`.
pub fn ping(addr: SocketAddr) -> Result<(), String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_millis(200)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .map_err(|e| e.to_string())?;
    s.write_all(b"PING\r\n").map_err(|e| e.to_string())?;
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).map_err(|e| e.to_string())?;
    if &buf == b"+PONG\r\n" {
        Ok(())
    } else {
        Err(format!("unexpected reply {buf:?}"))
    }
}
