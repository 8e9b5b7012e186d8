//! With `[rate_limit] store = "redis://..."`, buckets and quotas live in a real Redis: two
//! gateway instances share one limit, and a quota outlives the gateway that counted it.

use super::*;

fn shared(pki: &Pki, up: &Upstream, redis: &RedisServer, extra: &str) -> String {
    Config::new(pki, &[up.addr])
        .top(&format!(
            "[rate_limit]\nstore = \"{}\"\n{extra}",
            redis.url()
        ))
        .routes(&format!(
            "{INVENTORY_ROUTE}throttling = {{ rate = 0.001, burst = 4 }}\n"
        ))
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_share_one_bucket() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let one = Gateway::start(&shared(&pki, &up, &redis, "")).await;
    let two = Gateway::start(&shared(&pki, &up, &redis, "")).await;
    let mut got = Vec::new();
    for i in 0..8 {
        let gw = if i % 2 == 0 { &one } else { &two };
        got.push(get(gw, &pki, "/inventory").await.status.as_u16());
    }
    assert_eq!(got, [200, 200, 200, 200, 429, 429, 429, 429]);
    assert_eq!(
        up.seen().len(),
        4,
        "the two gateways together forwarded more than the burst"
    );
    for gw in [&one, &two] {
        let m = gw.metrics().await;
        assert_eq!(
            metric_sum(&m, "portcullis_rate_limit_store_failures_total", &[]),
            0.0,
            "{m}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_survives_a_gateway_restart() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let plan = key_plan(
        &pki,
        "gold",
        "quota = { limit = 3, period = \"WEEK\" }",
        &[KEY_A],
    );
    let store = format!("[rate_limit]\nstore = \"{}\"\n\n{plan}", redis.url());
    let config = keyed_config(&pki, &up, &store);
    let gw = Gateway::start(&config).await;
    for _ in 0..2 {
        assert_eq!(key_status(gw.addr(), &pki, KEY_A).await, 200);
    }
    drop(gw);
    let gw = Gateway::start(&config).await;
    assert_eq!(key_status(gw.addr(), &pki, KEY_A).await, 200);
    let got = get_key(gw.addr(), &pki, "/inventory", Some(KEY_A)).await;
    assert_eq!(
        got.status, 429,
        "the restarted gateway forgot the quota: {got:?}"
    );
    assert_eq!(got.body, r#"{"message":"Limit Exceeded"}"#);
}
