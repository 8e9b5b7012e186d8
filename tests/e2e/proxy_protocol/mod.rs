//! The real client address behind an L4 load balancer: a listener with `proxy_protocol = true`
//! reads HAProxy's v1 or v2 header from the `trusted_proxies` alone, closes every other
//! connection before TLS, and the address the header names is the one `X-Forwarded-For`,
//! `context.identity.sourceIp`, the access log and `source_ip` rules see.

mod a_header_naming_no_client_keeps_the_socket_address;
mod a_reload_turns_the_protocol_on_for_new_connections;
mod config_errors_name_the_key_and_both_domains;
mod default_endpoint_reads_the_header_too;
mod explain_judges_source_ip_for_the_given_address;
mod header_reading_is_exact_and_bounded;
mod malformed_header_closes_the_connection_before_tls;
mod missing_header_closes_the_connection_before_tls;
mod source_ip_rules_judge_the_proxied_address;
mod untrusted_peer_is_closed_even_with_a_valid_header;
mod v1_header_sets_the_client_address_everywhere;
mod v2_header_sets_the_client_address_for_ipv4_and_ipv6;

use std::net::SocketAddr;

use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::support::*;

/// The refusal counter, with its `_total` suffix.
pub const REFUSALS: &str = "portcullis_proxy_protocol_refused_connections_total";

/// `GET /inventory` with the client's address mapped into `x-source-ip`
/// (`context.identity.sourceIp`).
pub const SOURCE_IP_ROUTE: &str = "[[api.inv.routes]]\nmethod = \"GET\"\npath = \"/inventory\"\nintegration = \"http://${stageVariables.backend}/rest-service/inventory\"\nrequest_parameters = { \"integration.request.header.x-source-ip\" = \"context.identity.sourceIp\" }\n";

/// The usual configuration with the PROXY protocol on, trusting `trusted` (TOML list items).
pub fn proxied(pki: &Pki, up: SocketAddr, trusted: &str) -> Config {
    Config::new(pki, &[up])
        .routes(SOURCE_IP_ROUTE)
        .domain(&format!(
            "proxy_protocol = true\ntrusted_proxies = [{trusted}]"
        ))
}

/// The gateway binary behind a load balancer on this machine (`trusted_proxies` 127.0.0.0/8),
/// with its listen address: for tests that read its log.
pub async fn served_behind_lb(pki: &Pki, up: &Upstream) -> (Served, SocketAddr) {
    let config = pki.write(
        "gateway.toml",
        &proxied(pki, up.addr, "\"127.0.0.0/8\"").build(),
    );
    let served = Served::start(&config);
    let addr = served.listen_addr().await;
    (served, addr)
}

/// A v1 header from `client` (TCP4 or TCP6 by its family) to the load balancer's port 443.
pub fn v1(client: &str) -> Vec<u8> {
    let c: SocketAddr = client.parse().unwrap();
    let (family, to) = if c.is_ipv4() {
        ("TCP4", "10.0.0.1")
    } else {
        ("TCP6", "2001:db8::1")
    };
    format!("PROXY {family} {} {to} {} 443\r\n", c.ip(), c.port()).into_bytes()
}

/// A v2 header, written out byte by byte as the spec lays it: signature, version 2 with
/// `command`, `family` and transport, the length, then `body` (addresses and TLVs).
pub fn v2_raw(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.push(0x20 | command);
    h.push(family);
    h.extend((body.len() as u16).to_be_bytes());
    h.extend(body);
    h
}

/// A v2 `PROXY` header from `client` over TCP, followed by the TLVs `tlvs`.
pub fn v2(client: &str, tlvs: &[u8]) -> Vec<u8> {
    let c: SocketAddr = client.parse().unwrap();
    let (family, mut body) = match c.ip() {
        std::net::IpAddr::V4(ip) => (0x11, [ip.octets(), [10, 0, 0, 1]].concat()),
        std::net::IpAddr::V6(ip) => {
            let to: std::net::Ipv6Addr = "2001:db8::1".parse().unwrap();
            (0x21, [ip.octets(), to.octets()].concat())
        }
    };
    body.extend(c.port().to_be_bytes());
    body.extend(443u16.to_be_bytes());
    body.extend(tlvs);
    v2_raw(1, family, &body)
}

/// A TCP connection to `addr` that has sent `first` (a header, or whatever a test sends).
pub async fn opened_with(addr: SocketAddr, first: &[u8]) -> TcpStream {
    let mut tcp = tokio::time::timeout(STEP, TcpStream::connect(addr))
        .await
        .expect("connect timed out")
        .unwrap();
    tcp.write_all(first).await.unwrap();
    tcp
}

/// `GET path` as `client` over mTLS on `tcp`, within `STEP`.
pub async fn get_over(
    tcp: TcpStream,
    pki: &Pki,
    client: &Issued,
    path: &str,
) -> Result<Got, String> {
    let connector = tls_client(&pki.root.pem, Some(client), &[b"http/1.1"]);
    let fut = async {
        let tls = connector
            .connect(dns("localhost"), tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let resp = send
            .send_request(get_req(path))
            .await
            .map_err(|e| format!("request: {e}"))?;
        collect(resp).await
    };
    tokio::time::timeout(STEP, fut)
        .await
        .unwrap_or_else(|_| Err("timed out".into()))
}

/// `GET path` as the PKI's good client on a connection that opens with `header`, as a load
/// balancer would send it.
pub async fn via_lb(addr: SocketAddr, pki: &Pki, header: &[u8], path: &str) -> Result<Got, String> {
    get_over(opened_with(addr, header).await, pki, &pki.client, path).await
}

/// Send `bytes` and read until the gateway closes: it must close within `STEP` having sent
/// nothing, not even a TLS alert.
pub async fn assert_closed_before_tls(addr: SocketAddr, bytes: &[u8]) {
    let mut tcp = opened_with(addr, bytes).await;
    let out = read_until_closed(&mut tcp, STEP).await;
    assert!(out.closed, "the gateway kept the connection open: {out:?}");
    assert!(
        out.bytes.is_empty(),
        "the gateway answered before closing: {:?}",
        out.bytes
    );
}

/// The upstream's one request header `name`, from the `i`-th request it saw.
pub fn seen_header(up: &Upstream, i: usize, name: &str) -> String {
    let seen = up.seen();
    let s = seen
        .get(i)
        .unwrap_or_else(|| panic!("the upstream saw {} requests, not {}", seen.len(), i + 1));
    s.headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no {name} in {:?}", s.headers))
}

/// The refusals counted with `reason`, once they reach `want` (polled within `STEP`).
pub async fn refusals_reach(gw: &Gateway, reason: &str, want: f64) -> f64 {
    let count = || async { metric_sum(&gw.metrics().await, REFUSALS, &[("reason", reason)]) };
    within(STEP, || async { count().await >= want }).await;
    count().await
}
