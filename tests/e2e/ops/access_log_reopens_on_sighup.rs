//! SIGHUP writes the buffered access lines to the file in use and opens the path again: after
//! logrotate renames the file, lines before the signal are in the renamed file and lines after
//! it in a new file at the path. A reopen that fails keeps the old file and says why.

use crate::support::*;

use std::path::PathBuf;
use std::time::Duration;

/// `PREFIX-0` .. `PREFIX-{n-1}`.
fn numbered(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// A gateway whose access log `access.log` only a signal or the exit writes (no threshold is
/// reached), a keep-alive connection to it, and the path logrotate renames the log to.
struct Rotated {
    served: Served,
    conn: KeepAlive,
    log: PathBuf,
    rotated: PathBuf,
    _up: Upstream,
}

async fn serve_buffered(pki: &Pki) -> Rotated {
    let up = Upstream::start().await;
    let log = pki.path("access.log");
    let cfg = Config::new(pki, &[up.addr])
        .access_log_file(&log, 4 << 20, 600_000)
        .build();
    let served = Served::start(&pki.write("gateway.toml", &cfg));
    let conn = KeepAlive::open(served.listen_addr().await, pki, None).await;
    Rotated {
        served,
        conn,
        log,
        rotated: pki.path("access.log.1"),
        _up: up,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_flushes_to_the_rotated_file_and_opens_a_new_one() {
    let pki = Pki::new("localhost");
    let mut r = serve_buffered(&pki).await;
    for id in numbered("before", 5) {
        r.conn.get_ok_with_id("/inventory", &id).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        access_ids_in(&r.log).is_empty(),
        "written before the signal"
    );

    // logrotate: rename, then signal.
    std::fs::rename(&r.log, &r.rotated).unwrap();
    r.served.sighup();
    assert!(
        eventually(|| r.log.exists() && access_ids_in(&r.rotated).len() == 5).await,
        "SIGHUP did not flush and reopen: rotated {:?}, new file {}\n{}",
        access_ids_in(&r.rotated),
        r.log.exists(),
        r.served.dump()
    );
    for id in numbered("after", 5) {
        r.conn.get_ok_with_id("/inventory", &id).await;
    }

    r.served.terminate().await;
    assert_eq!(access_ids_in(&r.rotated), numbered("before", 5));
    assert_eq!(access_ids_in(&r.log), numbered("after", 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_reopen_keeps_writing_the_old_file_and_logs_why() {
    let pki = Pki::new("localhost");
    let mut r = serve_buffered(&pki).await;
    r.conn.get_ok_with_id("/inventory", "before-0").await;

    // The path cannot be opened for appending any more.
    std::fs::rename(&r.log, &r.rotated).unwrap();
    std::fs::create_dir(&r.log).unwrap();
    r.served.sighup();
    r.served
        .wait_line(|l| l.contains("cannot open the access log"))
        .await
        .unwrap_or_else(|| panic!("the failed reopen was not logged:\n{}", r.served.dump()));
    r.conn.get_ok_with_id("/inventory", "after-0").await;

    r.served.terminate().await;
    assert_eq!(access_ids_in(&r.rotated), ["before-0", "after-0"]);
}
