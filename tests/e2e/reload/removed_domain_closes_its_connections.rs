//! A reload that removes a domain from its listener reaches the domain's live connections: a
//! request in flight across the reload is answered (with `Connection: close`), then the
//! connection is closed and counted; the domain that stays keeps its connections, and a new
//! handshake for the removed name is refused.

use crate::support::*;

use std::net::SocketAddr;

/// `localhost` (when `with_localhost`) and `other.test`, both on the listener `listen`, both
/// mapping "/" to API `inv` over `up`; `/hold...` is routed as any path.
fn config(
    pki: &Pki,
    other: &Pki,
    listen: SocketAddr,
    up: SocketAddr,
    with_localhost: bool,
) -> String {
    let mut c = String::new();
    let mut domains = vec![other.domain_toml("other.test", &listen.to_string())];
    if with_localhost {
        domains.insert(0, pki.domain_toml("localhost", &listen.to_string()));
    }
    for d in domains {
        c.push_str(&d);
        c.push_str("\n[[domain.mapping]]\nbase_path = \"/\"\napi = \"inv\"\nstage = \"prod\"\n\n");
    }
    c.push_str(&format!(
        "[api.inv.stages.prod]\nvariables = {{ backend = \"onprem\" }}\n\n{PROXY_ROUTE}\n\
         [upstream.onprem]\ntargets = [\"{up}\"]\n"
    ));
    c
}

/// `GET /inventory` on a fresh connection to `other.test`: its status.
async fn other_domain(listen: SocketAddr, other: &Pki) -> u16 {
    let got = request(
        listen,
        "other.test",
        &other.root.pem,
        Some(&other.client),
        get_req("/inventory"),
    );
    got.await.expect("other.test answers").status.as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_of_a_removed_domain_close_after_their_request() {
    let pki = Pki::new("localhost");
    let other = Pki::new("other.test");
    let up = Upstream::start().await;
    let listen = free_port();
    let gw = Gateway::start(&config(&pki, &other, listen, up.addr, true)).await;
    assert_eq!(gw.addrs, vec![listen], "both domains share one listener");

    let mut doomed = KeepAlive::open(listen, &pki, None).await;
    let mut idle = KeepAlive::open(listen, &pki, None).await;
    assert_eq!(doomed.get("/inventory").await.unwrap().status, 200);
    assert_eq!(idle.get("/inventory").await.unwrap().status, 200);
    assert_eq!(other_domain(listen, &other).await, 200, "before the reload");

    let remove_localhost = async {
        let without = config(&pki, &other, listen, up.addr, false);
        replace_file(&gw.config, without.as_bytes());
        gw.reloader.reload().await.expect("the reload is accepted");
    };
    doomed
        .closing_after_held_request(&up, remove_localhost)
        .await;
    for (name, conn) in [("busy", &mut doomed), ("idle", &mut idle)] {
        assert!(
            tokio::time::timeout(STEP, &mut conn.conn).await.is_ok(),
            "the removed domain's {name} connection stayed open"
        );
    }
    let closed = metric_sum(
        &gw.metrics().await,
        "portcullis_trust_closed_connections_total",
        &[("domain", "localhost"), ("reason", "domain_removed")],
    );
    assert_eq!(closed, 2.0, "the busy and the idle connection are counted");
    let removed = get_at(listen, &pki, "/inventory").await;
    assert!(
        removed.is_err(),
        "the removed domain still served: {removed:?}"
    );
    assert_eq!(other_domain(listen, &other).await, 200, "after the reload");
}
