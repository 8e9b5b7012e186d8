//! Two per-core workers: many connections at once are all served, and the kernel spreads them
//! over both workers' `SO_REUSEPORT` sockets (each worker counts the connections it accepted).

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_connections_are_all_served_and_both_workers_accept() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start_per_core(&simple_config(&pki, up.addr, INVENTORY_ROUTE), 2).await;

    let got = get_concurrently(gw.addr(), &pki, "/inventory", 40).await;
    assert!(
        got.iter()
            .all(|g| g.status == 200 && g.body == "upstream:/rest-service/inventory"),
        "{got:?}"
    );
    assert_eq!(up.seen().len(), 40);

    let [w0, w1] = per_worker(&gw.metrics().await);
    assert_eq!(w0 + w1, 40.0, "worker 0: {w0}, worker 1: {w1}");
    assert!(
        w0 > 0.0 && w1 > 0.0,
        "one worker accepted everything: {w0} / {w1}"
    );
}
