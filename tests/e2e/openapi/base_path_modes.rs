//! `[api.NAME] base_path_mode`, as API Gateway's import `basepath` modes: `ignore` (default)
//! serves the export's paths as they are, `prepend` puts its base path in front of every route,
//! `split` puts the base path without its first segment; another mode names the key. `import
//! --config` reports the paths as `serve` serves them.

use super::{fixture, ledger_config};
use crate::support::*;

#[tokio::test]
async fn the_base_path_is_ignored_prepended_or_split() {
    let pki = Pki::new("localhost");
    let up = Upstream::start_named("ledger").await;
    // The export's base path is its stage, `prod` (servers[0] basePath in OpenAPI 3.0,
    // `basePath: /prod` in Swagger 2.0), as `aws apigateway get-export` writes it.
    for (definition, mode, served, refused) in [
        ("ledger.oas30.yaml", "", "/accounts", "/prod/accounts"),
        (
            "ledger.oas30.yaml",
            "base_path_mode = \"prepend\"",
            "/prod/accounts",
            "/accounts",
        ),
        (
            "ledger.swagger.yaml",
            "base_path_mode = \"prepend\"",
            "/prod/accounts",
            "/accounts",
        ),
        (
            "ledger.swagger.yaml",
            "base_path_mode = \"split\"",
            "/accounts",
            "/prod/accounts",
        ),
    ] {
        let config = ledger_config(&pki, &fixture(definition), up.addr, up.addr, mode);
        let gw = Gateway::start(&config).await;
        let got = get(&gw, &pki, served).await;
        assert_eq!(got.status, 200, "{definition} {mode}: {served}: {got:?}");
        assert_eq!(got.body, "ledger:/ledger/accounts", "{definition} {mode}");
        let got = get(&gw, &pki, refused).await;
        assert_eq!(got.status, 403, "{definition} {mode}: {refused}: {got:?}");
        // The import report, given the configuration, names the path that is served.
        let file = pki.write("gateway.toml", &config).display().to_string();
        let report = portcullis(args([
            "import",
            &fixture(definition).display().to_string(),
            "--config",
            &file,
        ]));
        let line = format!("servable     GET {served}\n");
        assert!(
            report.stdout.contains(&line),
            "{definition} {mode}: {report:#?}"
        );
    }
    let err = Gateway::try_start(&ledger_config(
        &pki,
        &fixture("ledger.oas30.yaml"),
        up.addr,
        up.addr,
        "base_path_mode = \"sideways\"",
    ))
    .await
    .err()
    .expect("an unknown mode was accepted");
    assert!(err.contains("api.ledger.base_path_mode"), "{err}");
}
