//! Through the binary: a malformed header from a trusted load balancer closes the connection
//! before TLS (the gateway sends not a byte), the log line names the peer and what is wrong,
//! and the gateway goes on serving well-formed connections.

use super::*;

#[tokio::test]
async fn malformed_headers_are_closed_before_tls_logged_and_the_gateway_serves_on() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let (served, addr) = served_behind_lb(&pki, &up).await;

    let bad_version = {
        let mut h = v2("203.0.113.9:4711", &[]);
        h[12] = 0x11;
        h
    };
    for (what, header, says) in [
        (
            "v1 without ports",
            b"PROXY TCP4 203.0.113.9 10.0.0.1\r\n".to_vec(),
            "malformed PROXY protocol header: v1:",
        ),
        (
            "v1 with an IPv6 address under TCP4",
            b"PROXY TCP4 2001:db8::9 10.0.0.1 4711 443\r\n".to_vec(),
            "malformed PROXY protocol header: v1:",
        ),
        (
            "v1 without CRLF in 107 bytes",
            [&b"PROXY TCP4 "[..], &[b'1'; 120]].concat(),
            "no CRLF within 107 bytes",
        ),
        (
            "v2 of version 1",
            bad_version,
            "malformed PROXY protocol header: v2:",
        ),
    ] {
        let mut tcp = opened_with(addr, &header).await;
        let local = tcp.local_addr().unwrap().to_string();
        let out = read_until_closed(&mut tcp, STEP).await;
        assert!(out.closed && out.bytes.is_empty(), "{what}: {out:?}");
        let line = served
            .wait_event(|e| {
                e["peer"] == local.as_str()
                    && e["reason"].as_str().is_some_and(|r| r.contains(says))
            })
            .await
            .unwrap_or_else(|| panic!("{what}: no log line naming {local}:\n{}", served.dump()));
        assert_eq!(line["level"], "WARN", "{what}: {line}");
        assert_eq!(
            line["message"], "connection closed before TLS: PROXY protocol refused",
            "{what}: {line}"
        );
    }
    assert!(
        up.seen().is_empty(),
        "a refused connection reached the upstream"
    );

    let got = via_lb(addr, &pki, &v1("203.0.113.9:4711"), "/inventory")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", served.dump()));
    assert_eq!(got.status, 200, "{got:?}");
}
