//! Usage plans with API keys, as API Gateway: a route with `api_key_required` answers 403
//! `Forbidden` without a key, with an unknown key, or with a key whose plan does not cover the
//! stage; a plan's own bucket and quota apply per key, the quota answering 429
//! `QUOTA_EXCEEDED` (`Limit Exceeded`).

use super::*;

fn plans(pki: &Pki) -> String {
    let gold = key_plan(
        pki,
        "gold",
        "quota = { limit = 2, period = \"DAY\" }",
        &["# gold keys", KEY_A, "", KEY_B],
    );
    let elsewhere = key_plan(pki, "elsewhere", "", &[KEY_UNKNOWN]).replace("inv/prod", "inv/test");
    format!("{gold}\n{elsewhere}\n[api.inv.stages.test]\nvariables = {{ backend = \"onprem\" }}\n")
}

#[tokio::test]
async fn missing_unknown_and_foreign_keys_are_forbidden_and_known_ones_pass() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&keyed_config(&pki, &up, &plans(&pki))).await;
    for key in [
        None,
        Some("not-a-key-of-any-plan-at-all"),
        Some(KEY_UNKNOWN),
    ] {
        let got = get_key(gw.addr(), &pki, "/inventory", key).await;
        assert_eq!(got.status, 403, "{key:?}: {got:?}");
        assert_eq!(got.body, r#"{"message":"Forbidden"}"#);
        assert_eq!(got.headers["x-amzn-errortype"], "ForbiddenException");
    }
    assert!(
        up.seen().is_empty(),
        "a request without a good key was forwarded"
    );
    let got = get_key(gw.addr(), &pki, "/inventory", Some(KEY_A)).await;
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(up.seen().len(), 1);
    // The key itself goes upstream as the client sent it (as API Gateway forwards it).
    assert_eq!(up.seen()[0].headers["x-api-key"], KEY_A);
}

#[tokio::test]
async fn the_quota_counts_per_key_and_refuses_with_limit_exceeded() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&keyed_config(&pki, &up, &plans(&pki))).await;
    for _ in 0..2 {
        assert_eq!(key_status(gw.addr(), &pki, KEY_A).await, 200);
    }
    let got = get_key(gw.addr(), &pki, "/inventory", Some(KEY_A)).await;
    assert_eq!(got.status, 429, "{got:?}");
    assert_eq!(got.body, r#"{"message":"Limit Exceeded"}"#);
    assert_eq!(got.headers["x-amzn-errortype"], "LimitExceededException");
    // Another key of the same plan has its own quota.
    assert_eq!(key_status(gw.addr(), &pki, KEY_B).await, 200);
    assert_eq!(up.seen().len(), 3);
    let m = gw.metrics().await;
    let refused = metric_sum(
        &m,
        "portcullis_throttled_requests_total",
        &[("plan", "gold"), ("reason", "quota_exceeded")],
    );
    assert_eq!(refused, 1.0, "{m}");
}

#[tokio::test]
async fn a_plans_bucket_applies_per_key() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let plan = key_plan(&pki, "silver", "rate = 0.001\nburst = 1", &[KEY_A, KEY_B]);
    let gw = Gateway::start(&keyed_config(&pki, &up, &plan)).await;
    assert_eq!(key_status(gw.addr(), &pki, KEY_A).await, 200);
    let got = get_key(gw.addr(), &pki, "/inventory", Some(KEY_A)).await;
    assert_eq!(got.status, 429, "{got:?}");
    assert_eq!(got.body, r#"{"message":"Too Many Requests"}"#);
    assert_eq!(key_status(gw.addr(), &pki, KEY_B).await, 200);
}

#[tokio::test]
async fn routes_without_api_key_required_ignore_keys() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let config = Config::new(&pki, &[up.addr]).top(&plans(&pki)).build();
    let gw = Gateway::start(&config).await;
    for _ in 0..3 {
        assert_eq!(
            get_key(gw.addr(), &pki, "/inventory", None).await.status,
            200
        );
    }
}
