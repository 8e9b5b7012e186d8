//! API Gateway's customised gateway responses, `[api.NAME.gateway_responses.TYPE]`: the type's
//! own entry, else `DEFAULT_4XX` / `DEFAULT_5XX`, changes the status, adds headers and renders
//! the body template with `$context` variables; an unknown type is refused at load.

use crate::support::*;

fn config(pki: &Pki, up: std::net::SocketAddr, responses: &str) -> String {
    format!("{}\n{responses}", simple_config(pki, up, INVENTORY_ROUTE))
}

const RESPONSES: &str = r#"[api.inv.gateway_responses.MISSING_AUTHENTICATION_TOKEN]
status = 404
headers = { "Access-Control-Allow-Origin" = "*" }
template = '{"message":$context.error.messageString,"type":"$context.error.responseType","path":"$context.path","requestId":"$context.requestId"}'

[api.inv.gateway_responses.DEFAULT_5XX]
headers = { "x-from" = "default-5xx" }
template = '{"oops":$context.error.messageString,"stage":"$context.stage"}'
"#;

#[tokio::test]
async fn customised_responses_change_status_headers_and_body() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&config(&pki, up.addr, RESPONSES)).await;
    let got = get(&gw, &pki, "/nope").await;
    assert_eq!(got.status, 404, "{got:?}");
    assert_eq!(got.headers["access-control-allow-origin"], "*");
    let id = got.headers["x-amzn-requestid"].to_str().unwrap();
    assert_eq!(
        got.body,
        format!(
            r#"{{"message":"Missing Authentication Token","type":"MISSING_AUTHENTICATION_TOKEN","path":"/nope","requestId":"{id}"}}"#
        )
    );
    assert_eq!(
        got.headers["x-amzn-errortype"],
        "MissingAuthenticationTokenException"
    );

    // Nothing listens upstream: INTEGRATION_FAILURE falls back to DEFAULT_5XX, status kept.
    let dead = dead_port();
    let gw2 = Gateway::start(&config(&pki, dead, RESPONSES)).await;
    let got = get(&gw2, &pki, "/inventory").await;
    assert_eq!(got.status, 504, "{got:?}");
    assert_eq!(got.headers["x-from"], "default-5xx");
    assert_eq!(
        got.body,
        r#"{"oops":"Network error communicating with endpoint","stage":"prod"}"#
    );
}

#[tokio::test]
async fn unknown_response_types_and_bad_statuses_are_refused() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    for (table, says) in [
        (
            "[api.inv.gateway_responses.NOT_A_TYPE]\nstatus = 400\n",
            "api.inv.gateway_responses.NOT_A_TYPE: not a response type",
        ),
        (
            "[api.inv.gateway_responses.DEFAULT_4XX]\nstatus = 99\n",
            "api.inv.gateway_responses.DEFAULT_4XX.status",
        ),
    ] {
        let err = Gateway::try_start(&config(&pki, up.addr, table))
            .await
            .err()
            .unwrap_or_else(|| panic!("accepted {table}"));
        assert!(err.contains(says), "{err}");
    }
}
