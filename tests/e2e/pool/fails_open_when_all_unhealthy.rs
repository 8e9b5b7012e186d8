//! When every target of a pool fails its health checks, the pool fails open (as an NLB does):
//! requests still reach the targets and are answered 200, spread over all of them.

use crate::support::*;

use std::net::SocketAddr;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_targets_unhealthy_still_get_traffic() {
    fails_open("").await;
}

/// `least_requests` breaks ties round-robin, failing open included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_targets_unhealthy_still_get_traffic_with_least_requests() {
    fails_open("load_balancing = \"least_requests\"\n").await;
}

async fn fails_open(balancing: &str) {
    let pki = Pki::new("localhost");
    let a = Upstream::start_named("a").await;
    let b = Upstream::start_named("b").await;
    // Unhealthy from the start: `/health` answers 500, everything else is served.
    a.set_healthy(false);
    b.set_healthy(false);
    let run = Gateway::start(&Config::new(&pki, &[a.addr, b.addr]).pool(&format!("{balancing}health_check = {{ path = \"/health\", interval_ms = 100, timeout_ms = 200, healthy_threshold = 2, unhealthy_threshold = 2 }}\n")).build())
    .await;
    let gauge = |metrics: &str, t: SocketAddr| {
        metric_one(
            metrics,
            "portcullis_upstream_target_healthy",
            &[("upstream", "onprem"), ("target", &t.to_string())],
        )
    };
    assert!(
        within(STEP, || async {
            let m = run.metrics().await;
            gauge(&m, a.addr) == Some(0.0) && gauge(&m, b.addr) == Some(0.0)
        })
        .await,
        "both targets should be marked unhealthy:\n{}",
        run.metrics().await
    );

    let mut got = Vec::new();
    for _ in 0..6 {
        let r = get_at(run.addr(), &pki, "/inventory").await.unwrap();
        assert_eq!(r.status, 200, "fail open: {r:?}");
        got.push(r.body);
    }
    assert!(
        got.iter().any(|b| b == "a:/rest-service/inventory")
            && got.iter().any(|b| b == "b:/rest-service/inventory"),
        "failing open spreads over every target ({balancing:?}): {got:?}"
    );
    // Still unhealthy: the traffic was fail-open, not a recovery.
    let m = run.metrics().await;
    assert_eq!(gauge(&m, a.addr), Some(0.0), "{m}");
    assert_eq!(gauge(&m, b.addr), Some(0.0), "{m}");
}
