//! Redis unreachable: by default the gateway keeps serving on its own buckets (every request
//! answered, the failure counted, `/readyz` still ready); with `store_failure = "deny"` it
//! refuses with 429 `THROTTLED` instead. No request ever hangs on a dead store.

use super::*;

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_redis_mid_run_loses_no_request() {
    let Some(mut redis) = RedisServer::start().await else {
        return;
    };
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let config = Config::new(&pki, &[up.addr])
        .top(&format!("[rate_limit]\nstore = \"{}\"\n", redis.url()))
        .build();
    let gw = Gateway::start(&config).await;
    let addr = gw.addr();
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let pki_root = pki.root.pem.clone();
            let client = pki.client.clone();
            tokio::spawn(async move {
                let mut out = Vec::new();
                for _ in 0..40 {
                    let got = request(
                        addr,
                        "localhost",
                        &pki_root,
                        Some(&client),
                        get_req("/inventory"),
                    )
                    .await;
                    out.push(got.map(|g| g.status.as_u16()));
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                out
            })
        })
        .collect();
    // Kill Redis once some requests went through it, while the rest are still to come.
    assert!(
        eventually(|| up.seen().len() >= 20).await,
        "no traffic before the kill"
    );
    redis.kill();
    let at_kill = up.seen().len();
    let mut all = Vec::new();
    for c in clients {
        all.extend(
            tokio::time::timeout(STEP * 3, c)
                .await
                .expect("requests hung")
                .unwrap(),
        );
    }
    assert_eq!(all.len(), 160);
    let bad: Vec<_> = all.iter().filter(|r| **r != Ok(200)).collect();
    assert!(
        bad.is_empty(),
        "requests lost or refused while Redis died: {bad:?}"
    );
    assert_eq!(up.seen().len(), 160);
    assert!(
        at_kill < 160,
        "every request was answered before Redis died"
    );
    let m = gw.metrics().await;
    assert!(
        metric_sum(&m, "portcullis_rate_limit_store_failures_total", &[]) >= 1.0,
        "{m}"
    );
    assert_eq!(gw.admin_get("/readyz").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_store_serves_on_local_buckets_or_denies_as_configured() {
    // Nothing listens there: the store is down from the start.
    let dead = dead_port();
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let route = format!("{INVENTORY_ROUTE}throttling = {{ rate = 0.001, burst = 2 }}\n");
    let open = Config::new(&pki, &[up.addr])
        .top(&format!("[rate_limit]\nstore = \"redis://{dead}\"\n"))
        .routes(&route)
        .build();
    let gw = Gateway::start(&open).await;
    // The local bucket still limits: burst 2.
    assert_eq!(
        statuses(gw.addr(), &pki, "/inventory", 3).await,
        [200, 200, 429]
    );
    drop(gw);

    let closed = Config::new(&pki, &[up.addr])
        .top(&format!(
            "[rate_limit]\nstore = \"redis://{dead}\"\nstore_failure = \"deny\"\n"
        ))
        .routes(&route)
        .build();
    let gw = Gateway::start(&closed).await;
    let got = get(&gw, &pki, "/inventory").await;
    assert_eq!(got.status, 429, "{got:?}");
    assert!(got.headers.contains_key("retry-after"));
    assert_eq!(up.seen().len(), 2);
    assert_eq!(gw.admin_get("/readyz").await.0, 200);
}
