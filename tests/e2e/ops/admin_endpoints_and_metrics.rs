//! The admin endpoint in process: `/healthz`, `/readyz` (503 once the drain starts, while a
//! request is still in flight), `/metrics` (request, upstream latency, handshake, refusal,
//! certificate expiry, open connection and reload metrics move as traffic does) and `/config`
//! (generation, load time, SHA-256 of the file).

use crate::support::*;

const REQUESTS: &str = "portcullis_requests_total";

fn inventory_200(metrics: &str) -> f64 {
    metric_sum(
        metrics,
        REQUESTS,
        &[
            ("domain", "localhost"),
            ("api", "inv"),
            ("stage", "prod"),
            ("route", "GET /inventory"),
            ("status", "200"),
        ],
    )
}

fn handshakes(metrics: &str) -> f64 {
    metric_sum(
        metrics,
        "portcullis_tls_handshakes_total",
        &[("domain", "localhost")],
    )
}

fn failures(metrics: &str, reason: &str) -> f64 {
    metric_sum(
        metrics,
        "portcullis_tls_handshake_failures_total",
        &[("reason", reason)],
    )
}

fn open_connections(metrics: &str) -> f64 {
    metric_one(metrics, "portcullis_open_connections", &[]).unwrap_or(f64::NAN)
}

async fn start(pki: &Pki, up: &Upstream) -> Gateway {
    Gateway::start(
        &Config::new(pki, &[up.addr])
            .routes(&format!("{INVENTORY_ROUTE}{PROXY_ROUTE}"))
            .build(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_unknown_paths() {
    let pki = Pki::new("localhost");
    let up = Upstream::start_named("up").await;
    let run = start(&pki, &up).await;
    assert_eq!(run.admin_get("/healthz").await, (200, "ok\n".into()));
    assert_eq!(run.admin_get("/readyz").await, (200, "ready\n".into()));
    assert_eq!(run.admin_get("/nope").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_and_handshake_metrics_follow_traffic() {
    let pki = Pki::new("localhost");
    let up = Upstream::start_named("up").await;
    let run = start(&pki, &up).await;
    let before = run.metrics().await;
    assert!(before.trim_end().ends_with("# EOF"), "{before}");

    const N: usize = 5;
    for _ in 0..N {
        let got = get_at(run.addr(), &pki, "/inventory").await.unwrap();
        assert_eq!(got.status, 200, "{got:?}");
    }
    // Requests are counted when their response body is done: poll.
    let counted = within(STEP, || async {
        inventory_200(&run.metrics().await) >= inventory_200(&before) + N as f64
    })
    .await;
    let after = run.metrics().await;
    assert!(counted, "requests_total did not grow by {N}:\n{after}");
    assert_eq!(
        inventory_200(&after),
        inventory_200(&before) + N as f64,
        "{after}"
    );
    assert!(
        handshakes(&after) >= handshakes(&before) + N as f64,
        "tls_handshakes_total: {after}"
    );
    let latency = metric_sum(
        &after,
        "portcullis_request_duration_seconds_count",
        &[("route", "GET /inventory")],
    );
    assert!(latency >= N as f64, "request_duration_seconds: {after}");
    // Each response's upstream latency, once per response, under its target.
    let target = up.addr.to_string();
    let upstream = |m: &str| {
        metric_sum(
            m,
            "portcullis_upstream_duration_seconds_count",
            &[("target", target.as_str())],
        )
    };
    assert_eq!(
        upstream(&after),
        upstream(&before) + N as f64,
        "upstream_duration_seconds: {after}"
    );
    let body_len = "up:/rest-service/inventory".len() as f64;
    let bytes_out = metric_sum(
        &after,
        "portcullis_response_bytes_total",
        &[("domain", "localhost")],
    );
    assert!(
        bytes_out >= N as f64 * body_len,
        "response_bytes_total: {after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_clients_are_counted_by_reason() {
    let pki = Pki::new("localhost");
    let up = Upstream::start_named("up").await;
    let run = start(&pki, &up).await;
    let before = run.metrics().await;

    let stranger_ca = Ca::root("Stranger Root CA");
    let stranger = issue(&stranger_ca, Leaf::client("stranger"));
    let got = request(
        run.addr(),
        "localhost",
        &pki.root.pem,
        Some(&stranger),
        get_req("/inventory"),
    )
    .await;
    assert!(got.is_err(), "{got:?}");
    let got = request(
        run.addr(),
        "localhost",
        &pki.root.pem,
        None,
        get_req("/inventory"),
    )
    .await;
    assert!(got.is_err(), "{got:?}");

    let ok = within(STEP, || async {
        let m = run.metrics().await;
        failures(&m, "unknown_issuer") >= failures(&before, "unknown_issuer") + 1.0
            && failures(&m, "no_certificate") >= failures(&before, "no_certificate") + 1.0
    })
    .await;
    assert!(
        ok,
        "tls_handshake_failures_total by reason:\n{}",
        run.metrics().await
    );
    let after = run.metrics().await;
    assert_eq!(
        handshakes(&after),
        handshakes(&before),
        "refusals are not handshakes"
    );
    assert!(up.seen().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_expiry_days_cover_server_and_truststore() {
    let pki = Pki::new("localhost");
    let up = Upstream::start_named("up").await;
    let run = start(&pki, &up).await;
    let metrics = run.metrics().await;
    let all = parse_metrics(&metrics);
    let server = samples(
        &all,
        "portcullis_certificate_expiry_days",
        &[("domain", "localhost"), ("kind", "server")],
    );
    assert_eq!(server.len(), 1, "{metrics}");
    assert!(
        server[0].labels["subject"].contains("localhost"),
        "{:?}",
        server[0]
    );
    // Issued for 30 days.
    assert!(
        (29.0..=31.0).contains(&server[0].value),
        "server certificate: {:?}",
        server[0]
    );
    let trust = samples(
        &all,
        "portcullis_certificate_expiry_days",
        &[("domain", "localhost"), ("kind", "truststore")],
    );
    assert_eq!(trust.len(), 2, "root and issuing CA: {metrics}");
    for cn in ["localhost Root CA", "localhost Issuing CA"] {
        let s = trust
            .iter()
            .find(|s| s.labels["subject"].contains(cn))
            .unwrap_or_else(|| panic!("no truststore gauge for {cn}: {metrics}"));
        // CAs are issued for 365 days.
        assert!((364.0..=366.0).contains(&s.value), "{s:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_connections_gauge_follows_a_connection() {
    let pki = Pki::new("localhost");
    let up = Upstream::start_named("up").await;
    let run = start(&pki, &up).await;
    let base = open_connections(&run.metrics().await);
    assert_eq!(base, 0.0);
    let mut conn = KeepAlive::open(run.addr(), &pki, None).await;
    assert_eq!(conn.get("/inventory").await.unwrap().status, 200);
    assert!(
        within(STEP, || async {
            open_connections(&run.metrics().await) == base + 1.0
        })
        .await,
        "{}",
        run.metrics().await
    );
    drop(conn);
    assert!(
        within(STEP, || async {
            open_connections(&run.metrics().await) == base
        })
        .await,
        "a closed connection still counts:\n{}",
        run.metrics().await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_reports_generation_load_time_and_file_digest() {
    let pki = Pki::new("localhost");
    let up = Upstream::start_named("up").await;
    let run = start(&pki, &up).await;
    let file = std::fs::read(&run.config).unwrap();
    let status = run.config_json().await;
    assert_eq!(status["generation"], 1, "{status}");
    assert_eq!(status["sha256"], sha256_hex(&file), "{status}");
    assert_eq!(
        status["source"],
        run.config.display().to_string(),
        "{status}"
    );
    assert_eq!(status["reloads_ok"], 0, "{status}");
    assert_eq!(status["reloads_failed"], 0, "{status}");
    assert!(status["last_error"].is_null(), "{status}");
    let loaded_at = status["loaded_at"].as_str().unwrap_or_default();
    let parsed =
        time::OffsetDateTime::parse(loaded_at, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("loaded_at {loaded_at:?} is not RFC 3339: {e}"));
    let age = time::OffsetDateTime::now_utc() - parsed;
    assert!(
        age >= time::Duration::ZERO && age < time::Duration::minutes(1),
        "{loaded_at}"
    );

    // A reload of a changed file: new generation, new digest, counted.
    let mut changed = String::from_utf8(file).unwrap();
    changed.push_str("\n# changed\n");
    std::fs::write(&run.config, &changed).unwrap();
    assert_eq!(run.reloader.reload().await, Ok(2));
    let status = run.config_json().await;
    assert_eq!(status["generation"], 2, "{status}");
    assert_eq!(status["sha256"], sha256_hex(changed.as_bytes()), "{status}");
    assert_eq!(status["reloads_ok"], 1, "{status}");
    let metrics = run.metrics().await;
    assert_eq!(
        metric_one(&metrics, "portcullis_config_generation", &[]),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(
        metric_one(
            &metrics,
            "portcullis_config_reload_total",
            &[("result", "success")]
        ),
        Some(1.0),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_turns_503_when_the_drain_starts() {
    let pki = Pki::new("localhost");
    let up = Upstream::start_named("up").await;
    let mut run = start(&pki, &up).await;
    assert_eq!(run.admin_get("/readyz").await.0, 200);

    let (addr, root, client) = (run.addr(), pki.root.pem.clone(), pki.client.clone());
    let held = tokio::spawn(async move {
        request(addr, "localhost", &root, Some(&client), get_req("/hold/1")).await
    });
    assert!(
        eventually(|| !up.seen().is_empty()).await,
        "the held request never reached the upstream"
    );
    run.shutdown();
    assert!(
        within(STEP, || async { run.admin_get("/readyz").await.0 == 503 }).await,
        "/readyz still ready after the drain started"
    );
    assert_eq!(run.admin_get("/readyz").await.1, "not ready\n");
    // The drain is observable: the request is still in flight, the process still alive.
    assert!(!held.is_finished(), "the held request ended before release");
    assert!(
        !run.done.as_ref().unwrap().is_finished(),
        "the drain ended early"
    );
    assert_eq!(run.admin_get("/healthz").await.0, 200);

    up.release();
    let got = tokio::time::timeout(STEP, held)
        .await
        .expect("the held request never finished")
        .unwrap()
        .expect("the in-flight request is answered during the drain");
    assert_eq!(got.status, 200, "{got:?}");
    tokio::time::timeout(STEP, run.done.take().unwrap())
        .await
        .expect("the drain never finished")
        .unwrap();
    assert_eq!(run.admin_get("/readyz").await.0, 503);
}
