//! A reload binds listen addresses it adds and stops those it drops, and never rebinds an
//! unchanged one: a connection open on an unchanged listener keeps working across reloads.

use crate::support::*;

#[tokio::test]
async fn added_listener_is_bound_dropped_one_stops_unchanged_one_keeps_its_connections() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let (a, b) = (free_port(), free_port());
    let mut running = Gateway::start(&listeners_config(&pki, up.addr, &[a])).await;
    assert_eq!(running.addr(), a);

    // A keep-alive connection on the first listener, open across both reloads.
    let mut kept = KeepAlive::open(a, &pki, Some(&pki.client)).await;
    assert_eq!(kept.get("/inventory").await.unwrap().status, 200);
    assert!(
        get_at(b, &pki, "/inventory").await.is_err(),
        "{b} must not listen yet"
    );

    std::fs::write(&running.config, listeners_config(&pki, up.addr, &[a, b])).unwrap();
    assert_eq!(running.reloader.reload().await, Ok(2));
    assert_eq!(get_at(b, &pki, "/inventory").await.unwrap().status, 200);
    assert_eq!(kept.get("/inventory").await.unwrap().status, 200);
    assert_eq!(running.gw.local_addrs(), vec![a, b]);

    std::fs::write(&running.config, listeners_config(&pki, up.addr, &[a])).unwrap();
    assert_eq!(running.reloader.reload().await, Ok(3));
    let stopped = within(STEP, || async {
        get_at(b, &pki, "/inventory").await.is_err()
    })
    .await;
    assert!(stopped, "{b} still accepts after its domain was removed");
    assert_eq!(kept.get("/inventory").await.unwrap().status, 200);
    assert_eq!(get_at(a, &pki, "/inventory").await.unwrap().status, 200);
    running.shutdown();
}

#[tokio::test]
async fn a_listen_address_that_cannot_be_bound_fails_the_reload_and_keeps_serving() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let a = free_port();
    let running = Gateway::start(&listeners_config(&pki, up.addr, &[a])).await;
    // Something else holds this address.
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = squatter.local_addr().unwrap();
    std::fs::write(
        &running.config,
        listeners_config(&pki, up.addr, &[a, taken]),
    )
    .unwrap();
    let err = running.reloader.reload().await.unwrap_err();
    assert!(err.contains(&taken.to_string()), "{err}");
    assert_eq!(running.gw.state().load().generation, 1);
    assert_eq!(get_at(a, &pki, "/inventory").await.unwrap().status, 200);
}
