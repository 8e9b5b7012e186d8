//! A reload with per-core workers reaches the live connections of every worker (each worker
//! has its own channel for reloads): when the reload removes their domain, idle keep-alive
//! connections on both workers close.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_domain_closes_idle_connections_on_both_workers() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let admin = free_port();
    let cfg = Config::new(&pki, &[up.addr])
        .top(&format!("[admin]\nlisten = \"{admin}\""))
        .routes(PROXY_ROUTE)
        .build();
    let path = pki.write("gateway.toml", &cfg);
    let served = Served::start_on(&path, "per-core");
    let addr = served.listen_addr().await;

    let idle = idle_on_both_workers(addr, &pki, admin).await;

    // Same listen address, another domain: the listener stays, "localhost" is gone.
    let moved = cfg.replace("name = \"localhost\"", "name = \"elsewhere.test\"");
    assert_ne!(moved, cfg, "the config names no domain `localhost`");
    pki.write("gateway.toml", &moved);
    served.sighup();
    all_closed(idle, &served, "the reload removed their domain").await;
}
