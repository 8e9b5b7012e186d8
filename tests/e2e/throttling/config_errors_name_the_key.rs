//! Throttling keys are checked at load, each problem naming its key; a broken API keys file
//! names its line, never the key on it.

use super::*;

#[tokio::test]
async fn bad_values_are_refused_with_their_key() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let keys = pki.write("keys.txt", "short-secret-key\n");
    for (top, routes, says) in [
        (
            "[throttling]\nrate = -1\nburst = 3",
            None,
            "throttling.rate",
        ),
        (
            "[throttling]\nrate = 5",
            None,
            "throttling.burst: missing required key",
        ),
        (
            "[api.inv.stages.prod.throttling]\nrate = 1\nburst = 2000000000",
            None,
            "api.inv.stages.prod.throttling.burst",
        ),
        (
            "",
            Some("throttling = { rate = 1 }\n"),
            "api.inv.routes[0].throttling.burst",
        ),
        (
            "[usage_plan.p]\nclients = [ { subject_cn = [\"a\"] } ]\nstages = [\"inv/nope\"]",
            None,
            "usage_plan.p.stages[0]: `inv/nope`: no such API stage",
        ),
        (
            "[usage_plan.p]\nclients = [ { subject_cn = [\"a\"] } ]\nstages = [\"inv/prod\"]\nquota = { limit = 5, period = \"YEAR\" }",
            None,
            "usage_plan.p.quota.period",
        ),
        (
            "[usage_plan.p]\nstages = [\"inv/prod\"]",
            None,
            "usage_plan.p: a usage plan needs `api_keys_file` or `clients`",
        ),
        (
            "[usage_plan.p]\nclients = [ { } ]\nstages = [\"inv/prod\"]",
            None,
            "usage_plan.p.clients[0]: a rule needs at least one field",
        ),
        (
            "[rate_limit]\nstore = \"http://localhost\"",
            None,
            "rate_limit.store",
        ),
        (
            "[rate_limit]\nstore = \"redis://127.0.0.1:1\"\nstore_failure = \"maybe\"",
            None,
            "rate_limit.store_failure",
        ),
    ] {
        let mut c = Config::new(&pki, &[up.addr]).top(top);
        if let Some(r) = routes {
            c = c.routes(&format!("{INVENTORY_ROUTE}{r}"));
        }
        let err = Gateway::try_start(&c.build())
            .await
            .err()
            .unwrap_or_else(|| panic!("accepted {top}"));
        assert!(err.contains(says), "`{says}` not in: {err}");
    }
    let top = format!(
        "[usage_plan.p]\napi_keys_file = {}\nstages = [\"inv/prod\"]",
        toml_path(&keys)
    );
    let err = Gateway::try_start(&Config::new(&pki, &[up.addr]).top(&top).build())
        .await
        .err()
        .unwrap();
    assert!(
        err.contains("usage_plan.p.api_keys_file") && err.contains("line 1"),
        "{err}"
    );
    assert!(
        !err.contains("short-secret-key"),
        "the key leaked into the error: {err}"
    );
}
