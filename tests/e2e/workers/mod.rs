//! Per-core workers (`--runtime per-core`): every worker accepts and serves, keeps its own
//! upstream connections, follows reloads and drains on SIGTERM.

mod a_reload_binds_and_stops_listeners_on_every_worker;
mod every_worker_accepts_and_serves;
mod every_worker_keeps_its_own_upstream_connections;
mod sigterm_drains_every_worker;

use std::net::SocketAddr;

use crate::support::*;

/// `portcullis_worker_connections_total` of workers 0 and 1.
fn per_worker(metrics: &str) -> [f64; 2] {
    let of = |w: &str| {
        metric_sum(
            metrics,
            "portcullis_worker_connections_total",
            &[("worker", w)],
        )
    };
    [of("0"), of("1")]
}

/// `n` requests for `path` at once, each on its own mTLS connection as the PKI's good client.
async fn get_concurrently(addr: SocketAddr, pki: &Pki, path: &str, n: usize) -> Vec<Got> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (root, client, path) = (pki.root.pem.clone(), pki.client.clone(), path.to_owned());
            tokio::spawn(async move {
                request(addr, "localhost", &root, Some(&client), get_req(&path)).await
            })
        })
        .collect();
    let mut got = Vec::new();
    for t in tasks {
        let answer = tokio::time::timeout(STEP, t).await;
        got.push(answer.expect("a request took too long").unwrap().unwrap());
    }
    got
}
