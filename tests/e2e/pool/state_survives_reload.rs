//! What the gateway learnt about its targets survives a reload for targets that stay: a target
//! marked down by its health checks stays down across an unrelated reload, instead of coming
//! back as healthy and getting traffic until the checks catch it again.

use crate::support::*;

use std::net::SocketAddr;

/// Checks every 100 ms; two failures mark a target down, a hundred passes (10 s) restore it.
const HEALTH_CHECK: &str = "health_check = { path = \"/health\", interval_ms = 100, timeout_ms = 200, healthy_threshold = 100, unhealthy_threshold = 2 }\n";

async fn healthy_gauge(run: &Gateway, target: SocketAddr) -> Option<f64> {
    metric_one(
        &run.metrics().await,
        "portcullis_upstream_target_healthy",
        &[("upstream", "onprem"), ("target", &target.to_string())],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_marked_down_stays_down_across_an_unrelated_reload() {
    let pki = Pki::new("localhost");
    let a = Upstream::start_named("a").await;
    let b = Upstream::start_named("b").await;
    let config = Config::new(&pki, &[a.addr, b.addr]).pool(HEALTH_CHECK);
    let run = Gateway::start(&config.build()).await;

    a.set_healthy(false);
    assert!(
        within(STEP, || async {
            healthy_gauge(&run, a.addr).await == Some(0.0)
        })
        .await,
        "target a was never marked unhealthy:\n{}",
        run.metrics().await
    );
    // a answers its checks again, but needs a hundred passes to be trusted again.
    a.set_healthy(true);

    // An unrelated change: a limit, nothing about the pool.
    let edited = config.limits("idle_timeout_ms = 61000").build();
    std::fs::write(&run.config, &edited).unwrap();
    let generation = run.reloader.reload().await.expect("the reload applies");
    assert_eq!(generation, 2);

    assert_eq!(
        healthy_gauge(&run, a.addr).await,
        Some(0.0),
        "the reload forgot that target a is down"
    );
    let seen_a = a.seen().len();
    for _ in 0..6 {
        let got = get_at(run.addr(), &pki, "/inventory").await.unwrap();
        assert_eq!(got.status, 200, "{got:?}");
        assert_eq!(
            got.body, "b:/rest-service/inventory",
            "a down target got traffic"
        );
    }
    assert_eq!(a.seen().len(), seen_a);
}
