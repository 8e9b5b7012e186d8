//! Every rule field matches its own certificate field: subject CN, O and OU, DNS SAN (any
//! case), URI SAN with `*` (one segment) and `**` (the rest), e-mail SAN (domain in any case),
//! the issuing CA by name or by the SHA-256 of its certificate (sent by the client or held in
//! the truststore), the SPKI pin and the serial number (any separators, case, leading zeros).

use super::{guarded_route, status_as};
use crate::support::*;

use rcgen::SerialNumber;

#[tokio::test]
async fn each_field_lets_its_match_through_and_refuses_the_rest() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let mut leaf = Leaf::client("reader");
    leaf.org = vec!["Corp".into()];
    leaf.org_unit = vec!["inventory".into()];
    leaf.dns = vec!["reader.corp.example".into()];
    leaf.uris = vec!["spiffe://corp/inventory/reader".into()];
    leaf.emails = vec!["reader@Corp.Example".into()];
    leaf.serial = Some(SerialNumber::from(0x1f3a_u64));
    let reader = issue(&pki.intermediate, leaf);
    let mut leaf = Leaf::client("writer");
    leaf.org = vec!["Other".into()];
    leaf.org_unit = vec!["sales".into()];
    leaf.dns = vec!["writer.corp.example".into()];
    leaf.uris = vec!["spiffe://corp/sales/writer".into()];
    leaf.emails = vec!["writer@corp.example".into()];
    let writer = issue(&pki.intermediate, leaf);
    let mut leaf = Leaf::client("deep");
    leaf.uris = vec!["spiffe://corp/inventory/team/reader".into()];
    let deep = issue(&pki.intermediate, leaf);
    // Issued by a second CA under the same root, which the client sends in its chain.
    let second_ca = pki.root.subordinate("Second Issuing CA");
    let second = issue(&second_ca, Leaf::client("second"));

    let colons = |hex: &str| {
        hex.as_bytes()
            .chunks(2)
            .map(|p| std::str::from_utf8(p).unwrap().to_ascii_uppercase())
            .collect::<Vec<_>>()
            .join(":")
    };
    let spki = sha256_hex(&cert_info(&reader.der).spki);
    let rules = format!(
        r#"
[authorization.by_cn]
allow = [ {{ subject_cn = ["reader"] }} ]
[authorization.by_o]
allow = [ {{ subject_o = ["Corp"] }} ]
[authorization.by_ou]
allow = [ {{ subject_ou = ["inventory"] }} ]
[authorization.by_dns]
allow = [ {{ dns_san = ["READER.corp.example"] }} ]
[authorization.by_uri_one]
allow = [ {{ uri_san = ["spiffe://corp/inventory/*"] }} ]
[authorization.by_uri_rest]
allow = [ {{ uri_san = ["spiffe://corp/inventory/**"] }} ]
[authorization.by_email]
allow = [ {{ email_san = ["reader@corp.example"] }} ]
[authorization.by_issuer_dn]
allow = [ {{ issuer_dn = ["CN=Second Issuing CA"] }} ]
[authorization.by_issuer_sha]
allow = [ {{ issuer_sha256 = ["{}"] }} ]
[authorization.by_trusted_issuer_sha]
allow = [ {{ issuer_sha256 = ["{}"] }} ]
[authorization.by_spki]
allow = [ {{ spki_sha256 = ["{}"] }} ]
[authorization.by_serial]
allow = [ {{ serial = ["00:1F:3A"] }} ]
"#,
        colons(&sha256_hex(&second_ca.der)),
        sha256_hex(&pki.intermediate.der),
        spki,
    );
    let routes = [
        ("/cn", "by_cn"),
        ("/o", "by_o"),
        ("/ou", "by_ou"),
        ("/dns", "by_dns"),
        ("/uri-one", "by_uri_one"),
        ("/uri-rest", "by_uri_rest"),
        ("/email", "by_email"),
        ("/issuer-dn", "by_issuer_dn"),
        ("/issuer-sha", "by_issuer_sha"),
        ("/trusted-issuer-sha", "by_trusted_issuer_sha"),
        ("/spki", "by_spki"),
        ("/serial", "by_serial"),
    ]
    .iter()
    .map(|(path, set)| guarded_route(path, set))
    .collect::<String>();
    let config = Config::new(&pki, &[up.addr])
        .top(&rules)
        .routes(&routes)
        .build();
    let gw = Gateway::start(&config).await;
    let cases: &[(&str, &Issued, u16)] = &[
        ("/cn", &reader, 200),
        ("/cn", &writer, 403),
        ("/o", &reader, 200),
        ("/o", &writer, 403),
        ("/ou", &reader, 200),
        ("/ou", &writer, 403),
        ("/dns", &reader, 200),
        ("/dns", &writer, 403),
        ("/uri-one", &reader, 200),
        ("/uri-one", &deep, 403),
        ("/uri-one", &writer, 403),
        ("/uri-rest", &reader, 200),
        ("/uri-rest", &deep, 200),
        ("/uri-rest", &writer, 403),
        ("/email", &reader, 200),
        ("/email", &writer, 403),
        ("/issuer-dn", &second, 200),
        ("/issuer-dn", &reader, 403),
        ("/issuer-sha", &second, 200),
        ("/issuer-sha", &reader, 403),
        ("/trusted-issuer-sha", &reader, 200),
        ("/trusted-issuer-sha", &second, 403),
        ("/spki", &reader, 200),
        ("/spki", &writer, 403),
        ("/serial", &reader, 200),
        ("/serial", &writer, 403),
    ];
    let mut wrong = Vec::new();
    for (path, client, want) in cases {
        let got = status_as(gw.addr(), &pki, client, path).await;
        if got != *want {
            let cn = &cert_info(&client.der).subject;
            wrong.push(format!("{path} as {cn}: {got}, want {want}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let allowed = cases.iter().filter(|(_, _, s)| *s == 200).count();
    assert_eq!(
        up.seen().len(),
        allowed,
        "only allowed requests go upstream"
    );
}
