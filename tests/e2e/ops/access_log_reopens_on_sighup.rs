//! SIGHUP writes the buffered access lines to the file in use and opens the path again: after
//! logrotate renames the file, lines before the signal are in the renamed file and lines after
//! it in a new file at the path. A reopen that fails keeps the old file and says why.

use crate::support::*;

use std::path::Path;
use std::time::Duration;

/// Request ids of the access lines in `path`.
fn ids_in(path: &Path) -> Vec<String> {
    access_lines_in(path)
        .iter()
        .map(|l| l["request_id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// `ids` as owned strings, `PREFIX-0..n`.
fn numbered(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// A gateway whose access log only a signal or the exit writes (no threshold is reached).
fn serve_buffered(pki: &Pki, up: &Upstream, log: &Path) -> Served {
    let cfg = Config::new(pki, &[up.addr])
        .access_log(&format!(
            "path = {}\nbuffer_bytes = 4194304\nflush_interval_ms = 600000",
            toml_path(log)
        ))
        .build();
    Served::start(&pki.write("gateway.toml", &cfg))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_flushes_to_the_rotated_file_and_opens_a_new_one() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let log = pki.path("access.log");
    let rotated = pki.path("access.log.1");
    let mut served = serve_buffered(&pki, &up, &log);
    let addr = served.listen_addr().await;
    let mut conn = KeepAlive::open(addr, &pki, None).await;
    for id in numbered("before", 5) {
        conn.get_ok_with_id("/inventory", &id).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(ids_in(&log).is_empty(), "written before the signal");

    // logrotate: rename, then signal.
    std::fs::rename(&log, &rotated).unwrap();
    served.sighup();
    assert!(
        eventually(|| log.exists() && ids_in(&rotated).len() == 5).await,
        "SIGHUP did not flush and reopen: rotated {:?}, new file {}\n{}",
        ids_in(&rotated),
        log.exists(),
        served.dump()
    );
    for id in numbered("after", 5) {
        conn.get_ok_with_id("/inventory", &id).await;
    }

    served.signal("-TERM");
    let status = served.exit_within(Duration::from_secs(15)).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        served.dump()
    );
    assert_eq!(ids_in(&rotated), numbered("before", 5));
    assert_eq!(ids_in(&log), numbered("after", 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_reopen_keeps_writing_the_old_file_and_logs_why() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let log = pki.path("access.log");
    let rotated = pki.path("access.log.1");
    let mut served = serve_buffered(&pki, &up, &log);
    let addr = served.listen_addr().await;
    let mut conn = KeepAlive::open(addr, &pki, None).await;
    conn.get_ok_with_id("/inventory", "before-0").await;

    // The path cannot be opened for appending any more.
    std::fs::rename(&log, &rotated).unwrap();
    std::fs::create_dir(&log).unwrap();
    served.sighup();
    served
        .wait_line(|l| l.contains("cannot open the access log"))
        .await
        .unwrap_or_else(|| panic!("the failed reopen was not logged:\n{}", served.dump()));
    conn.get_ok_with_id("/inventory", "after-0").await;

    served.signal("-TERM");
    let status = served.exit_within(Duration::from_secs(15)).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        served.dump()
    );
    assert_eq!(ids_in(&rotated), ["before-0", "after-0"]);
}
