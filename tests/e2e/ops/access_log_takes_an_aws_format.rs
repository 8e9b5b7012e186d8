//! `[access_log] format` takes an API Gateway `accessLogSettings.format` string: the access line
//! is that string with its `$context` variables filled (`-` for none); an unknown variable is a
//! config error naming it.

use crate::support::*;

const FORMAT: &str = r#"[access_log]
format = '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","method":"$context.httpMethod","resourcePath":"$context.resourcePath","path":"$context.path","status":"$context.status","protocol":"$context.protocol","responseLength":"$context.responseLength","integrationStatus":"$context.integration.status","type":"$context.error.responseType","message":"$context.error.message","dn":"$context.identity.clientCert.subjectDN","stage":"$context.stage","api":"$context.apiId"}'
"#;

#[tokio::test]
async fn access_lines_follow_the_aws_format() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let config = pki.write(
        "gateway.toml",
        &format!(
            "{FORMAT}\n{}",
            simple_config(&pki, up.addr, INVENTORY_ROUTE)
        ),
    );
    let served = Served::start(&config);
    let addr = served.listen_addr().await;
    let ok = get_at(addr, &pki, "/inventory").await.unwrap();
    assert_eq!(ok.status, 200);
    let missing = get_at(addr, &pki, "/nope").await.unwrap();
    assert_eq!(missing.status, 403);

    let lines: Vec<serde_json::Value> = {
        let mut found = Vec::new();
        eventually(|| {
            found = served
                .events()
                .into_iter()
                .filter(|e| e["target"] == "access")
                .filter_map(|e| serde_json::from_str(e["message"].as_str()?).ok())
                .collect();
            found.len() == 2
        })
        .await;
        found
    };
    assert_eq!(lines.len(), 2, "{}", served.dump());
    let by_path = |p: &str| lines.iter().find(|l| l["path"] == p).unwrap().clone();
    let l = by_path("/inventory");
    assert_eq!(
        l["requestId"],
        ok.headers["x-amzn-requestid"].to_str().unwrap()
    );
    assert_eq!(l["ip"], "127.0.0.1");
    assert_eq!(l["method"], "GET");
    assert_eq!(l["resourcePath"], "/inventory");
    assert_eq!(l["status"], "200");
    assert_eq!(l["protocol"], "HTTP/1.1");
    assert_eq!(l["responseLength"], ok.body.len().to_string());
    assert_eq!(l["integrationStatus"], "200");
    assert_eq!(l["type"], "-");
    assert_eq!(l["dn"], "CN=localhost-client");
    assert_eq!(l["stage"], "prod");
    assert_eq!(l["api"], "inv");
    let l = by_path("/nope");
    assert_eq!(l["status"], "403");
    assert_eq!(l["type"], "MISSING_AUTHENTICATION_TOKEN");
    assert_eq!(l["message"], "Missing Authentication Token");
    assert_eq!(l["integrationStatus"], "-");
    assert_eq!(l["resourcePath"], "-");
}

#[tokio::test]
async fn an_unknown_variable_is_a_config_error() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let err = Gateway::try_start(&format!(
        "[access_log]\nformat = '$context.requestId $context.authorizer.claims'\n{}",
        simple_config(&pki, up.addr, INVENTORY_ROUTE)
    ))
    .await
    .err()
    .expect("an unknown variable was accepted");
    assert!(
        err.contains("access_log.format") && err.contains("$context.authorizer.claims"),
        "{err}"
    );
}
