//! SIGTERM to `portcullis serve` drains: the request in flight still completes with 200, new
//! connections are refused from the signal on, and the process exits 0 within a bound.

use crate::support::*;

use std::process::Command;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_and_refuses_new_connections() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let cfg = Config::new(&pki, &[up.addr])
        .limits("shutdown_grace_ms = 10000")
        .routes(PROXY_ROUTE)
        .build();
    let path = pki.write("gateway.toml", &cfg);
    let mut served = Served::start(&path);
    let addr = served.listen_addr().await;

    // The binary serves.
    let warm = request(
        addr,
        "localhost",
        &pki.root.pem,
        Some(&pki.client),
        get_req("/warm"),
    )
    .await
    .unwrap();
    assert_eq!(warm.status, 200, "{warm:?}");

    // A request in flight: the upstream takes 3 s to answer /slow.
    let root = pki.root.pem.clone();
    let client = pki.client.clone();
    let in_flight = tokio::spawn(async move {
        request(addr, "localhost", &root, Some(&client), get_req("/slow")).await
    });
    assert!(eventually(|| up.seen().iter().any(|s| s.path_and_query == "/slow")).await);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let pid = served.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let signalled = Instant::now();
    served
        .wait_line(|l| l.contains("shutting down"))
        .await
        .unwrap_or_else(|| panic!("no `shutting down` within {STEP:?}:\n{}", served.dump()));
    tokio::time::sleep(Duration::from_millis(200)).await;

    // New connections are refused while the old request drains.
    let fresh =
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await;
    assert!(
        matches!(fresh, Ok(Err(_))),
        "a new connection was accepted after SIGTERM: {fresh:?}"
    );
    assert!(
        !in_flight.is_finished(),
        "the in-flight request ended before the drain was observed"
    );

    let got = tokio::time::timeout(STEP, in_flight)
        .await
        .expect("in-flight request did not finish")
        .unwrap()
        .expect("the in-flight request failed during the drain");
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.body, "upstream:/slow");

    let status = served
        .exit_within(Duration::from_secs(10))
        .await
        .expect("the gateway did not exit within 10 s of SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    assert!(signalled.elapsed() < Duration::from_secs(8));
}
