//! The README's `curl --cert client.pem --key client.key --cacert root-ca.pem` example works
//! against the gateway, and the same curl without a client certificate is refused.

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_with_the_readme_flags_gets_the_upstream_body() {
    if !installed("curl", "--version") {
        eprintln!("SKIPPED: the `curl` binary is not installed");
        return;
    }
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, INVENTORY_ROUTE)).await;
    let url = format!("https://localhost:{}/inventory", gw.addr().port());
    let p = |f: &str| pki.path(f).display().to_string();

    let ok = curl(
        args([
            "--cert".into(),
            p("client.pem"),
            "--key".into(),
            p("client.key"),
            "--cacert".into(),
            p("root-ca.pem"),
            "--write-out".into(),
            "\n%{http_code}".into(),
            url.clone(),
        ]),
        None,
    )
    .await;
    let stdout = &ok.stdout;
    assert!(ok.ok(), "curl failed: {}\n{stdout}", ok.stderr);
    assert_eq!(stdout, "upstream:/rest-service/inventory\n200");
    assert_eq!(up.seen().len(), 1);

    let refused = curl(
        args([String::from("--cacert"), p("root-ca.pem"), url]),
        None,
    )
    .await;
    assert!(
        !refused.ok(),
        "curl without a client certificate succeeded: {}",
        refused.stdout
    );
    assert_eq!(
        up.seen().len(),
        1,
        "a request without a certificate was forwarded"
    );
}
