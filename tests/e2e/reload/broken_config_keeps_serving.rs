//! Through the binary: a broken configuration reloaded with SIGHUP is refused with the precise
//! error (file and key) in the log, `/config` and `/metrics`, while the old routes keep
//! serving; fixing the file and sending SIGHUP again serves the new routes.

use crate::support::*;

use std::net::SocketAddr;
use std::time::Duration;

/// Version 1: `GET /inventory` to `a`. Version 2: `GET /inventory` and `GET /orders` to `b`.
fn config(pki: &Pki, admin: SocketAddr, upstream: SocketAddr, orders: bool) -> String {
    let orders_route = if orders {
        "[[api.inv.routes]]\nmethod = \"GET\"\npath = \"/orders\"\nintegration = \"http://${stageVariables.backend}/rest-service/orders\"\n"
    } else {
        ""
    };
    Config::new(pki, &[upstream])
        .top(&format!("[admin]\nlisten = \"{admin}\"\n"))
        .routes(&format!("{INVENTORY_ROUTE}{orders_route}"))
        .build()
}

async fn admin_json(admin: SocketAddr) -> serde_json::Value {
    let (status, body) = http_get(admin, "/config").await.unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_reload_keeps_serving_and_fixed_reload_applies() {
    let pki = Pki::new("localhost");
    let a = Upstream::start_named("a").await;
    let b = Upstream::start_named("b").await;
    let admin = free_port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    let good_v1 = config(&pki, admin, a.addr, false);
    std::fs::write(&path, &good_v1).unwrap();
    let served = Served::start(&path);
    let addr = served.listen_addr().await;
    assert!(
        within(STEP, || async { http_get(admin, "/healthz").await.is_ok() }).await,
        "the admin endpoint never answered:\n{}",
        served.dump()
    );

    let got = get_at(addr, &pki, "/inventory").await.unwrap();
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.body, "a:/rest-service/inventory");
    let got = get_at(addr, &pki, "/orders").await.unwrap();
    assert_eq!(got.status, 403, "no /orders route yet: {got:?}");

    // Break it: the truststore names a file that does not exist.
    let missing = pki.path("missing-truststore.pem");
    let broken = config(&pki, admin, b.addr, true).replace(
        &pki.path("truststore.pem").display().to_string(),
        &missing.display().to_string(),
    );
    replace_file(&path, broken.as_bytes());
    served.signal("-HUP");
    let config_path = path.display().to_string();
    let missing_path = missing.display().to_string();
    let failure = served
        .wait_event(|e| {
            e["message"].as_str().is_some_and(|m| {
                m.starts_with("reload failed:")
                    && m.contains(&config_path)
                    && m.contains("domain[0].truststore")
                    && m.contains(&missing_path)
            })
        })
        .await;
    assert!(
        failure.is_some(),
        "no `reload failed` line naming the file, key and missing path:\n{}",
        served.dump()
    );
    assert!(
        served
            .messages()
            .iter()
            .any(|m| m == "SIGHUP received: reloading"),
        "{}",
        served.dump()
    );
    assert!(
        served
            .messages()
            .iter()
            .any(|m| m == "reload failed; keeping the current configuration"),
        "{}",
        served.dump()
    );

    // The old configuration keeps serving, new connections included.
    for _ in 0..3 {
        let got = get_at(addr, &pki, "/inventory").await.unwrap();
        assert_eq!(got.status, 200, "{got:?}");
        assert_eq!(got.body, "a:/rest-service/inventory");
    }
    let got = get_at(addr, &pki, "/orders").await.unwrap();
    assert_eq!(
        got.status, 403,
        "the broken file's routes must not apply: {got:?}"
    );
    assert!(b.seen().is_empty());

    // `/config` and `/metrics` agree on the failure (polled: the file watcher may also retry
    // the same broken file; see `one_edit_and_sighup_count_as_one_reload`).
    let deadline = tokio::time::Instant::now() + STEP;
    let (agree, status, metrics) = loop {
        let status = admin_json(admin).await;
        let (_, metrics) = http_get(admin, "/metrics").await.unwrap();
        let failed = status["reloads_failed"].as_u64().unwrap_or(0);
        let agree = failed >= 1
            && metric_one(
                &metrics,
                "portcullis_config_reload_total",
                &[("result", "error")],
            ) == Some(failed as f64);
        if agree || tokio::time::Instant::now() >= deadline {
            break (agree, status, metrics);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(agree, "/config and /metrics disagree:\n{status}\n{metrics}");
    assert_eq!(status["generation"], 1, "{status}");
    assert_eq!(status["reloads_ok"], 0, "{status}");
    let last_error = status["last_error"].as_str().unwrap_or_default();
    assert!(
        last_error.contains(&config_path)
            && last_error.contains("domain[0].truststore")
            && last_error.contains(&missing_path),
        "{status}"
    );
    assert_eq!(
        metric_sum(
            &metrics,
            "portcullis_config_reload_total",
            &[("result", "success")]
        ),
        0.0,
        "{metrics}"
    );
    assert_eq!(
        metric_one(&metrics, "portcullis_config_generation", &[]),
        Some(1.0),
        "{metrics}"
    );

    // Fix it: new routes to `b`.
    replace_file(&path, config(&pki, admin, b.addr, true).as_bytes());
    served.signal("-HUP");
    let applied = within(STEP, || async {
        let s = admin_json(admin).await;
        s["last_error"].is_null() && s["generation"].as_u64().unwrap_or(0) >= 2
    })
    .await;
    assert!(
        applied,
        "the fixed configuration was not applied:\n{}",
        served.dump()
    );
    let got = get_at(addr, &pki, "/inventory").await.unwrap();
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.body, "b:/rest-service/inventory");
    let got = get_at(addr, &pki, "/orders").await.unwrap();
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.body, "b:/rest-service/orders");
    assert!(
        served
            .messages()
            .iter()
            .any(|m| m == "configuration reloaded"),
        "{}",
        served.dump()
    );
    let (_, metrics) = http_get(admin, "/metrics").await.unwrap();
    assert!(
        metric_sum(
            &metrics,
            "portcullis_config_reload_total",
            &[("result", "success")]
        ) >= 1.0,
        "{metrics}"
    );
    let status = admin_json(admin).await;
    assert_eq!(
        status["sha256"],
        sha256_hex(&std::fs::read(&path).unwrap()),
        "{status}"
    );
}

/// One edit followed by one SIGHUP (the documented workflow) is one reload: the file watcher
/// must not reload the same contents again. Observed over more than a watch interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_edit_and_sighup_count_as_one_reload() {
    let pki = Pki::new("localhost");
    let a = Upstream::start_named("a").await;
    let admin = free_port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, config(&pki, admin, a.addr, false)).unwrap();
    let served = Served::start(&path);
    let _addr = served.listen_addr().await;
    assert!(
        within(STEP, || async { http_get(admin, "/healthz").await.is_ok() }).await,
        "{}",
        served.dump()
    );

    let broken = config(&pki, admin, a.addr, true).replacen("[[domain]]", "[[domain]", 1);
    replace_file(&path, broken.as_bytes());
    served.signal("-HUP");
    assert!(
        within(STEP, || async {
            admin_json(admin).await["reloads_failed"].as_u64() >= Some(1)
        })
        .await,
        "{}",
        served.dump()
    );
    let last_error = admin_json(admin).await["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(last_error.contains("invalid TOML"), "{last_error}");
    // Longer than the watch interval (1 s) plus its settling delay (200 ms).
    tokio::time::sleep(portcullis::reload::WATCH_INTERVAL * 2 + Duration::from_millis(500)).await;
    let status = admin_json(admin).await;
    let (_, metrics) = http_get(admin, "/metrics").await.unwrap();
    let errors = metric_one(
        &metrics,
        "portcullis_config_reload_total",
        &[("result", "error")],
    );
    assert_eq!(
        (status["reloads_failed"].as_u64(), errors),
        (Some(1), Some(1.0)),
        "one broken edit + one SIGHUP was reloaded more than once:\n{status}\n{}",
        served
            .messages()
            .into_iter()
            .filter(|m| m.contains("reload"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    let fixed = config(&pki, admin, a.addr, true);
    replace_file(&path, fixed.as_bytes());
    served.signal("-HUP");
    assert!(
        within(STEP, || async {
            admin_json(admin).await["reloads_ok"].as_u64() >= Some(1)
        })
        .await,
        "{}",
        served.dump()
    );
    tokio::time::sleep(portcullis::reload::WATCH_INTERVAL * 2 + Duration::from_millis(500)).await;
    let status = admin_json(admin).await;
    assert_eq!(
        (status["reloads_ok"].as_u64(), status["generation"].as_u64()),
        (Some(1), Some(2)),
        "one fixing edit + one SIGHUP was reloaded more than once:\n{status}"
    );
}
