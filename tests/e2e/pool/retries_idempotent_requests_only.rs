//! `retries = 1` over targets [dead, good] (round robin, a fresh gateway per case so the first
//! request always picks the dead target first): idempotent requests without a body are retried
//! on the good target after the connect failure and succeed; a POST, or any request with a
//! body, gets 504 and is never replayed to the good target.

use crate::support::*;

/// A fresh gateway over [dead, good] with `retries = 1` and `ANY /{proxy+}`.
async fn fresh(pki: &Pki, good: &Upstream) -> Gateway {
    let dead = dead_port();
    Gateway::start(
        &Config::new(pki, &[dead, good.addr])
            .routes(PROXY_ROUTE)
            .pool("retries = 1\n")
            .build(),
    )
    .await
}

async fn send(run: &Gateway, pki: &Pki, method: &str, path: &str, body: &str) -> Got {
    request(
        run.addr(),
        "localhost",
        &pki.root.pem,
        Some(&pki.client),
        req(method, path, body),
    )
    .await
    .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_hitting_the_dead_target_first_is_retried_and_succeeds() {
    let pki = Pki::new("localhost");
    let good = Upstream::start_named("good").await;
    let run = fresh(&pki, &good).await;
    for i in 0..6 {
        let got = send(&run, &pki, "GET", &format!("/items/{i}"), "").await;
        assert_eq!(got.status, 200, "GET {i} must never fail: {got:?}");
        assert_eq!(got.body, format!("good:/items/{i}"));
    }
    let seen = good.seen();
    assert_eq!(
        seen.len(),
        6,
        "each GET reached the good target once: {seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodiless_delete_is_retried_too() {
    let pki = Pki::new("localhost");
    let good = Upstream::start_named("good").await;
    let run = fresh(&pki, &good).await;
    let got = send(&run, &pki, "DELETE", "/items/1", "").await;
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(good.seen().len(), 1);
    assert_eq!(good.seen()[0].method, "DELETE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_with_a_body_is_not_retried() {
    let pki = Pki::new("localhost");
    let good = Upstream::start_named("good").await;
    let run = fresh(&pki, &good).await;
    let got = send(&run, &pki, "POST", "/orders", "{\"qty\":1}").await;
    assert_eq!(got.status, 504, "{got:?}");
    assert_eq!(
        got.headers["x-amzn-errortype"],
        "InternalServerErrorException"
    );
    assert!(
        good.seen().is_empty(),
        "a POST must never be replayed: {:?}",
        good.seen()
    );
    // The dead target is now ejected: the next POST goes to the good one, once.
    let got = send(&run, &pki, "POST", "/orders", "{\"qty\":2}").await;
    assert_eq!(got.status, 200, "{got:?}");
    let seen = good.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].body_len, 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_without_a_body_is_not_retried() {
    let pki = Pki::new("localhost");
    let good = Upstream::start_named("good").await;
    let run = fresh(&pki, &good).await;
    let got = send(&run, &pki, "POST", "/orders", "").await;
    assert_eq!(got.status, 504, "POST is not idempotent: {got:?}");
    assert!(good.seen().is_empty(), "{:?}", good.seen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_with_a_body_is_not_retried() {
    let pki = Pki::new("localhost");
    let good = Upstream::start_named("good").await;
    let run = fresh(&pki, &good).await;
    let got = send(&run, &pki, "PUT", "/items/1", "replacement").await;
    assert_eq!(got.status, 504, "a body cannot be replayed: {got:?}");
    assert!(good.seen().is_empty(), "{:?}", good.seen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_zero_disables_the_retry() {
    let pki = Pki::new("localhost");
    let good = Upstream::start_named("good").await;
    let dead = dead_port();
    let run = Gateway::start(
        &Config::new(&pki, &[dead, good.addr])
            .routes(PROXY_ROUTE)
            .pool("retries = 0\n")
            .build(),
    )
    .await;
    let got = send(&run, &pki, "GET", "/items/1", "").await;
    assert_eq!(got.status, 504, "{got:?}");
    assert!(good.seen().is_empty(), "{:?}", good.seen());
}
