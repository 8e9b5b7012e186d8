//! Each per-core worker reuses its own keep-alive upstream connections: requests one after the
//! other, over client connections that both workers accept, reach the upstream over exactly one
//! connection per worker, where a shared runtime's single pool uses one in all.

use super::*;

/// Send 24 requests one after the other, each on a new client connection; returns the distinct
/// upstream connections they came over.
async fn upstream_connections_for_sequential_requests(
    gw: &Gateway,
    pki: &Pki,
    up: &Upstream,
) -> usize {
    for _ in 0..24 {
        let got = get_at(gw.addr(), pki, "/inventory").await.unwrap();
        assert_eq!(got.status, 200, "{got:?}");
    }
    let seen = up.seen();
    assert_eq!(seen.len(), 24);
    let peers: std::collections::BTreeSet<_> = seen.iter().map(|s| s.peer).collect();
    peers.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_worker_reuses_one_upstream_connection_of_its_own() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start_per_core(&simple_config(&pki, up.addr, INVENTORY_ROUTE), 2).await;
    let connections = upstream_connections_for_sequential_requests(&gw, &pki, &up).await;
    let [w0, w1] = per_worker(&gw.metrics().await);
    assert!(
        w0 > 0.0 && w1 > 0.0,
        "one worker accepted everything: {w0} / {w1}"
    );
    assert_eq!(
        connections, 2,
        "one kept-alive upstream connection per worker"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_runtime_reuses_one_upstream_connection_in_all() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, INVENTORY_ROUTE)).await;
    let connections = upstream_connections_for_sequential_requests(&gw, &pki, &up).await;
    assert_eq!(per_worker(&gw.metrics().await), [24.0, 0.0]);
    assert_eq!(connections, 1);
}
