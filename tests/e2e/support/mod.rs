//! Shared fixtures (PKI, config, gateway, upstream, client) on 127.0.0.1:0: tests state behaviour.

mod certs;
mod cli;
mod client;
mod config;
mod gateway;
mod metrics;
mod openssl;
mod pki;
mod redis;
mod served;
mod upstream;

pub use certs::*;
pub use cli::*;
pub use client::*;
pub use config::*;
pub use gateway::*;
pub use metrics::*;
pub use openssl::*;
pub use pki::*;
pub use redis::*;
pub use served::*;
pub use upstream::*;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// Upper bound for any single network step in tests.
pub const STEP: Duration = Duration::from_secs(10);

/// Path of the built `portcullis` binary, which the CLI and child-process tests run.
pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_portcullis"))
}

/// A port on 127.0.0.1 for a listener the test starts later (the gateway, its admin endpoint,
/// redis-server): held for the rest of the test run by a socket bound with `SO_REUSEADDR`
/// that never listens. Listeners (which bind with `SO_REUSEADDR`) can take it; no other test's
/// port-0 bind or outgoing connection can, which a port merely freed again would allow. For a
/// target that must refuse connections, use [`dead_port`].
pub fn free_port() -> SocketAddr {
    hold_port(true)
}

/// A port on 127.0.0.1 that refuses every connection for the rest of the test run: a socket
/// is bound there (without `SO_REUSEADDR`) and never listens, so no other test's listener can
/// take the port and turn the refused target into a live one.
pub fn dead_port() -> SocketAddr {
    hold_port(false)
}

/// A loopback port held by a bound, never listening socket until the test binary exits.
fn hold_port(reuse_address: bool) -> SocketAddr {
    static HELD: std::sync::Mutex<Vec<socket2::Socket>> = std::sync::Mutex::new(Vec::new());
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_reuse_address(reuse_address).unwrap();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    socket.bind(&any.into()).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    HELD.lock().unwrap_or_else(|p| p.into_inner()).push(socket);
    addr
}

/// Poll `cond` every 20 ms for up to `STEP`: a bounded wait instead of a sleep.
pub async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + STEP;
    while tokio::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cond()
}

/// Poll the async `cond` every 50 ms for up to `bound`; true once it holds.
pub async fn within<F, Fut>(bound: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        if cond().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Replace `path` atomically (write a sibling, rename over it), as deploy tools do.
pub fn replace_file(path: &Path, contents: &[u8]) {
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}
