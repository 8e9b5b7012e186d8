//! A reload on per-core workers binds an added listen address on every worker and stops a
//! dropped one on every worker; the unchanged one keeps its live connection.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_address_is_served_by_both_workers_and_a_dropped_one_by_none() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let (a, b) = (free_port(), free_port());
    let mut running = Gateway::start_per_core(&listeners_config(&pki, up.addr, &[a]), 2).await;
    let mut kept = KeepAlive::open(a, &pki, Some(&pki.client)).await;
    assert_eq!(kept.get("/inventory").await.unwrap().status, 200);

    std::fs::write(&running.config, listeners_config(&pki, up.addr, &[a, b])).unwrap();
    assert_eq!(running.reloader.reload().await, Ok(2));
    let before = per_worker(&running.metrics().await);
    let got = get_concurrently(b, &pki, "/inventory", 24).await;
    assert!(got.iter().all(|g| g.status == 200), "{got:?}");
    let after = per_worker(&running.metrics().await);
    let on_b = [after[0] - before[0], after[1] - before[1]];
    assert_eq!(on_b[0] + on_b[1], 24.0, "{on_b:?}");
    assert!(
        on_b[0] > 0.0 && on_b[1] > 0.0,
        "{b} is served by one worker only: {on_b:?}"
    );
    assert_eq!(kept.get("/inventory").await.unwrap().status, 200);

    std::fs::write(&running.config, listeners_config(&pki, up.addr, &[a])).unwrap();
    assert_eq!(running.reloader.reload().await, Ok(3));
    // A worker still accepting on `b` would take about half of these.
    let stopped = within(STEP, || async {
        for _ in 0..16 {
            if get_at(b, &pki, "/inventory").await.is_ok() {
                return false;
            }
        }
        true
    })
    .await;
    assert!(
        stopped,
        "{b} still accepts on some worker after its domain was removed"
    );
    assert_eq!(kept.get("/inventory").await.unwrap().status, 200);
    assert_eq!(running.gw.local_addrs(), vec![a]);
    running.shutdown();
}
