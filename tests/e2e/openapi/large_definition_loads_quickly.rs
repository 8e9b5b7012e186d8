//! A 300-route export loads (read, classified, compiled for every stage, routers built) in well
//! under a second; the bound asserted is loose (5 s, debug build on a shared machine) and the
//! time is printed. Requests route as fast as TOML routes: they are the same compiled routes.

use std::time::{Duration, Instant};

use crate::support::*;

/// 100 resources with GET, PUT and DELETE on `/resN/{id}`: 300 routes, every one servable.
fn definition() -> String {
    let mut text = String::from("openapi: 3.0.1\ninfo: {title: big, version: '1'}\npaths:\n");
    for n in 0..100 {
        text.push_str(&format!("  /res{n}/{{id}}:\n"));
        for m in ["get", "put", "delete"] {
            text.push_str(&format!(
                "    {m}:
      x-amazon-apigateway-integration:
        type: http_proxy
        httpMethod: {}
        uri: http://${{stageVariables.backend}}/svc/res{n}/{{id}}
        requestParameters:
          integration.request.path.id: method.request.path.id
",
                m.to_ascii_uppercase()
            ));
        }
    }
    text
}

#[tokio::test]
async fn three_hundred_routes_load_in_well_under_a_second() {
    let pki = Pki::new("localhost");
    let up = Upstream::start_named("ledger").await;
    let file = pki.write("big.oas30.yaml", &definition());
    let config = pki.write(
        "gateway.toml",
        &super::ledger_config(&pki, &file, up.addr, up.addr, ""),
    );
    let start = Instant::now();
    let (snapshot, warnings) = portcullis::state::load(&config, 1).unwrap();
    let took = start.elapsed();
    println!("300-route definition: loaded and built in {took:?}");
    assert!(warnings.is_empty(), "{warnings:#?}");
    assert_eq!(snapshot.config.apis["ledger"].routes.len(), 300);
    assert!(took < Duration::from_secs(5), "took {took:?}");

    let gw = Gateway::start(&std::fs::read_to_string(&config).unwrap()).await;
    let got = get(&gw, &pki, "/res99/7").await;
    assert_eq!(got.body, "ledger:/svc/res99/7", "{got:?}");
}
