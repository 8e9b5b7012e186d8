//! The mTLS-native usage plan: bound to client-certificate identities instead of API keys. Its
//! bucket and quota apply to every request of a matching client on the plan's stages, and a
//! matching client needs no key on a route that requires one; `source_ip` narrows it to networks.

use super::*;

#[tokio::test]
async fn a_plan_bound_to_a_subject_cn_limits_that_client_only() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let other = issue(&pki.intermediate, Leaf::client("partner-b"));
    let config = Config::new(&pki, &[up.addr])
        .top(
            "[usage_plan.partner]\nquota = { limit = 2, period = \"MONTH\" }\n\
             clients = [ { subject_cn = [\"localhost-client\"] } ]\nstages = [\"inv/prod\"]\n",
        )
        .build();
    let gw = Gateway::start(&config).await;
    assert_eq!(
        statuses(gw.addr(), &pki, "/inventory", 3).await,
        [200, 200, 429]
    );
    let mut conn = KeepAlive::open(gw.addr(), &pki, Some(&other)).await;
    for _ in 0..3 {
        assert_eq!(conn.get("/inventory").await.unwrap().status, 200);
    }
    assert_eq!(up.seen().len(), 5);
}

#[tokio::test]
async fn a_matching_client_needs_no_key_where_one_is_required() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let other = issue(&pki.intermediate, Leaf::client("partner-b"));
    let config = Config::new(&pki, &[up.addr])
        .top(
            "[usage_plan.partner]\nclients = [ { subject_cn = [\"localhost-client\"] } ]\n\
             stages = [\"inv/prod\"]\n",
        )
        .routes(&keyed_route())
        .build();
    let gw = Gateway::start(&config).await;
    assert_eq!(get(&gw, &pki, "/inventory").await.status, 200);
    let mut conn = KeepAlive::open(gw.addr(), &pki, Some(&other)).await;
    let got = conn.get("/inventory").await.unwrap();
    assert_eq!(got.status, 403, "{got:?}");
    assert_eq!(got.body, r#"{"message":"Forbidden"}"#);
}

#[tokio::test]
async fn a_plan_binds_clients_with_every_field_an_authorization_rule_has() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    // Bound by the client's public key pin: the fields of `[authorization.*]` rules, one matcher.
    let spki = sha256_hex(&cert_info(&pki.client.der).spki);
    let other = issue(&pki.intermediate, Leaf::client("partner-b"));
    let config = Config::new(&pki, &[up.addr])
        .top(&format!(
            "[usage_plan.partner]\nquota = {{ limit = 1, period = \"DAY\" }}\n\
             clients = [ {{ spki_sha256 = [\"{spki}\"] }} ]\nstages = [\"inv/prod\"]\n"
        ))
        .build();
    let gw = Gateway::start(&config).await;
    assert_eq!(statuses(gw.addr(), &pki, "/inventory", 2).await, [200, 429]);
    let mut conn = KeepAlive::open(gw.addr(), &pki, Some(&other)).await;
    assert_eq!(conn.get("/inventory").await.unwrap().status, 200);
}

#[tokio::test]
async fn a_plan_bound_to_clients_by_source_address_applies_only_from_those_networks() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    // The same certificate: bound from loopback by one plan, from elsewhere by the other.
    let config = Config::new(&pki, &[up.addr])
        .top(
            "[usage_plan.here]\nquota = { limit = 1, period = \"DAY\" }\n\
             clients = [ { subject_cn = [\"localhost-client\"], source_ip = [\"127.0.0.0/8\"] } ]\n\
             stages = [\"inv/prod\"]\n\n\
             [usage_plan.elsewhere]\nquota = { limit = 1, period = \"DAY\" }\n\
             clients = [ { subject_cn = [\"localhost-client\"], source_ip = [\"10.0.0.0/8\"] } ]\n\
             stages = [\"inv/prod\"]\n",
        )
        .build();
    let gw = Gateway::start(&config).await;
    assert_eq!(statuses(gw.addr(), &pki, "/inventory", 2).await, [200, 429]);
    let refused = gw
        .metrics()
        .await
        .lines()
        .filter(|l| l.starts_with("portcullis_throttled_requests_total{"))
        .map(str::to_owned)
        .collect::<Vec<_>>();
    assert!(
        refused.iter().any(|l| l.contains("plan=\"here\""))
            && !refused.iter().any(|l| l.contains("plan=\"elsewhere\"")),
        "{refused:?}"
    );
}
