//! `portcullis explain --domain NAME` for a domain the configuration does not have exits 2 and
//! lists the domains it does have.

use crate::support::*;

#[test]
fn an_unknown_domain_is_an_error_naming_the_known_ones() {
    let a = Pki::new("localhost");
    let b = Pki::new("api.example.test");
    let mapping = "\n[[domain.mapping]]\nbase_path = \"/\"\napi = \"inv\"\nstage = \"prod\"\n\n";
    let config = format!(
        "{}{mapping}{}{mapping}[api.inv.stages.prod]\nvariables = {{ backend = \"onprem\" }}\n\n{INVENTORY_ROUTE}\n[upstream.onprem]\ntargets = [\"127.0.0.1:9\"]\n",
        a.domain_toml("localhost", "127.0.0.1:0"),
        b.domain_toml("api.example.test", "127.0.0.1:0"),
    );
    let config = a.write("gateway.toml", &config);

    // Both domains are real: each explains its own client.
    assert_accepted(
        &explain(&config, "localhost", &a.path("client.pem"), &[]),
        "localhost",
    );
    assert_accepted(
        &explain(&config, "api.example.test", &b.path("client.pem"), &[]),
        "api.example.test",
    );

    for extra in [vec![], vec!["--json"]] {
        let out = explain(&config, "nope.example.test", &a.path("client.pem"), &extra);
        assert_eq!(out.code, Some(2), "{extra:?}: {out:#?}");
        assert!(
            out.stderr.contains("nope.example.test"),
            "{extra:?}: the unknown name must be quoted: {out:#?}"
        );
        for known in ["localhost", "api.example.test"] {
            assert!(
                out.stderr.contains(known),
                "{extra:?}: the known domain {known} must be listed: {out:#?}"
            );
        }
        assert!(
            !out.stdout.contains("ACCEPTED") && !out.stdout.contains("REJECTED"),
            "{extra:?}: no verdict for an unknown domain: {out:#?}"
        );
    }
}
