//! `https://` integrations reach a TLS upstream verified against the pool's `tls.ca`, and a
//! pool without that CA refuses the upstream's certificate (504, never plaintext).

use crate::support::*;

fn config(pki: &Pki, upstream: std::net::SocketAddr, ca_line: &str) -> String {
    format!(
        "{}\n[[domain.mapping]]\napi = \"inv\"\nstage = \"prod\"\n[api.inv.stages.prod]\n\
         [[api.inv.routes]]\nmethod = \"GET\"\npath = \"/inventory\"\n\
         integration = \"https://secure/rest-service/inventory\"\n\
         [upstream.secure]\ntargets = [\"{upstream}\"]\n{ca_line}\n",
        pki.domain_toml("localhost", "127.0.0.1:0")
    )
}

#[tokio::test]
async fn https_integration_verifies_the_upstream_with_the_pool_ca() {
    let pki = Pki::new("localhost");
    let onprem_ca = Ca::root("On-prem Services CA");
    let ca_file = pki.write("onprem-ca.pem", &onprem_ca.pem);
    let upstream = tls_upstream(&onprem_ca, "onprem.internal").await;

    let with_ca = format!(
        "tls = {{ ca = \"{}\", server_name = \"onprem.internal\" }}",
        ca_file.display()
    );
    let gw = Gateway::start(&config(&pki, upstream, &with_ca)).await;
    let got = get(&gw, &pki, "/inventory").await;
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.body, "tls-upstream:/rest-service/inventory");

    // Without the on-prem CA the upstream's certificate is not trusted: 504, nothing served.
    let gw = Gateway::start(&config(&pki, upstream, "")).await;
    let got = get(&gw, &pki, "/inventory").await;
    assert_eq!(got.status, 504, "{got:?}");
    assert_eq!(
        got.headers["x-amzn-errortype"],
        "InternalServerErrorException"
    );
}
