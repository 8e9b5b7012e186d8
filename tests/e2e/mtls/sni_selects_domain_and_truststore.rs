//! Several domains on one listener are told apart by SNI: each has its own truststore and its
//! own API mapping; an unknown SNI name is refused; a client that sends no SNI gets the first
//! domain configured on the listener.

use crate::support::*;

use std::net::SocketAddr;

use rustls::pki_types::ServerName;
use std::sync::Arc;

/// Two domains, `alpha.test` (first) and `beta.test`, on one listener; each maps "/" to its own
/// API whose pool is its own upstream.
fn two_domain_config(a: &Pki, b: &Pki, up_a: SocketAddr, up_b: SocketAddr) -> String {
    let mut c = String::new();
    for (pki, name, api) in [(a, "alpha.test", "alpha"), (b, "beta.test", "beta")] {
        c.push_str(&pki.domain_toml(name, "127.0.0.1:0"));
        c.push_str(&format!(
            "\n[[domain.mapping]]\nbase_path = \"/\"\napi = \"{api}\"\nstage = \"prod\"\n\n"
        ));
    }
    for (api, up) in [("alpha", up_a), ("beta", up_b)] {
        c.push_str(&format!(
            "[api.{api}.stages.prod]\nvariables = {{ backend = \"{api}-pool\" }}\n\n\
             [[api.{api}.routes]]\nmethod = \"GET\"\npath = \"/whoami\"\n\
             integration = \"http://${{stageVariables.backend}}/{api}/whoami\"\n\n\
             [upstream.{api}-pool]\ntargets = [\"{up}\"]\n\n"
        ));
    }
    c
}

struct Setup {
    a: Pki,
    b: Pki,
    up_a: Upstream,
    up_b: Upstream,
    gw: Gateway,
}

async fn setup() -> Setup {
    let a = Pki::new("alpha.test");
    let b = Pki::new("beta.test");
    let up_a = Upstream::start_named("alpha-upstream").await;
    let up_b = Upstream::start_named("beta-upstream").await;
    let gw = Gateway::start(&two_domain_config(&a, &b, up_a.addr, up_b.addr)).await;
    assert_eq!(gw.addrs.len(), 1, "both domains must share one listener");
    Setup {
        a,
        b,
        up_a,
        up_b,
        gw,
    }
}

impl Setup {
    /// Connect as `client` with server name `name`, trusting both PKIs' roots for the server
    /// (so only the client certificate or the SNI can be the reason for a refusal).
    async fn call(&self, name: ServerName<'static>, client: &Issued) -> Attempt {
        let cfg = client_config(
            &[&self.a.root.pem, &self.b.root.pem],
            Some(client),
            BOTH,
            &[b"http/1.1"],
        );
        let host = match &name {
            ServerName::DnsName(d) => d.as_ref().to_owned(),
            _ => "127.0.0.1".to_owned(),
        };
        let req = http::Request::get(format!("https://{host}/whoami"))
            .header("host", host)
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        tls_exchange(self.gw.addr(), name, Arc::new(cfg), req).await
    }
}

#[tokio::test]
async fn each_domain_accepts_only_its_own_clients_and_routes_to_its_own_api() {
    let s = setup().await;

    let (got, _) = s.call(dns("alpha.test"), &s.a.client).await.ok();
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.body, "alpha-upstream:/alpha/whoami");

    let (got, _) = s.call(dns("beta.test"), &s.b.client).await.ok();
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.body, "beta-upstream:/beta/whoami");
    assert_eq!(s.up_a.seen().len(), 1);
    assert_eq!(s.up_b.seen().len(), 1);

    // Crossed over: A's client on B's domain and B's client on A's domain are refused.
    let crossed = s.call(dns("beta.test"), &s.a.client).await;
    assert!(crossed.result.is_err(), "A's client on beta: {crossed:?}");
    let crossed = s.call(dns("alpha.test"), &s.b.client).await;
    assert!(crossed.result.is_err(), "B's client on alpha: {crossed:?}");
    assert_eq!(s.up_a.seen().len(), 1, "{:?}", s.up_a.seen());
    assert_eq!(s.up_b.seen().len(), 1, "{:?}", s.up_b.seen());
}

#[tokio::test]
async fn unknown_sni_name_is_refused() {
    let s = setup().await;
    // `localhost` is in both server certificates, so the client would accept either; the
    // gateway must still refuse a name it does not serve.
    for client in [&s.a.client, &s.b.client] {
        let attempt = s.call(dns("localhost"), client).await;
        assert!(attempt.result.is_err(), "unknown SNI served: {attempt:?}");
    }
    assert!(s.up_a.seen().is_empty(), "{:?}", s.up_a.seen());
    assert!(s.up_b.seen().is_empty(), "{:?}", s.up_b.seen());
}

#[tokio::test]
async fn no_sni_gets_the_first_domain_of_the_listener() {
    let s = setup().await;
    // Connecting by IP address: rustls sends no SNI. The server certificate has 127.0.0.1.
    let (got, _) = s.call(loopback_ip(), &s.a.client).await.ok();
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.body, "alpha-upstream:/alpha/whoami");

    let attempt = s.call(loopback_ip(), &s.b.client).await;
    assert!(
        attempt.result.is_err(),
        "no SNI must mean the first domain (alpha), whose truststore does not hold B: {attempt:?}"
    );
    assert_eq!(s.up_a.seen().len(), 1);
    assert!(s.up_b.seen().is_empty(), "{:?}", s.up_b.seen());
}
