//! A reload that changes `[access_log] path` writes the lines logged before it to the old file
//! and the lines after it to the new one.

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_path_takes_the_lines_after_the_reload() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let (old, new) = (pki.path("old.log"), pki.path("new.log"));
    // Only a reopen or the exit writes: no threshold is reached.
    let config = |log| {
        Config::new(&pki, &[up.addr])
            .access_log_file(log, 4 << 20, 600_000)
            .build()
    };
    let path = pki.write("gateway.toml", &config(&old));
    let mut served = Served::start(&path);
    let mut conn = KeepAlive::open(served.listen_addr().await, &pki, None).await;
    conn.get_ok_with_id("/inventory", "old-0").await;

    replace_file(&path, config(&new).as_bytes());
    served.sighup();
    served
        .wait_event(|e| e["message"] == "configuration reloaded")
        .await
        .unwrap_or_else(|| panic!("no reload:\n{}", served.dump()));
    conn.get_ok_with_id("/inventory", "new-0").await;

    served.terminate().await;
    assert_eq!(access_ids_in(&old), ["old-0"]);
    assert_eq!(access_ids_in(&new), ["new-0"]);
}
