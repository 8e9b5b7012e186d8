//! TLS 1.2 and 1.3 are both served by default and with `min_tls_version = "1.2"`;
//! `min_tls_version = "1.3"` refuses a client that only speaks TLS 1.2.

use crate::support::*;

use std::sync::Arc;

use rustls::{ProtocolVersion, SupportedProtocolVersion};

async fn call(gw: &Gateway, pki: &Pki, versions: &[&'static SupportedProtocolVersion]) -> Attempt {
    let cfg = client_config(
        &[&pki.root.pem],
        Some(&pki.client),
        versions,
        &[b"http/1.1"],
    );
    tls_exchange(
        gw.addr(),
        dns("localhost"),
        Arc::new(cfg),
        get_abs("/inventory"),
    )
    .await
}

async fn start(pki: &Pki, up: &Upstream, min: Option<&str>) -> Gateway {
    let extra = min
        .map(|v| format!("min_tls_version = \"{v}\"\n"))
        .unwrap_or_default();
    Gateway::start(&Config::new(pki, &[up.addr]).domain(&extra).build()).await
}

#[tokio::test]
async fn default_serves_tls12_and_tls13() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = start(&pki, &up, None).await;
    for (versions, want) in [
        (TLS13_ONLY, ProtocolVersion::TLSv1_3),
        (TLS12_ONLY, ProtocolVersion::TLSv1_2),
        (BOTH, ProtocolVersion::TLSv1_3),
    ] {
        let (got, neg) = call(&gw, &pki, versions).await.ok();
        assert_eq!(got.status, 200, "{want:?}: {got:?}");
        assert_eq!(neg.version, Some(want));
    }
    assert_eq!(up.seen().len(), 3);
}

#[tokio::test]
async fn min_tls12_accepts_a_tls12_only_client() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = start(&pki, &up, Some("1.2")).await;
    let (got, neg) = call(&gw, &pki, TLS12_ONLY).await.ok();
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(neg.version, Some(ProtocolVersion::TLSv1_2));
    let (_, neg) = call(&gw, &pki, TLS13_ONLY).await.ok();
    assert_eq!(neg.version, Some(ProtocolVersion::TLSv1_3));
    assert_eq!(up.seen().len(), 2);
}

#[tokio::test]
async fn min_tls13_refuses_a_tls12_only_client() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = start(&pki, &up, Some("1.3")).await;
    let attempt = call(&gw, &pki, TLS12_ONLY).await;
    assert_refused("TLS 1.2-only client on a 1.3 domain", &attempt.result, &up);

    let (got, neg) = call(&gw, &pki, BOTH).await.ok();
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(neg.version, Some(ProtocolVersion::TLSv1_3));
}

#[tokio::test]
async fn min_version_is_per_domain_on_a_shared_listener() {
    let strict = Pki::new("strict.test");
    let lax = Pki::new("lax.test");
    let up = Upstream::start().await;
    let mut config = String::new();
    for (pki, name, min) in [(&strict, "strict.test", "1.3"), (&lax, "lax.test", "1.2")] {
        config.push_str(&pki.domain_toml(name, "127.0.0.1:0"));
        config.push_str(&format!(
            "min_tls_version = \"{min}\"\n\n[[domain.mapping]]\nbase_path = \"/\"\napi = \"inv\"\nstage = \"prod\"\n\n"
        ));
    }
    config.push_str(&format!(
        "[api.inv.stages.prod]\nvariables = {{ backend = \"onprem\" }}\n\n{INVENTORY_ROUTE}\n[upstream.onprem]\ntargets = [\"{}\"]\n",
        up.addr
    ));
    let gw = Gateway::start(&config).await;
    assert_eq!(gw.addrs.len(), 1);

    let tls12 = |pki: &Pki| {
        Arc::new(client_config(
            &[&pki.root.pem],
            Some(&pki.client),
            TLS12_ONLY,
            &[b"http/1.1"],
        ))
    };
    let attempt = tls_exchange(
        gw.addr(),
        dns("strict.test"),
        tls12(&strict),
        get_abs("/inventory"),
    )
    .await;
    assert_refused("TLS 1.2 on strict.test", &attempt.result, &up);
    let (got, neg) = tls_exchange(
        gw.addr(),
        dns("lax.test"),
        tls12(&lax),
        get_abs("/inventory"),
    )
    .await
    .ok();
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(neg.version, Some(ProtocolVersion::TLSv1_2));
}
