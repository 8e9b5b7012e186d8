//! `check --probe` connects to every target of every pool and reports reachable, refused or
//! TLS error per target, exiting 1 when any target is not reachable.

use crate::support::*;

fn config(pki: &Pki, live: std::net::SocketAddr, dead: std::net::SocketAddr) -> String {
    format!(
        "{}\n[[domain.mapping]]\napi = \"inv\"\nstage = \"prod\"\n[api.inv.stages.prod]\n\
         [[api.inv.routes]]\nmethod = \"GET\"\npath = \"/inventory\"\n\
         integration = \"http://onprem/rest-service/inventory\"\n\
         [[api.inv.routes]]\nmethod = \"GET\"\npath = \"/secure\"\n\
         integration = \"https://secure/rest-service/secure\"\n\
         [upstream.onprem]\ntargets = [\"{live}\", {{ address = \"{dead}\", zone = \"zone-b\" }}]\n\
         [upstream.secure]\ntargets = [\"{live}\"]\n",
        pki.domain_toml("localhost", "127.0.0.1:0")
    )
}

/// `portcullis check --probe --config PATH`, off the async workers.
async fn check_probe(path: std::path::PathBuf) -> Out {
    blocking(move || {
        let mut a = args(["check", "--probe", "--config"]);
        a.push(path.into());
        portcullis(a)
    })
    .await
}

#[tokio::test]
async fn probe_reports_reachable_refused_and_tls_error() {
    let pki = Pki::new("localhost");
    let live = Upstream::start().await;
    let dead = dead_port();
    let path = pki.write("gateway.toml", &config(&pki, live.addr, dead));
    let out = check_probe(path).await;
    let stdout = &out.stdout;
    assert_eq!(out.code, Some(1), "{stdout}");
    let line = |pool: &str, target: String| {
        stdout
            .lines()
            .find(|l| l.starts_with(pool) && l.contains(&target))
            .unwrap_or_else(|| panic!("no line for {pool} {target} in:\n{stdout}"))
            .to_owned()
    };
    assert!(line("onprem", live.addr.to_string()).ends_with("reachable"));
    let refused = line("onprem", dead.to_string());
    assert!(
        refused.contains("refused") && refused.contains("zone-b"),
        "{refused}"
    );
    // The secure pool is used over https://, but the live target speaks plain HTTP.
    let tls = line("secure", live.addr.to_string());
    assert!(tls.contains("TLS error"), "{tls}");
    assert!(
        stdout.contains("3 target(s) probed, 2 not reachable"),
        "{stdout}"
    );
}

#[tokio::test]
async fn probe_passes_when_every_target_answers() {
    let pki = Pki::new("localhost");
    let live = Upstream::start().await;
    let path = pki.write(
        "gateway.toml",
        &simple_config(&pki, live.addr, INVENTORY_ROUTE),
    );
    let out = check_probe(path).await;
    let stdout = &out.stdout;
    assert_eq!(out.code, Some(0), "{stdout}");
    assert!(
        stdout.contains("1 target(s) probed, 0 not reachable"),
        "{stdout}"
    );
}
