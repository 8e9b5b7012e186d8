//! Rule sets attach to a domain, a stage and a route; the innermost one named decides (a
//! route's own set replaces its stage's, which replaces the domain's).

use super::{client, status_as};
use crate::support::*;

#[tokio::test]
async fn the_route_beats_the_stage_which_beats_the_domain() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let (d, s, r) = (
        client(&pki, "domain-client"),
        client(&pki, "stage-client"),
        client(&pki, "route-client"),
    );
    let rules = r#"
[authorization.dom]
allow = [ { subject_cn = ["domain-client"] } ]
[authorization.stg]
allow = [ { subject_cn = ["stage-client"] } ]
[authorization.rte]
allow = [ { subject_cn = ["route-client"] } ]
"#;
    let routes = format!(
        "[api.inv.stages.dev]\nvariables = {{ backend = \"onprem\" }}\nauthorization = \"stg\"\n\n{INVENTORY_ROUTE}{}authorization = \"rte\"\n",
        route("GET", "/own", "http://${stageVariables.backend}/own")
    );
    let config = Config::new(&pki, &[up.addr])
        .top(rules)
        .domain("authorization = \"dom\"\n[[domain.mapping]]\nbase_path = \"/dev\"\napi = \"inv\"\nstage = \"dev\"")
        .routes(&routes)
        .build();
    let gw = Gateway::start(&config).await;
    let mut wrong = Vec::new();
    for (path, who, name, want) in [
        ("/inventory", &d, "domain-client", 200),
        ("/inventory", &s, "stage-client", 403),
        ("/dev/inventory", &s, "stage-client", 200),
        ("/dev/inventory", &d, "domain-client", 403),
        ("/own", &r, "route-client", 200),
        ("/own", &d, "domain-client", 403),
        ("/dev/own", &r, "route-client", 200),
        ("/dev/own", &s, "stage-client", 403),
    ] {
        let got = status_as(gw.addr(), &pki, who, path).await;
        if got != want {
            wrong.push(format!("{path} as {name}: {got}, want {want}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
