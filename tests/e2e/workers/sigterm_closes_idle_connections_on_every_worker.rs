//! SIGTERM to `portcullis serve --workers 2 --runtime per-core` with idle keep-alive connections
//! on both workers: every worker hears the stop (each has its own channel for it), closes its
//! idle connections at once, and the process exits long before the shutdown grace runs out.

use super::*;

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_on_both_workers_close_and_the_process_exits() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let admin = free_port();
    let cfg = Config::new(&pki, &[up.addr])
        .top(&format!("[admin]\nlisten = \"{admin}\""))
        // Far above the bound below: only connections that heard the stop let the drain end.
        .limits("shutdown_grace_ms = 60000")
        .routes(PROXY_ROUTE)
        .build();
    let path = pki.write("gateway.toml", &cfg);
    let mut served = Served::start_on(&path, "per-core");
    let addr = served.listen_addr().await;

    let idle = idle_on_both_workers(addr, &pki, admin).await;

    served.signal("-TERM");
    all_closed(idle, &served, "SIGTERM").await;
    let status = served
        .exit_within(Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("no exit within 10 s of SIGTERM:\n{}", served.dump()));
    assert!(
        status.success(),
        "exit status {status:?}\n{}",
        served.dump()
    );
}
