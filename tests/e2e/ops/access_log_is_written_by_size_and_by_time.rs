//! The access log file is written while the gateway runs: once `buffer_bytes` are pending, and
//! within `flush_interval_ms` of a line even when the buffer is far from full.

use crate::support::*;

use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_few_lines_are_written_within_the_flush_interval() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let log = pki.path("access.log");
    let cfg = Config::new(&pki, &[up.addr])
        .access_log_file(&log, 4 << 20, 200)
        .build();
    let served = Served::start(&pki.write("gateway.toml", &cfg));
    let addr = served.listen_addr().await;

    let mut conn = KeepAlive::open(addr, &pki, None).await;
    for i in 0..3 {
        conn.get_ok_with_id("/inventory", &format!("timed-{i}"))
            .await;
    }
    let sent = Instant::now();
    assert!(
        eventually(|| access_lines_in(&log).len() == 3).await,
        "3 lines never reached the file: {:?}\n{}",
        access_lines_in(&log),
        served.dump()
    );
    // 200 ms interval; the rest is slack for a loaded machine, far below "only at exit".
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(access_ids_in(&log), ["timed-0", "timed-1", "timed-2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_is_written_before_the_flush_interval() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let log = pki.path("access.log");
    // Ten minutes: only the size threshold can write before the end of the test.
    let cfg = Config::new(&pki, &[up.addr])
        .access_log_file(&log, 2048, 600_000)
        .build();
    let served = Served::start(&pki.write("gateway.toml", &cfg));
    let addr = served.listen_addr().await;

    let mut conn = KeepAlive::open(addr, &pki, None).await;
    let deadline = Instant::now() + STEP;
    let mut sent = 0;
    while access_lines_in(&log).is_empty() && Instant::now() < deadline {
        sent += 1;
        conn.get_ok_with_id("/inventory", &format!("sized-{sent}"))
            .await;
    }
    let lines = access_lines_in(&log);
    assert!(
        !lines.is_empty(),
        "nothing written after {sent} requests:\n{}",
        served.dump()
    );
    let bytes = std::fs::metadata(&log).unwrap().len();
    assert!(bytes >= 2048, "written before the threshold: {bytes} bytes");
    assert!(lines.len() >= 2, "a write per line: {lines:?}");
    assert_eq!(lines[0]["request_id"], "sized-1", "{}", lines[0]);
}
