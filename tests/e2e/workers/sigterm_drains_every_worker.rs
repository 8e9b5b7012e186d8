//! SIGTERM to `portcullis serve --workers 2`, per-core and shared: slow requests in flight on
//! every worker all complete with 200, and the process exits 0 within a bound.

use super::*;

use std::time::Duration;

/// `/slow` requests (the upstream answers after 3 s) in flight when SIGTERM arrives: enough
/// that the kernel spreading their connections over two workers leaves one idle only with
/// odds of 2^-23 (with 8 it did, once in a run of the suite).
const SLOW: usize = 24;

/// [`SLOW`] requests in flight when SIGTERM arrives; returns how many each worker accepted.
async fn slow_requests_finish_after_sigterm(model: &str) -> [f64; 2] {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let admin = free_port();
    let cfg = Config::new(&pki, &[up.addr])
        .top(&format!("[admin]\nlisten = \"{admin}\""))
        .limits("shutdown_grace_ms = 10000")
        .routes(PROXY_ROUTE)
        .build();
    let path = pki.write("gateway.toml", &cfg);
    let mut served = Served::start_on(&path, model);
    let addr = served.listen_addr().await;

    let root = pki.root.pem.clone();
    let client = pki.client.clone();
    let in_flight: Vec<_> = (0..SLOW)
        .map(|_| {
            let (root, client) = (root.clone(), client.clone());
            tokio::spawn(async move {
                request(addr, "localhost", &root, Some(&client), get_req("/slow")).await
            })
        })
        .collect();
    assert!(
        eventually(|| up.seen().len() == SLOW).await,
        "{model}: the slow requests did not all reach the upstream:\n{}",
        served.dump()
    );
    // Every accepted connection carries one slow request: the workers that accepted are busy.
    let (status, metrics) = http_get(admin, "/metrics").await.unwrap();
    assert_eq!(status, 200, "{metrics}");
    let busy = per_worker(&metrics);

    served.signal("-TERM");
    served
        .wait_line(|l| l.contains("shutting down"))
        .await
        .unwrap_or_else(|| panic!("{model}: no `shutting down`:\n{}", served.dump()));
    for t in in_flight {
        let got = tokio::time::timeout(STEP, t)
            .await
            .expect("an in-flight request did not finish")
            .unwrap()
            .unwrap_or_else(|e| panic!("{model}: an in-flight request failed in the drain: {e}"));
        assert_eq!(got.status, 200, "{got:?}");
        assert_eq!(got.body, "upstream:/slow");
    }
    let status = served
        .exit_within(Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("{model}: no exit within 10 s of SIGTERM"));
    assert!(
        status.success(),
        "{model}: exit status {status:?}\n{}",
        served.dump()
    );
    busy
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_core_workers_all_finish_their_requests() {
    let [w0, w1] = slow_requests_finish_after_sigterm("per-core").await;
    assert_eq!(w0 + w1, SLOW as f64);
    assert!(
        w0 > 0.0 && w1 > 0.0,
        "one worker had every request: {w0} / {w1}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_runtime_finishes_its_requests() {
    assert_eq!(
        slow_requests_finish_after_sigterm("shared").await,
        [SLOW as f64, 0.0]
    );
}
