//! `[default_endpoint]` emulates API Gateway's default `execute-api` endpoint: TLS without a
//! client certificate, every API at `https://HOST/{stage}/{path}`; an API with
//! `disable_execute_api_endpoint` (AWS's `disableExecuteApiEndpoint`) answers 403 Forbidden
//! there, which is how a team checks that step 7.6 of the AWS recipe is really done. The custom
//! domain still demands a client certificate.

use crate::support::*;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;

fn config(pki: &Pki, up: std::net::SocketAddr, disabled: bool) -> String {
    // Its own address: listeners are told apart by the address configured.
    format!(
        "[default_endpoint]\nlisten = \"{}\"\n\n{}",
        free_port(),
        simple_config(pki, up, INVENTORY_ROUTE).replace(
            "[api.inv.stages.prod]",
            &format!(
                "[api.inv]\ndisable_execute_api_endpoint = {disabled}\n\n[api.inv.stages.prod]"
            ),
        )
    )
}

async fn anonymous_get(gw: &Gateway, pki: &Pki, path: &str) -> Result<Got, String> {
    let req = Request::get(path)
        .header("host", "inv.execute-api.localhost")
        .header("x-forwarded-client-cert", "Hash=spoofed")
        .body(Full::new(Bytes::new()))
        .unwrap();
    request(gw.addrs[1], "localhost", &pki.root.pem, None, req).await
}

#[tokio::test]
async fn the_default_endpoint_serves_stage_first_paths_without_a_certificate() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&config(&pki, up.addr, false)).await;
    assert_eq!(gw.addrs.len(), 2, "{:?}", gw.addrs);

    let got = anonymous_get(&gw, &pki, "/prod/inventory").await.unwrap();
    assert_eq!(got.status, 200, "{got:?}");
    let seen = up.seen();
    assert_eq!(seen[0].path_and_query, "/rest-service/inventory");
    assert!(
        !seen[0].headers.contains_key("x-forwarded-client-cert"),
        "an anonymous client must not carry an identity upstream"
    );

    for path in ["/dev/inventory", "/inventory"] {
        let got = anonymous_get(&gw, &pki, path).await.unwrap();
        assert_eq!(got.status, 403, "{path}: {got:?}");
        assert_eq!(got.body, gateway_body("Forbidden"));
    }

    // The custom domain still refuses a client without a certificate.
    let refused = request(
        gw.addr(),
        "localhost",
        &pki.root.pem,
        None,
        get_req("/inventory"),
    )
    .await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(up.seen().len(), 1);
}

#[tokio::test]
async fn the_default_endpoint_cannot_share_a_domains_address() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let text = format!(
        "[default_endpoint]\nlisten = \"127.0.0.1:0\"\n\n{}",
        simple_config(&pki, up.addr, INVENTORY_ROUTE)
    );
    let err = Gateway::try_start(&text)
        .await
        .err()
        .expect("a shared address was accepted");
    assert!(err.contains("default_endpoint.listen"), "{err}");
}

#[tokio::test]
async fn an_api_that_disables_the_default_endpoint_is_forbidden_there_only() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&config(&pki, up.addr, true)).await;
    let got = anonymous_get(&gw, &pki, "/prod/inventory").await.unwrap();
    assert_eq!(got.status, 403, "{got:?}");
    assert_eq!(got.body, gateway_body("Forbidden"));
    assert_eq!(got.headers["x-amzn-errortype"], "ForbiddenException");
    assert!(up.seen().is_empty());
    // The custom domain, with a client certificate, serves it.
    assert_eq!(get(&gw, &pki, "/inventory").await.status, 200);
}
