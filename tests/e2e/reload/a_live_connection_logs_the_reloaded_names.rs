//! A keep-alive connection opened before a reload is served and logged under the reloaded
//! configuration's names on its next request (the connection keeps its own copies of the names
//! it logs; a reload must replace them).

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_stage_is_logged_on_the_same_connection() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let log = pki.path("access.log");
    let prod = Config::new(&pki, &[up.addr])
        .access_log_file(&log, 4 << 20, 600_000)
        .build();
    assert!(prod.contains("stage = \"prod\"") && prod.contains("[api.inv.stages.prod]"));
    let beta = prod
        .replace("stage = \"prod\"", "stage = \"beta\"")
        .replace("[api.inv.stages.prod]", "[api.inv.stages.beta]");
    let path = pki.write("gateway.toml", &prod);
    let mut served = Served::start(&path);
    let mut conn = KeepAlive::open(served.listen_addr().await, &pki, None).await;
    conn.get_ok_with_id("/inventory", "before").await;
    conn.get_ok_with_id("/inventory", "before-again").await;

    replace_file(&path, beta.as_bytes());
    served.sighup();
    served
        .wait_event(|e| e["message"] == "configuration reloaded")
        .await
        .unwrap_or_else(|| panic!("no reload:\n{}", served.dump()));
    conn.get_ok_with_id("/inventory", "after").await;

    served.terminate().await;
    let stages: Vec<(String, String, String)> = access_lines_in(&log)
        .iter()
        .map(|l| {
            let s = |k: &str| l[k].as_str().unwrap_or_default().to_owned();
            (s("request_id"), s("stage"), s("route"))
        })
        .collect();
    let route = "GET /inventory".to_owned();
    assert_eq!(
        stages,
        [
            ("before".into(), "prod".into(), route.clone()),
            ("before-again".into(), "prod".into(), route.clone()),
            ("after".into(), "beta".into(), route),
        ]
    );
}
