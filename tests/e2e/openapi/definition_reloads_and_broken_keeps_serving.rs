//! The export is watched like every file the configuration names: an edit is served without a
//! restart, and a broken edit keeps the old routes serving, the error naming file and line.

use crate::support::*;

fn definition(extra_route: bool) -> String {
    let mut text = std::fs::read_to_string(super::fixture("servable.oas30.yaml")).unwrap();
    if extra_route {
        text.push_str(
            "  /added:
    get:
      x-amazon-apigateway-integration:
        type: http_proxy
        httpMethod: GET
        uri: http://${stageVariables.backend}/rest-service/added
",
        );
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edited_definition_is_served_and_a_broken_one_keeps_the_old_routes() {
    let pki = Pki::new("localhost");
    let up = Upstream::start_named("ledger").await;
    let file = pki.write("ledger.oas30.yaml", &definition(false));
    let gw = Gateway::start(&super::ledger_config(&pki, &file, up.addr, up.addr, "")).await;
    tokio::spawn(gw.reloader.clone().watch_files());

    let got = get(&gw, &pki, "/inventory").await;
    assert_eq!(got.body, "ledger:/rest-service/inventory", "{got:?}");
    assert_eq!(get(&gw, &pki, "/added").await.status, 403);

    // An edit: the new route is served.
    replace_file(&file, definition(true).as_bytes());
    assert!(
        within(STEP, || async {
            get(&gw, &pki, "/added").await.status == 200
        })
        .await,
        "the edited definition was not reloaded: {:?}",
        gw.reloader.status()
    );
    assert_eq!(gw.reloader.status().generation, 2);

    // A broken edit: refused, the old routes keep serving.
    let broken = definition(false).replace("paths:", "paths: [");
    replace_file(&file, broken.as_bytes());
    assert!(
        within(STEP, || async { gw.reloader.status().reloads_failed >= 1 }).await,
        "the broken definition was not tried: {:?}",
        gw.reloader.status()
    );
    let status = gw.reloader.status();
    let error = status.last_error.clone().unwrap_or_default();
    assert!(
        error.contains("api.ledger.openapi")
            && error.contains(&format!("{}:", file.display()))
            && error.contains("malformed YAML"),
        "{status:?}"
    );
    assert_eq!(status.generation, 2, "{status:?}");
    for path in ["/inventory", "/added"] {
        let got = get(&gw, &pki, path).await;
        assert_eq!(got.status, 200, "{path} after a broken reload: {got:?}");
    }

    // Fixed: served again as written.
    replace_file(&file, definition(false).as_bytes());
    assert!(
        within(STEP, || async {
            get(&gw, &pki, "/added").await.status == 403
        })
        .await,
        "the fixed definition was not reloaded: {:?}",
        gw.reloader.status()
    );
    assert!(gw.reloader.status().last_error.is_none());
}
