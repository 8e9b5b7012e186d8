//! Every request produces one structured access-log line (JSON with `--log-format json`) with
//! the fields operators rely on: time, request id, client, subject, domain, method, path, route,
//! upstream, status, bytes and both latencies, the failing side of a gateway response, and the
//! request id every response carries as `x-amzn-RequestId`.

use crate::support::*;

#[tokio::test]
async fn each_request_logs_one_json_access_line() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let config = pki.write(
        "gateway.toml",
        &simple_config(&pki, up.addr, INVENTORY_ROUTE),
    );
    let served = Served::start(&config);
    let addr = served.listen_addr().await;

    let req = http::Request::get("/inventory?x=1")
        .header("host", "localhost")
        .header("x-request-id", "trace-123")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let got = request(addr, "localhost", &pki.root.pem, Some(&pki.client), req)
        .await
        .unwrap();
    assert_eq!(got.status, 200);
    let missing = request(
        addr,
        "localhost",
        &pki.root.pem,
        Some(&pki.client),
        get_req("/nope"),
    )
    .await
    .unwrap();
    assert_eq!(missing.status, 403);

    let line = served
        .wait_event(|e| e["target"] == "access" && e["request_id"] == "trace-123")
        .await
        .unwrap_or_else(|| panic!("no access line for trace-123:\n{}", served.dump()));
    assert!(
        line["timestamp"]
            .as_str()
            .is_some_and(|t| t.starts_with("20")),
        "{line}"
    );
    assert!(
        line["client"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{line}"
    );
    assert_eq!(line["subject"], "CN=localhost-client", "{line}");
    assert_eq!(line["domain"], "localhost");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["path"], "/inventory");
    assert_eq!(line["route"], "GET /inventory");
    assert_eq!(line["api"], "inv");
    assert_eq!(line["stage"], "prod");
    assert_eq!(line["upstream"], up.addr.to_string().as_str());
    assert_eq!(line["status"], 200);
    assert_eq!(
        line["bytes"].as_u64(),
        Some(got.body.len() as u64),
        "{line}"
    );
    assert!(line["latency_us"].as_u64().unwrap() >= line["upstream_latency_us"].as_u64().unwrap());
    // A response sent whole is not reported as cut.
    assert_eq!(line["aborted"], false, "{line}");
    assert_eq!(line["cut"], "", "{line}");

    let refused = served
        .wait_event(|e| e["target"] == "access" && e["path"] == "/nope")
        .await
        .unwrap_or_else(|| panic!("no access line for /nope:\n{}", served.dump()));
    assert_eq!(refused["status"], 403);
    assert_eq!(refused["error"], "MISSING_AUTHENTICATION_TOKEN");
    assert_eq!(refused["side"], "downstream");

    // API Gateway's x-amzn-RequestId on every response: the id the log and the upstream saw.
    assert_eq!(got.headers["x-amzn-requestid"], "trace-123");
    assert_eq!(up.seen()[0].headers["x-request-id"], "trace-123");
    let id = missing.headers["x-amzn-requestid"].to_str().unwrap();
    assert_eq!(refused["request_id"], id, "{refused}");
    assert_eq!(missing.headers["x-request-id"], id);
    // One line per request, not more.
    let access = served
        .events()
        .into_iter()
        .filter(|e| e["target"] == "access")
        .count();
    assert_eq!(access, 2, "{}", served.dump());
}
