//! A request passes only when every bucket that applies has a token: gateway, stage and route
//! buckets each refuse with 429 `THROTTLED`, a `Retry-After` header and nothing forwarded.
//! Rates are tiny (0.001/s), so the outcome never depends on the clock: burst N admits N.

use super::*;

const OTHER_ROUTE: &str = "[[api.inv.routes]]\nmethod = \"GET\"\npath = \"/other\"\nintegration = \"http://${stageVariables.backend}/other\"\n";

fn assert_throttled(got: &Got) {
    assert_eq!(got.status, 429, "{got:?}");
    assert_eq!(got.body, r#"{"message":"Too Many Requests"}"#);
    assert_eq!(got.headers["x-amzn-errortype"], "TooManyRequestsException");
    let secs: u32 = got.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&secs), "{got:?}");
}

#[tokio::test]
async fn the_gateway_bucket_admits_its_burst_then_refuses() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let config = Config::new(&pki, &[up.addr])
        .top("[throttling]\nrate = 0.001\nburst = 3")
        .build();
    let gw = Gateway::start(&config).await;
    assert_eq!(statuses(gw.addr(), &pki, "/inventory", 3).await, [200; 3]);
    assert_throttled(&get(&gw, &pki, "/inventory").await);
    assert_eq!(
        up.seen().len(),
        3,
        "a throttled request reached the upstream"
    );
    let m = gw.metrics().await;
    let refused = metric_sum(
        &m,
        "portcullis_throttled_requests_total",
        &[
            ("level", "gateway"),
            ("reason", "throttled"),
            ("stage", "prod"),
        ],
    );
    assert_eq!(refused, 1.0, "{m}");
}

#[tokio::test]
async fn a_stage_bucket_covers_every_route_of_the_stage() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let config = Config::new(&pki, &[up.addr])
        .top("[api.inv.stages.prod.throttling]\nrate = 0.001\nburst = 2")
        .routes(&format!("{INVENTORY_ROUTE}{OTHER_ROUTE}"))
        .build();
    let gw = Gateway::start(&config).await;
    assert_eq!(get(&gw, &pki, "/inventory").await.status, 200);
    assert_eq!(get(&gw, &pki, "/other").await.status, 200);
    assert_throttled(&get(&gw, &pki, "/inventory").await);
    assert_throttled(&get(&gw, &pki, "/other").await);
    assert_eq!(up.seen().len(), 2);
}

#[tokio::test]
async fn a_route_bucket_limits_its_route_alone() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let limited = format!("{INVENTORY_ROUTE}throttling = {{ rate = 0.001, burst = 1 }}\n");
    let config = Config::new(&pki, &[up.addr])
        .routes(&format!("{limited}{OTHER_ROUTE}"))
        .build();
    let gw = Gateway::start(&config).await;
    assert_eq!(get(&gw, &pki, "/inventory").await.status, 200);
    assert_throttled(&get(&gw, &pki, "/inventory").await);
    assert_eq!(statuses(gw.addr(), &pki, "/other", 5).await, [200; 5]);
    let paths: Vec<String> = up.seen().into_iter().map(|s| s.path_and_query).collect();
    assert_eq!(
        paths
            .iter()
            .filter(|p| *p == "/rest-service/inventory")
            .count(),
        1,
        "{paths:?}"
    );
    let m = gw.metrics().await;
    let refused = metric_sum(
        &m,
        "portcullis_throttled_requests_total",
        &[("level", "route"), ("route", "GET /inventory")],
    );
    assert_eq!(refused, 1.0, "{m}");
}

#[tokio::test]
async fn a_customised_throttled_response_keeps_retry_after() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let config = Config::new(&pki, &[up.addr])
        .top("[throttling]\nrate = 0.001\nburst = 1")
        .build();
    let config = format!(
        "{config}\n[api.inv.gateway_responses.THROTTLED]\nheaders = {{ \"x-slow-down\" = \"yes\" }}\ntemplate = '{{\"error\":$context.error.messageString}}'\n"
    );
    let gw = Gateway::start(&config).await;
    assert_eq!(get(&gw, &pki, "/inventory").await.status, 200);
    let got = get(&gw, &pki, "/inventory").await;
    assert_eq!(got.status, 429, "{got:?}");
    assert_eq!(got.body, r#"{"error":"Too Many Requests"}"#);
    assert_eq!(got.headers["x-slow-down"], "yes");
    assert!(got.headers.contains_key("retry-after"), "{got:?}");
}
