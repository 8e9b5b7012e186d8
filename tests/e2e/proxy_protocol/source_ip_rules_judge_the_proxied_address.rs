//! `source_ip` rules (like a resource policy's `aws:SourceIp`) judge the address the PROXY
//! header names, not the load balancer's: an allow rule lets its range in and refuses others
//! with `ACCESS_DENIED`, a deny rule refuses its range; on a listener without the protocol the
//! socket's address is judged.

use super::*;

const RULES: &str = r#"
[authorization.office]
allow = [ { subject_cn = ["localhost-client"], source_ip = ["203.0.113.0/24", "2001:db8:cafe::/48"] } ]
deny = [ { source_ip = ["203.0.113.66/32"] } ]
"#;

#[tokio::test]
async fn allow_and_deny_rules_judge_the_proxied_client_address() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let config = proxied(&pki, up.addr, "\"127.0.0.0/8\"")
        .top(RULES)
        .domain("authorization = \"office\"");
    let gw = Gateway::start(&config.build()).await;

    let denied = gateway_body("User is not authorized to access this resource");
    let explicit =
        gateway_body("User is not authorized to access this resource with an explicit deny");
    for (what, header, want) in [
        ("v1 from the allowed range", v1("203.0.113.9:4711"), None),
        (
            "v2 from the allowed IPv6 range",
            v2("[2001:db8:cafe::17]:4711", &[]),
            None,
        ),
        // The load balancer's own address is no client's.
        (
            "v1 UNKNOWN (the balancer's address)",
            b"PROXY UNKNOWN\r\n".to_vec(),
            Some(&denied),
        ),
        (
            "v1 from outside the range",
            v1("198.51.100.7:4711"),
            Some(&denied),
        ),
        (
            "v2 from the denied address",
            v2("203.0.113.66:4711", &[]),
            Some(&explicit),
        ),
    ] {
        let got = via_lb(gw.addr(), &pki, &header, "/inventory")
            .await
            .unwrap();
        match want {
            None => assert_eq!(got.status, 200, "{what}: {got:?}"),
            Some(body) => {
                assert_eq!(got.status, 403, "{what}: {got:?}");
                assert_eq!(
                    got.headers["x-amzn-errortype"], "AccessDeniedException",
                    "{what}"
                );
                assert_eq!(&got.body, body, "{what}");
            }
        }
    }
    assert_eq!(
        up.seen().len(),
        2,
        "only the allowed requests reach the upstream"
    );
}

#[tokio::test]
async fn without_the_protocol_rules_judge_the_socket_address() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    // 127.0.0.1 is in none of RULES' ranges, until the allowed one becomes 127.0.0.0/8.
    for (rules, want) in [
        (RULES.replace("203.0.113.0/24", "127.0.0.0/8"), 200),
        (RULES.to_owned(), 403),
    ] {
        let config = Config::new(&pki, &[up.addr])
            .top(&rules)
            .domain("authorization = \"office\"");
        let gw = Gateway::start(&config.build()).await;
        assert_eq!(get(&gw, &pki, "/inventory").await.status, want, "{rules}");
    }
}
