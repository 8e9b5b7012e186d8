//! `load_balancing = "least_requests"` sends the next request to the target with fewer requests
//! in flight; `max_connections` caps in-flight requests per target, and a pool whose targets are
//! all at the cap answers 429 `TooManyRequestsException` until a slot frees up.

use crate::support::*;

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_requests_avoids_the_busy_target() {
    let pki = Pki::new("localhost");
    let a = Upstream::start_named("a").await;
    let b = Upstream::start_named("b").await;
    let run = Gateway::start(
        &Config::new(&pki, &[a.addr, b.addr])
            .routes(PROXY_ROUTE)
            .pool("load_balancing = \"least_requests\"\n")
            .build(),
    )
    .await;

    // One held request in flight; it lands on a or b.
    let (addr, p) = (run.addr(), pki.root.pem.clone());
    let client = pki.client.clone();
    let held = tokio::spawn(async move {
        request(addr, "localhost", &p, Some(&client), get_req("/hold/1")).await
    });
    assert!(
        eventually(|| a.seen().len() + b.seen().len() == 1).await,
        "the held request never reached a target"
    );
    let (busy, idle_name) = if a.seen().len() == 1 {
        (&a, "b")
    } else {
        (&b, "a")
    };
    for i in 0..6 {
        let got = get_at(run.addr(), &pki, &format!("/items/{i}"))
            .await
            .unwrap();
        assert_eq!(got.status, 200, "{got:?}");
        assert_eq!(
            got.body,
            format!("{idle_name}:/items/{i}"),
            "request {i} went to the busy target"
        );
    }
    assert_eq!(busy.seen().len(), 1, "{:?}", busy.seen());

    a.release();
    b.release();
    let got = tokio::time::timeout(STEP, held)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(got.status, 200, "{got:?}");
    // Idle again: both targets share the load.
    let mut names = Vec::new();
    for i in 0..4 {
        names.push(
            get_at(run.addr(), &pki, &format!("/after/{i}"))
                .await
                .unwrap()
                .body,
        );
    }
    assert!(
        names.iter().any(|n| n.starts_with("a:")) && names.iter().any(|n| n.starts_with("b:")),
        "{names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_throttles_with_429() {
    let pki = Pki::new("localhost");
    let only = Upstream::start_named("only").await;
    let run = Gateway::start(
        &Config::new(&pki, &[only.addr])
            .routes(PROXY_ROUTE)
            .pool("max_connections = 1\n")
            .build(),
    )
    .await;

    let (addr, p) = (run.addr(), pki.root.pem.clone());
    let client = pki.client.clone();
    let held = tokio::spawn(async move {
        request(addr, "localhost", &p, Some(&client), get_req("/hold/1")).await
    });
    assert!(
        eventually(|| only.seen().len() == 1).await,
        "the held request never reached the target"
    );

    let got = get_at(run.addr(), &pki, "/items/1").await.unwrap();
    assert_eq!(got.status, 429, "{got:?}");
    assert_eq!(got.headers["x-amzn-errortype"], "TooManyRequestsException");
    assert!(got.body.contains("Too Many Requests"), "{got:?}");
    assert_eq!(
        only.seen().len(),
        1,
        "a throttled request must not reach the target"
    );

    only.release();
    let got = tokio::time::timeout(STEP, held)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(got.status, 200, "{got:?}");
    // The slot is free again.
    let ok = within(Duration::from_secs(5), || async {
        get_at(run.addr(), &pki, "/items/2")
            .await
            .is_ok_and(|g| g.status == 200)
    })
    .await;
    assert!(ok, "the slot was never released");
}
