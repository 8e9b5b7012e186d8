//! A broken PROXY protocol setting is refused at load with every problem under its key:
//! domains on one listen address that disagree (naming both), a range that does not parse,
//! the protocol without ranges or ranges without the protocol, on a domain or the default
//! endpoint; and a `source_ip` rule range that does not parse.

use crate::support::*;

/// The errors that refuse `config`, one per line.
async fn refused(config: &str) -> String {
    Gateway::try_start(config)
        .await
        .err()
        .expect("a broken PROXY protocol config was accepted")
}

fn assert_has(err: &str, key: &str, reason: &str) {
    assert!(
        err.lines()
            .any(|l| l.contains(&format!(": {key}: ")) && l.contains(reason)),
        "no `{key}`: `{reason}` in:\n{err}"
    );
}

/// A second domain on the first one's listen address, with `extra` lines.
fn second_domain(pki: &Pki, extra: &str) -> String {
    format!(
        "{}{extra}\n[[domain.mapping]]\nbase_path = \"/\"\napi = \"inv\"\nstage = \"prod\"\n",
        pki.domain_toml("other.example", "127.0.0.1:0")
    )
}

#[tokio::test]
async fn domains_sharing_a_listen_address_must_agree() {
    let pki = Pki::new("localhost");
    let base = Config::new(&pki, &["127.0.0.1:9".parse().unwrap()])
        .domain("proxy_protocol = true\ntrusted_proxies = [\"10.0.0.0/8\", \"192.168.0.0/16\"]");

    let off = base.clone().top(&second_domain(&pki, "")).build();
    // `top` puts the second domain first in the file: it is domain[0].
    assert_has(
        &refused(&off).await,
        "domain[1].proxy_protocol",
        "domains `other.example` (domain[0]) and `localhost` (domain[1]) share listen \
         127.0.0.1:0 but disagree on proxy_protocol (false and true)",
    );

    let other_ranges = base
        .clone()
        .top(&second_domain(
            &pki,
            "proxy_protocol = true\ntrusted_proxies = [\"10.0.0.0/8\"]",
        ))
        .build();
    assert_has(
        &refused(&other_ranges).await,
        "domain[1].trusted_proxies",
        "disagree on trusted_proxies ([\"10.0.0.0/8\"] and [\"10.0.0.0/8\", \"192.168.0.0/16\"])",
    );

    // The same ranges in another order, repeated: they agree.
    let same = base
        .clone()
        .top(&second_domain(
            &pki,
            "proxy_protocol = true\ntrusted_proxies = [\"192.168.0.0/16\", \"10.0.0.0/8\", \"10.0.0.0/8\"]",
        ))
        .build();
    Gateway::try_start(&same)
        .await
        .unwrap_or_else(|e| panic!("the same ranges were refused:\n{e}"));
}

#[tokio::test]
async fn every_bad_setting_names_its_key() {
    let pki = Pki::new("localhost");
    let text = Config::new(&pki, &["127.0.0.1:9".parse().unwrap()])
        .top(&format!(
            "[default_endpoint]\nlisten = \"{}\"\ntrusted_proxies = [\"10.0.0.0/8\"]\n\n\
             [authorization.partners]\nallow = [ {{ source_ip = [\"10.0.0.0/8\", \"10.0.0.300/32\"] }} ]\n\
             deny = [ {{ source_ip = [\"10.1.0.0/8\"] }}, {{ source_ip = [] }} ]\n\n{}",
            free_port(),
            second_domain(&pki, "proxy_protocol = true").replace("127.0.0.1:0", "127.0.0.1:1")
        ))
        .domain("proxy_protocol = true\ntrusted_proxies = [\"10.0.0.0/8\", \"fd00::/129\", \"lb.internal\"]")
        .build();
    let err = refused(&text).await;
    for (key, reason) in [
        (
            "domain[1].trusted_proxies[1]",
            "`fd00::/129`: the prefix length must be 0 to 128",
        ),
        (
            "domain[1].trusted_proxies[2]",
            "`lb.internal` is not an address range such as \"10.0.0.0/8\"",
        ),
        (
            "domain[0].trusted_proxies",
            "missing required key: `proxy_protocol = true` needs",
        ),
        (
            "default_endpoint.trusted_proxies",
            "set `proxy_protocol = true` too",
        ),
        (
            "authorization.partners.allow[0].source_ip[1]",
            "`10.0.0.300/32` is not an address range",
        ),
        (
            "authorization.partners.deny[0].source_ip[0]",
            "did you mean `10.0.0.0/8`?",
        ),
        (
            "authorization.partners.deny[1].source_ip",
            "an empty list matches no client",
        ),
    ] {
        assert_has(&err, key, reason);
    }
}
