//! Buckets live beside the configuration snapshot: a reload that keeps a bucket's rate and
//! burst keeps its level (an emptied bucket stays empty), a reload that changes them starts a
//! fresh bucket.

use super::*;

#[tokio::test]
async fn an_empty_bucket_stays_empty_across_a_reload_until_its_settings_change() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let route =
        |burst: u32| format!("{INVENTORY_ROUTE}throttling = {{ rate = 0.001, burst = {burst} }}\n");
    let base = Config::new(&pki, &[up.addr]).routes(&route(2));
    let gw = Gateway::start(&base.build()).await;
    assert_eq!(
        statuses(gw.addr(), &pki, "/inventory", 3).await,
        [200, 200, 429]
    );

    // An unrelated change (a limits key): the route's bucket is the same one, still empty.
    std::fs::write(
        &gw.config,
        base.clone().limits("max_uri_bytes = 4096").build(),
    )
    .unwrap();
    gw.reloader.reload().await.unwrap();
    assert_eq!(get(&gw, &pki, "/inventory").await.status, 429);

    // A new burst is a new bucket.
    let changed = Config::new(&pki, &[up.addr]).routes(&route(3));
    std::fs::write(&gw.config, changed.build()).unwrap();
    gw.reloader.reload().await.unwrap();
    assert_eq!(
        statuses(gw.addr(), &pki, "/inventory", 4).await,
        [200, 200, 200, 429]
    );
}
