//! Per-core workers (`--runtime per-core`): every worker accepts and serves, keeps its own
//! upstream connections, follows reloads and drains on SIGTERM.

mod a_reload_binds_and_stops_listeners_on_every_worker;
mod a_reload_reaches_connections_on_every_worker;
mod every_worker_accepts_and_serves;
mod every_worker_keeps_its_own_upstream_connections;
mod sigterm_closes_idle_connections_on_every_worker;
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

/// Idle keep-alive connections on both workers: enough that the kernel leaves one worker
/// without any only with odds of 2^-23.
const IDLE: usize = 24;

/// [`IDLE`] keep-alive connections to `addr`, each idle after one good request; asserts (by the
/// admin endpoint's per-worker counts) that both workers hold some.
async fn idle_on_both_workers(addr: SocketAddr, pki: &Pki, admin: SocketAddr) -> Vec<KeepAlive> {
    let mut idle = Vec::new();
    for _ in 0..IDLE {
        let mut c = KeepAlive::open(addr, pki, None).await;
        let got = c
            .get("/ping")
            .await
            .expect("a request on a fresh connection");
        assert_eq!(got.status, 200, "{got:?}");
        idle.push(c);
    }
    let (status, metrics) = http_get(admin, "/metrics").await.unwrap();
    assert_eq!(status, 200, "{metrics}");
    let [w0, w1] = per_worker(&metrics);
    assert!(
        w0 > 0.0 && w1 > 0.0,
        "one worker accepted every connection: {w0} / {w1}"
    );
    idle
}

/// Wait (bounded) until the gateway has closed every one of `idle`.
async fn all_closed(idle: Vec<KeepAlive>, served: &Served, after: &str) {
    for c in idle {
        tokio::time::timeout(STEP, c.conn)
            .await
            .unwrap_or_else(|_| {
                panic!("a connection stayed open after {after}:\n{}", served.dump())
            })
            .unwrap();
    }
}
