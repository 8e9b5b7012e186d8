//! `max_connection_age_ms` on a domain: a keep-alive connection serves requests while young and
//! is closed by the gateway once older than the limit (after the request in flight finishes);
//! without the setting the same connection stays open.

use crate::support::*;

use std::time::{Duration, Instant};

/// Wait until the connection task ends (the server closed), bounded by `bound`.
async fn closed_within(conn: &mut KeepAlive, bound: Duration) -> bool {
    tokio::time::timeout(bound, &mut conn.conn).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_connection_is_closed_after_its_maximum_age() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let run = Gateway::start(
        &Config::new(&pki, &[up.addr])
            .domain("max_connection_age_ms = 500\n")
            .build(),
    )
    .await;

    let opened = Instant::now();
    let mut conn = KeepAlive::open(run.addr(), &pki, None).await;
    let mut young = 0;
    while opened.elapsed() < Duration::from_millis(250) {
        let got = conn
            .get("/inventory")
            .await
            .expect("a young connection serves");
        assert_eq!(got.status, 200, "{got:?}");
        young += 1;
    }
    assert!(young >= 1);
    assert!(
        closed_within(&mut conn, STEP).await,
        "the gateway did not close a connection older than 500 ms"
    );
    let age = opened.elapsed();
    assert!(
        age >= Duration::from_millis(450),
        "closed too early, after {age:?}"
    );
    // A request on the old connection now fails; a new connection works.
    let late = conn.get("/inventory").await;
    assert!(late.is_err(), "{late:?}");
    let got = get_at(run.addr(), &pki, "/inventory").await.unwrap();
    assert_eq!(got.status, 200, "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_in_flight_at_the_age_limit_finishes_first() {
    let pki = Pki::new("localhost");
    let up = Upstream::start_named("held").await;
    let run = Gateway::start(
        &Config::new(&pki, &[up.addr])
            .domain("max_connection_age_ms = 500\n")
            .routes(PROXY_ROUTE)
            .build(),
    )
    .await;
    let mut conn = KeepAlive::open(run.addr(), &pki, None).await;
    let opened = Instant::now();
    let release = async {
        // Hold the request past the age limit, then let it answer.
        assert!(eventually(|| !up.seen().is_empty()).await);
        tokio::time::sleep(Duration::from_millis(1000)).await;
        up.release();
    };
    let (got, ()) = tokio::join!(conn.get("/hold/1"), release);
    let got = got.expect("the request in flight at the age limit is answered");
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.body, "held:/hold/1");
    assert!(opened.elapsed() >= Duration::from_millis(900));
    assert!(
        closed_within(&mut conn, STEP).await,
        "the connection must close once its request is done"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_setting_the_connection_stays_open() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let run = Gateway::start(&Config::new(&pki, &[up.addr]).build()).await;
    let mut conn = KeepAlive::open(run.addr(), &pki, None).await;
    assert_eq!(conn.get("/inventory").await.unwrap().status, 200);
    // Observe the connection for twice the age limit used above.
    assert!(!closed_within(&mut conn, Duration::from_millis(1000)).await);
    assert_eq!(conn.get("/inventory").await.unwrap().status, 200);
}
