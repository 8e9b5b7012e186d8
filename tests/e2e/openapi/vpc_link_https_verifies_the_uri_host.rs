//! A VPC link integration over https verifies the upstream's certificate against the `uri`
//! host, as API Gateway does (not the pool target's address); a `uri` host the certificate
//! does not name is refused (504, nothing served); the pool's `tls.server_name`, when set,
//! is verified instead for every integration.

use super::ledger_config;
use crate::support::*;

const DEFINITION: &str = r#"openapi: "3.0.1"
info: {title: ledger, version: "1"}
paths:
  /good:
    get:
      x-amazon-apigateway-integration:
        type: http_proxy
        httpMethod: GET
        connectionType: VPC_LINK
        connectionId: "${stageVariables.vpcLinkId}"
        uri: "https://onprem.internal/good"
  /bad:
    get:
      x-amazon-apigateway-integration:
        type: http_proxy
        httpMethod: GET
        connectionType: VPC_LINK
        connectionId: nlb1
        uri: "https://elsewhere.internal/bad"
"#;

#[tokio::test]
async fn vpc_link_https_verifies_the_uri_host_unless_the_pool_names_one() {
    let pki = Pki::new("localhost");
    let onprem_ca = Ca::root("On-prem Services CA");
    let ca_file = pki.write("onprem-ca.pem", &onprem_ca.pem);
    let upstream = tls_upstream(&onprem_ca, "onprem.internal").await;
    let definition = pki.write("vpc.yaml", DEFINITION);
    let ledger = Upstream::start_named("ledger").await;
    let with_tls = |line: &str| {
        ledger_config(&pki, &definition, ledger.addr, upstream, "").replace(
            &format!("[upstream.internal]\ntargets = [\"{upstream}\"]\n"),
            &format!("[upstream.internal]\ntargets = [\"{upstream}\"]\n{line}\n"),
        )
    };

    let config = with_tls(&format!("tls = {{ ca = {} }}", toml_path(&ca_file)));
    assert!(config.contains("onprem-ca.pem"), "{config}");
    let gw = Gateway::start(&config).await;
    let got = get(&gw, &pki, "/good").await;
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.body, "tls-upstream:/good");
    // The same pool, another uri host: the certificate does not name it.
    let got = get(&gw, &pki, "/bad").await;
    assert_eq!(got.status, 504, "{got:?}");

    // The pool's own name wins over every uri host.
    let config = with_tls(&format!(
        "tls = {{ ca = {}, server_name = \"onprem.internal\" }}",
        toml_path(&ca_file)
    ));
    let gw = Gateway::start(&config).await;
    assert_eq!(get(&gw, &pki, "/bad").await.status, 200);
    assert_eq!(get(&gw, &pki, "/good").await.status, 200);
}
