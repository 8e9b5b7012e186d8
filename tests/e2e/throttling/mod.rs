//! Throttling and usage plans: token buckets per gateway, stage and route, API keys, quotas,
//! plans bound to client certificates, and the Redis store shared by replicas.

mod api_key_file_is_hot_reloaded_and_never_logged;
mod api_keys_gate_routes_that_require_them;
mod buckets_refuse_at_each_level;
mod buckets_survive_reloads_with_unchanged_settings;
mod config_errors_name_the_key;
mod plan_bound_to_client_identity;
mod redis_loss_loses_no_request;
mod redis_shares_limits_across_gateways;

use std::net::SocketAddr;

use crate::support::*;

/// Two API keys of AWS's length (20 to 128 characters).
pub const KEY_A: &str = "key-a-0123456789abcdefghij";
/// Another.
pub const KEY_B: &str = "key-b-0123456789abcdefghij";
/// A key no plan has.
pub const KEY_UNKNOWN: &str = "key-x-0123456789abcdefghij";

/// `GET path` as the PKI's client with `x-api-key: key` when given.
pub async fn get_key(addr: SocketAddr, pki: &Pki, path: &str, key: Option<&str>) -> Got {
    let mut req = get_req(path);
    if let Some(k) = key {
        req.headers_mut().insert("x-api-key", k.parse().unwrap());
    }
    request(addr, "localhost", &pki.root.pem, Some(&pki.client), req)
        .await
        .unwrap()
}

/// `GET /inventory` with `x-api-key: key`: the status.
pub async fn key_status(addr: SocketAddr, pki: &Pki, key: &str) -> u16 {
    get_key(addr, pki, "/inventory", Some(key))
        .await
        .status
        .as_u16()
}

/// `INVENTORY_ROUTE` with `api_key_required = true`.
pub fn keyed_route() -> String {
    format!("{INVENTORY_ROUTE}api_key_required = true\n")
}

/// The usual configuration with `top` before it and the keyed inventory route.
pub fn keyed_config(pki: &Pki, up: &Upstream, top: &str) -> String {
    Config::new(pki, &[up.addr])
        .top(top)
        .routes(&keyed_route())
        .build()
}

/// A `[usage_plan.NAME]` over `inv/prod` with `settings` lines, its keys written to a file.
pub fn key_plan(pki: &Pki, name: &str, settings: &str, keys: &[&str]) -> String {
    let file = pki.write(&format!("{name}-keys.txt"), &(keys.join("\n") + "\n"));
    format!(
        "[usage_plan.{name}]\n{settings}\napi_keys_file = {}\nstages = [\"inv/prod\"]\n",
        toml_path(&file)
    )
}

/// The statuses of `n` requests for `path` on one keep-alive connection.
pub async fn statuses(addr: SocketAddr, pki: &Pki, path: &str, n: usize) -> Vec<u16> {
    let mut conn = KeepAlive::open(addr, pki, None).await;
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(conn.get(path).await.unwrap().status.as_u16());
    }
    out
}
