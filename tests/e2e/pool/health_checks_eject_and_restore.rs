//! Active health checks: a target whose `/health` fails `unhealthy_threshold` times in a row
//! gets no traffic and reports `portcullis_upstream_target_healthy 0`; once it passes
//! `healthy_threshold` times it gets traffic again. A TCP check (no `path`) marks a target that
//! refuses connections unhealthy too.

use crate::support::*;

use std::net::SocketAddr;

const HEALTH_CHECK: &str = "health_check = { path = \"/health\", interval_ms = 100, timeout_ms = 200, healthy_threshold = 2, unhealthy_threshold = 2 }\n";

async fn healthy_gauge(run: &Gateway, target: SocketAddr) -> Option<f64> {
    let metrics = run.metrics().await;
    metric_one(
        &metrics,
        "portcullis_upstream_target_healthy",
        &[("upstream", "onprem"), ("target", &target.to_string())],
    )
}

/// Send `n` requests on fresh connections; return the bodies.
async fn bodies(run: &Gateway, pki: &Pki, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let got = get_at(run.addr(), pki, "/inventory").await.unwrap();
        assert_eq!(got.status, 200, "{got:?}");
        out.push(got.body);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_health_checks_eject_a_target_and_passing_ones_restore_it() {
    let pki = Pki::new("localhost");
    let a = Upstream::start_named("a").await;
    let b = Upstream::start_named("b").await;
    let run = Gateway::start(
        &Config::new(&pki, &[a.addr, b.addr])
            .pool(HEALTH_CHECK)
            .build(),
    )
    .await;

    // Both healthy: both get traffic.
    assert!(
        within(STEP, || async {
            a.health_checks() >= 2 && b.health_checks() >= 2
        })
        .await,
        "the health checks never ran"
    );
    let got = bodies(&run, &pki, 4).await;
    assert!(got.iter().any(|b| b.starts_with("a:")), "{got:?}");
    assert!(got.iter().any(|b| b.starts_with("b:")), "{got:?}");
    assert_eq!(healthy_gauge(&run, a.addr).await, Some(1.0));
    assert_eq!(healthy_gauge(&run, b.addr).await, Some(1.0));

    // a's health check fails: it is marked unhealthy and gets nothing.
    a.set_healthy(false);
    assert!(
        within(STEP, || async {
            healthy_gauge(&run, a.addr).await == Some(0.0)
        })
        .await,
        "target a was never marked unhealthy:\n{}",
        run.metrics().await
    );
    assert_eq!(healthy_gauge(&run, b.addr).await, Some(1.0));
    let seen_a = a.seen().len();
    let got = bodies(&run, &pki, 6).await;
    assert!(
        got.iter().all(|b| b == "b:/rest-service/inventory"),
        "an unhealthy target got traffic: {got:?}"
    );
    assert_eq!(a.seen().len(), seen_a);

    // a passes again: it is restored and gets traffic.
    a.set_healthy(true);
    assert!(
        within(STEP, || async {
            healthy_gauge(&run, a.addr).await == Some(1.0)
        })
        .await,
        "target a was never marked healthy again:\n{}",
        run.metrics().await
    );
    let got = bodies(&run, &pki, 4).await;
    assert!(
        got.iter().any(|b| b.starts_with("a:")),
        "a restored target gets traffic again: {got:?}"
    );
    assert!(a.seen().len() > seen_a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_check_marks_a_refusing_target_unhealthy() {
    let pki = Pki::new("localhost");
    let dead = dead_port();
    let good = Upstream::start_named("good").await;
    let run = Gateway::start(&Config::new(&pki, &[dead, good.addr]).pool("health_check = { interval_ms = 100, timeout_ms = 200, healthy_threshold = 2, unhealthy_threshold = 2 }\n").build())
    .await;
    assert!(
        within(STEP, || async {
            healthy_gauge(&run, dead).await == Some(0.0)
        })
        .await,
        "a target refusing connections was never marked unhealthy:\n{}",
        run.metrics().await
    );
    // The good target keeps passing the TCP check (it is never sent an HTTP request by it).
    assert_eq!(healthy_gauge(&run, good.addr).await, Some(1.0));
    assert_eq!(
        good.health_checks(),
        0,
        "a TCP check must not send HTTP requests"
    );
    // Every request goes to the good target, none fails.
    let got = bodies(&run, &pki, 4).await;
    assert!(
        got.iter().all(|b| b == "good:/rest-service/inventory"),
        "{got:?}"
    );
}
