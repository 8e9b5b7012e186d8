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

/// A port on 127.0.0.1 where nothing listens (bound, then released), for refused-target tests.
pub fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
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
