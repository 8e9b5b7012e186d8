//! Who may call what: `[authorization.NAME]` rule sets on the verified client certificate,
//! attached to a domain, a stage or a route (inner winning), refusals as API Gateway's
//! `ACCESS_DENIED`, `explain --request`, and live connections judged again when trust changes.

mod config_errors_name_the_key;
mod deny_beats_allow_and_fields_combine;
mod each_rule_field_matches_its_certificate_field;
mod explain_walks_the_request_to_its_rule;
mod inner_level_wins;
mod live_connections_close_when_their_certificate_expires;
mod live_connections_close_when_trust_is_withdrawn;
mod openapi_extension_names_the_rule_set;
mod refusal_is_access_denied_logged_and_never_forwarded;

use std::net::SocketAddr;

use crate::support::*;

/// A client certificate from the PKI's issuing CA with common name `cn`.
pub fn client(pki: &Pki, cn: &str) -> Issued {
    issue(&pki.intermediate, Leaf::client(cn))
}

/// `GET path` on a fresh connection as `client`; the status, or 0 when the connection failed.
pub async fn status_as(addr: SocketAddr, pki: &Pki, client: &Issued, path: &str) -> u16 {
    request(
        addr,
        "localhost",
        &pki.root.pem,
        Some(client),
        get_req(path),
    )
    .await
    .map_or(0, |g| g.status.as_u16())
}

/// A `GET path` route of API `inv` to the pool, guarded by rule set `set`.
pub fn guarded_route(path: &str, set: &str) -> String {
    format!(
        "{}authorization = \"{set}\"\n",
        route("GET", path, "http://${stageVariables.backend}/x")
    )
}
