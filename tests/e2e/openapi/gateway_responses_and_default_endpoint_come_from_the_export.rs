//! An export's `x-amazon-apigateway-gateway-responses` customise the gateway's own answers
//! (types it never answers with are warnings), and its endpoint configuration's
//! `disableExecuteApiEndpoint` closes the emulated default endpoint for the API: inside
//! `servers[]` in OpenAPI 3.0 (YAML), at the root in Swagger 2.0 (JSON).

use super::ledger_config;
use crate::support::*;

const EXPORT: &str = r#"openapi: "3.0.1"
info: { title: ledger, version: "1" }
servers:
  - url: "https://abc123.execute-api.eu-west-1.amazonaws.com/{basePath}"
    variables: { basePath: { default: "prod" } }
    x-amazon-apigateway-endpoint-configuration:
      disableExecuteApiEndpoint: true
paths:
  /accounts:
    get:
      x-amazon-apigateway-integration:
        type: "http_proxy"
        httpMethod: "GET"
        uri: "http://${stageVariables.backend}/ledger/accounts"
x-amazon-apigateway-gateway-responses:
  MISSING_AUTHENTICATION_TOKEN:
    statusCode: 404
    responseParameters:
      gatewayresponse.header.Access-Control-Allow-Origin: "'*'"
    responseTemplates:
      application/json: '{"message":"no such route","id":"$context.requestId"}'
  WAF_FILTERED:
    statusCode: 403
"#;

const SWAGGER: &str = r#"{
  "swagger": "2.0",
  "info": { "title": "ledger", "version": "1" },
  "basePath": "/prod",
  "x-amazon-apigateway-endpoint-configuration": { "disableExecuteApiEndpoint": true },
  "paths": {
    "/accounts": {
      "get": {
        "x-amazon-apigateway-integration": {
          "type": "http_proxy",
          "httpMethod": "GET",
          "uri": "http://${stageVariables.backend}/ledger/accounts"
        }
      }
    }
  },
  "x-amazon-apigateway-gateway-responses": {
    "MISSING_AUTHENTICATION_TOKEN": {
      "statusCode": 404,
      "responseParameters": { "gatewayresponse.header.Access-Control-Allow-Origin": "'*'" },
      "responseTemplates": { "application/json": "{\"message\":\"no such route\",\"id\":\"$context.requestId\"}" }
    },
    "WAF_FILTERED": { "statusCode": 403 }
  }
}
"#;

#[tokio::test]
async fn gateway_responses_and_the_default_endpoint_switch_come_from_the_export() {
    let pki = Pki::new("localhost");
    let up = Upstream::start_named("ledger").await;
    for (file, text) in [
        ("ledger.oas30.yaml", EXPORT),
        ("ledger.swagger.json", SWAGGER),
    ] {
        serves_customised(&pki, &up, &pki.write(file, text)).await;
    }
}

async fn serves_customised(pki: &Pki, up: &Upstream, definition: &std::path::Path) {
    let name = definition.display();
    let config = format!(
        "[default_endpoint]\nlisten = \"{}\"\n\n{}",
        free_port(),
        ledger_config(pki, definition, up.addr, up.addr, "")
    );
    let path = pki.write("gateway.toml", &config);
    let (_, warnings) = portcullis::state::load(&path, 1).unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("WAF_FILTERED") && w.contains("ignored")),
        "{name}: {warnings:#?}"
    );

    let gw = Gateway::start(&config).await;
    assert_eq!(
        get(&gw, pki, "/accounts").await.body,
        "ledger:/ledger/accounts"
    );
    let got = get(&gw, pki, "/nope").await;
    assert_eq!(got.status, 404, "{name}: {got:?}");
    assert_eq!(got.headers["access-control-allow-origin"], "*");
    let id = got.headers["x-amzn-requestid"].to_str().unwrap();
    assert_eq!(
        got.body,
        format!(r#"{{"message":"no such route","id":"{id}"}}"#)
    );

    // The export disables the default endpoint: 403 there, whatever the stage.
    let req = http::Request::get("/prod/accounts")
        .header("host", "ledger.execute-api.localhost")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let got = request(gw.addrs[1], "localhost", &pki.root.pem, None, req)
        .await
        .unwrap();
    assert_eq!(got.status, 403, "{name}: {got:?}");
    assert_eq!(got.body, gateway_body("Forbidden"));
}
