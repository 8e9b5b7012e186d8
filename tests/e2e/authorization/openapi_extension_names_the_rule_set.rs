//! In an API Gateway export, `x-portcullis-authorization` names a rule set on an operation, or
//! at the root for every operation that names none; an unknown name is a configuration error
//! pointing into the file.

use super::{client, status_as};
use crate::openapi::ledger_config;
use crate::support::*;

const DEFINITION: &str = r#"openapi: "3.0.1"
info:
  title: guarded
  version: "1"
x-portcullis-authorization: readers
paths:
  /items:
    get:
      x-amazon-apigateway-integration:
        type: http_proxy
        httpMethod: GET
        uri: "http://${stageVariables.backend}/items"
  /admin:
    get:
      x-portcullis-authorization: ADMINS
      x-amazon-apigateway-integration:
        type: http_proxy
        httpMethod: GET
        uri: "http://${stageVariables.backend}/admin"
"#;

/// The export served as API `ledger` (the openapi family's configuration), with rule sets.
fn config(pki: &Pki, definition: &str, backend: std::net::SocketAddr) -> String {
    let file = pki.write("guarded.oas30.yaml", definition);
    let rules = "[authorization.readers]\nallow = [ { subject_cn = [\"reader\", \"admin\"] } ]\n\
                 [authorization.admins]\nallow = [ { subject_cn = [\"admin\"] } ]\n";
    format!(
        "{}\n{rules}",
        ledger_config(pki, &file, backend, backend, "")
    )
}

#[tokio::test]
async fn operation_and_root_extensions_guard_imported_routes() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&config(
        &pki,
        &DEFINITION.replace("ADMINS", "admins"),
        up.addr,
    ))
    .await;
    let (reader, admin) = (client(&pki, "reader"), client(&pki, "admin"));
    assert_eq!(status_as(gw.addr(), &pki, &reader, "/items").await, 200);
    assert_eq!(status_as(gw.addr(), &pki, &pki.client, "/items").await, 403);
    assert_eq!(status_as(gw.addr(), &pki, &reader, "/admin").await, 403);
    assert_eq!(status_as(gw.addr(), &pki, &admin, "/admin").await, 200);

    let err = Gateway::try_start(&config(&pki, DEFINITION, up.addr))
        .await
        .err()
        .expect("an unknown rule set in the export was accepted");
    assert!(
        err.contains("api.ledger.openapi")
            && err.contains("#/paths/~1admin/get/x-portcullis-authorization")
            && err.contains("no [authorization.ADMINS] is defined"),
        "{err}"
    );
}
