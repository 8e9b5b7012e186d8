//! Upstream pools: requests rotate over the targets, and a target that refuses connections is
//! skipped for a while after its first failure (passive health).

use crate::support::*;

use std::time::{Duration, Instant};

#[tokio::test]
async fn requests_rotate_over_the_targets() {
    let pki = Pki::new("localhost");
    let a = Upstream::start_named("a").await;
    let b = Upstream::start_named("b").await;
    let gw = Gateway::start(&Config::new(&pki, &[a.addr, b.addr]).build()).await;
    let mut bodies = Vec::new();
    for _ in 0..4 {
        let got = get(&gw, &pki, "/inventory").await;
        assert_eq!(got.status, 200, "{got:?}");
        bodies.push(got.body);
    }
    assert_eq!(a.seen().len(), 2, "{bodies:?}");
    assert_eq!(b.seen().len(), 2, "{bodies:?}");
    // Strict alternation.
    assert_ne!(bodies[0], bodies[1], "{bodies:?}");
    assert_ne!(bodies[1], bodies[2], "{bodies:?}");
    assert_eq!(a.seen()[0].headers["host"], a.addr.to_string().as_str());
    assert_eq!(b.seen()[0].headers["host"], b.addr.to_string().as_str());
}

#[tokio::test]
async fn a_refusing_target_is_skipped_after_its_first_failure() {
    let pki = Pki::new("localhost");
    let dead = dead_port();
    let good = Upstream::start_named("good").await;
    let gw = Gateway::start(&Config::new(&pki, &[dead, good.addr]).build()).await;
    let mut statuses = Vec::new();
    let start = Instant::now();
    for _ in 0..8 {
        statuses.push(get(&gw, &pki, "/inventory").await.status.as_u16());
    }
    let failures = statuses.iter().filter(|&&s| s == 504).count();
    assert!(failures <= 1, "{statuses:?}");
    let first_ok = statuses.iter().position(|&s| s == 200).unwrap();
    assert!(
        statuses[first_ok..].iter().all(|&s| s == 200),
        "after the first failure every request must succeed: {statuses:?}"
    );
    assert_eq!(good.seen().len(), 8 - failures);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}
