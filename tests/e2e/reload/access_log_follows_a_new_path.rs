//! A reload that changes `[access_log] path` writes the lines logged before it to the old file
//! and the lines after it to the new one.

use crate::support::*;

use std::path::Path;
use std::time::Duration;

fn config(pki: &Pki, up: &Upstream, log: &Path) -> String {
    Config::new(pki, &[up.addr])
        .access_log(&format!(
            "path = {}\nbuffer_bytes = 4194304\nflush_interval_ms = 600000",
            toml_path(log)
        ))
        .build()
}

fn ids_in(path: &Path) -> Vec<String> {
    access_lines_in(path)
        .iter()
        .map(|l| l["request_id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_path_takes_the_lines_after_the_reload() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let old = pki.path("old.log");
    let new = pki.path("new.log");
    let path = pki.write("gateway.toml", &config(&pki, &up, &old));
    let mut served = Served::start(&path);
    let addr = served.listen_addr().await;
    let mut conn = KeepAlive::open(addr, &pki, None).await;
    conn.get_ok_with_id("/inventory", "old-0").await;

    replace_file(&path, config(&pki, &up, &new).as_bytes());
    served.sighup();
    served
        .wait_event(|e| e["message"] == "configuration reloaded")
        .await
        .unwrap_or_else(|| panic!("no reload:\n{}", served.dump()));
    conn.get_ok_with_id("/inventory", "new-0").await;

    served.signal("-TERM");
    let status = served.exit_within(Duration::from_secs(15)).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        served.dump()
    );
    assert_eq!(ids_in(&old), ["old-0"]);
    assert_eq!(ids_in(&new), ["new-0"]);
}
