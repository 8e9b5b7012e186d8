//! The README's `curl --cert client.pem --key client.key --cacert root-ca.pem` example works
//! against the gateway, and the same curl without a client certificate is refused.

use crate::support::*;

use std::process::{Command, Output};

fn curl_installed() -> bool {
    Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

async fn curl(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .args(["--silent", "--show-error", "--max-time", "10"])
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_with_the_readme_flags_gets_the_upstream_body() {
    if !curl_installed() {
        eprintln!("SKIPPED: the `curl` binary is not installed");
        return;
    }
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, INVENTORY_ROUTE)).await;
    let url = format!("https://localhost:{}/inventory", gw.addr().port());
    let p = |f: &str| pki.path(f).display().to_string();

    let ok = curl(vec![
        "--cert".into(),
        p("client.pem"),
        "--key".into(),
        p("client.key"),
        "--cacert".into(),
        p("root-ca.pem"),
        "--write-out".into(),
        "\n%{http_code}".into(),
        url.clone(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "curl failed: {}\n{stdout}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(stdout, "upstream:/rest-service/inventory\n200");
    assert_eq!(up.seen().len(), 1);

    let refused = curl(vec!["--cacert".into(), p("root-ca.pem"), url]).await;
    assert!(
        !refused.status.success(),
        "curl without a client certificate succeeded: {}",
        String::from_utf8_lossy(&refused.stdout)
    );
    assert_eq!(
        up.seen().len(),
        1,
        "a request without a certificate was forwarded"
    );
}
