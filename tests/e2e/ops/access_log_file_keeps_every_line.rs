//! With `[access_log] path`, lines are buffered (nothing is written while under the size and
//! time thresholds) and SIGTERM writes them all: N requests over keep-alive, a graceful stop,
//! exactly N lines in the file, one per request id.

use crate::support::*;

use std::collections::BTreeMap;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_writes_every_buffered_line_to_the_file() {
    const N: usize = 200;
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let log = pki.path("access.log");
    // Neither threshold is reached by N lines: only the exit can write them.
    let cfg = Config::new(&pki, &[up.addr])
        .access_log_file(&log, 4 << 20, 600_000)
        .build();
    let mut served = Served::start(&pki.write("gateway.toml", &cfg));
    let addr = served.listen_addr().await;

    let mut conn = KeepAlive::open(addr, &pki, None).await;
    for i in 0..N {
        conn.get_ok_with_id("/inventory", &format!("keep-{i}"))
            .await;
    }
    // Every line is logged once its response is done; give the last one a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        access_lines_in(&log).is_empty(),
        "lines were written before a threshold or the exit"
    );
    assert!(
        served.events().iter().all(|e| e["target"] != "access"),
        "an access line went to stderr as well:\n{}",
        served.dump()
    );

    served.terminate().await;

    let lines = access_lines_in(&log);
    assert_eq!(lines.len(), N, "{}", served.dump());
    let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
    for l in &lines {
        assert_eq!(l["path"], "/inventory", "{l}");
        assert_eq!(l["status"], 200, "{l}");
        *by_id
            .entry(l["request_id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = (0..N).map(|i| (format!("keep-{i}"), 1)).collect();
    assert_eq!(by_id, expected, "one line per request id");
}
