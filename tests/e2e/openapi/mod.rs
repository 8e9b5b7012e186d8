//! API Gateway exports (`[api.NAME] openapi = "..."`): served through the real gateway, the
//! `portcullis import` report, configuration errors, hot reload and load time. The definitions
//! are in `fixtures/`, written for these tests (no AWS account needed).

mod base_path_modes;
mod config_errors_name_the_key;
mod definition_reloads_and_broken_keeps_serving;
mod export_then_import_serves_the_same_routes;
mod gateway_responses_and_default_endpoint_come_from_the_export;
mod import_reports_each_route;
mod large_definition_loads_quickly;
mod serves_an_imported_api;
mod vpc_link_https_verifies_the_uri_host;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::support::*;

/// A fixture definition's absolute path.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/e2e/openapi/fixtures")
        .join(name)
}

/// A gateway configuration serving `definition` as API `ledger`, stage `prod` under "/":
/// `backend` names pool `ledger` (at `backend`), VPC link `nlb1` (the stage's `vpcLinkId`)
/// maps to pool `internal` (at `internal`), `direct` is `backend`'s `host:port`. `api_extra`
/// goes into the `[api.ledger]` table.
pub fn ledger_config(
    pki: &Pki,
    definition: &Path,
    backend: SocketAddr,
    internal: SocketAddr,
    api_extra: &str,
) -> String {
    format!(
        "{domain}
[[domain.mapping]]
base_path = \"/\"
api = \"ledger\"
stage = \"prod\"

[api.ledger]
openapi = {def}
vpc_links = {{ nlb1 = \"internal\" }}
{api_extra}

[api.ledger.stages.prod]
variables = {{ backend = \"ledger\", vpcLinkId = \"nlb1\", direct = \"{backend}\" }}

[upstream.ledger]
targets = [\"{backend}\"]

[upstream.internal]
targets = [\"{internal}\"]
",
        domain = pki.domain_toml("localhost", "127.0.0.1:0"),
        def = toml_path(definition),
    )
}
