//! Which identity headers reach the upstream is chosen per domain and per route:
//! `x-forwarded-client-cert` with Envoy's `By Hash Cert Chain Subject URI DNS` elements, RFC
//! 9440 `Client-Cert` and `Client-Cert-Chain`, or none. Whatever the choice, every copy a
//! client sends of any of them (and of the other client-certificate headers) is removed,
//! also when `[forwarding] strip_headers` is replaced by a list that forgets them.

use crate::support::*;

use base64::Engine as _;
use rustls::pki_types::pem::PemObject as _;

/// A GET carrying a forged copy of every identity header the gateway could send.
fn forging(path: &str) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    http::Request::get(format!("https://localhost{path}"))
        .header("host", "localhost")
        .header("x-forwarded-client-cert", "Hash=00;Subject=\"CN=admin\"")
        .header("client-cert", ":Zm9yZ2Vk:")
        .header("Client-Cert", ":c2Vjb25k:")
        .header("client-cert-chain", ":Zm9yZ2Vk:")
        .header("x-ssl-client-cert", "forged")
        .header("x-client-verify", "SUCCESS")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap()
}

/// The values of `name` the upstream received on its `i`th request.
fn values(up: &Upstream, i: usize, name: &str) -> Vec<String> {
    up.seen()[i]
        .headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// RFC 8941 byte sequences `:B64:, :B64:` back to DER.
fn byte_sequences(value: &str) -> Vec<Vec<u8>> {
    value
        .split(", ")
        .map(|item| {
            let b64 = item.strip_prefix(':').and_then(|i| i.strip_suffix(':'));
            let b64 = b64.unwrap_or_else(|| panic!("not a byte sequence: {item}"));
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap()
        })
        .collect()
}

/// The DER certificates in an XFCC `Cert="..."` or `Chain="..."` value (URL-encoded PEM).
fn url_encoded_pem(xfcc: &str, key: &str) -> Vec<Vec<u8>> {
    let start = xfcc
        .find(&format!(";{key}=\""))
        .unwrap_or_else(|| panic!("no {key} in {xfcc}"));
    let rest = &xfcc[start + key.len() + 3..];
    let encoded = &rest[..rest.find('"').unwrap()];
    assert!(
        !encoded.contains([' ', '\n', '+', '/', '=', ';', ',']),
        "{key} is not URL-encoded: {encoded}"
    );
    let mut pem = Vec::new();
    let b = encoded.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            pem.push(u8::from_str_radix(&encoded[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            pem.push(b[i]);
            i += 1;
        }
    }
    rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
        .map(|c| c.unwrap().to_vec())
        .collect()
}

#[tokio::test]
async fn a_domain_can_send_every_identity_header_with_every_xfcc_element() {
    let pki = Pki::new("localhost");
    // The gateway's own certificate names a URI SAN: it becomes XFCC's `By`.
    let mut server = Leaf::server("localhost");
    server.uris = vec!["spiffe://corp/gateway".into()];
    let server = issue(&pki.intermediate, server);
    let cert = pki.write("server-uri.pem", &server.chain_pem);
    let key = pki.write("server-uri.key", &server.key_pem);
    let up = Upstream::start().await;
    let config = Config::with_files(&cert, &key, &pki.path("truststore.pem"), &[up.addr])
        .domain(
            "identity_headers = [\"x-forwarded-client-cert\", \"Client-Cert\", \"client-cert-chain\"]\n\
             xfcc_elements = [\"DNS\", \"uri\", \"Subject\", \"Chain\", \"Cert\", \"Hash\", \"By\"]",
        )
        .build();
    let gw = Gateway::start(&config).await;

    let mut leaf = Leaf::client("inventory-reader");
    leaf.uris = vec!["spiffe://corp/inventory/reader".into()];
    leaf.dns = vec!["reader.corp".into()];
    let client = issue(&pki.intermediate, leaf);
    let got = request(
        gw.addr(),
        "localhost",
        &pki.root.pem,
        Some(&client),
        forging("/inventory"),
    )
    .await
    .unwrap();
    assert_eq!(got.status, 200, "{got:?}");

    // Client-Cert: the leaf; Client-Cert-Chain: what the client sent above it.
    let cert = values(&up, 0, "client-cert");
    assert_eq!(cert.len(), 1, "{cert:?}");
    assert_eq!(byte_sequences(&cert[0]), [client.der.to_vec()]);
    let chain = values(&up, 0, "client-cert-chain");
    assert_eq!(chain.len(), 1, "{chain:?}");
    assert_eq!(byte_sequences(&chain[0]), [client.chain_der[1].to_vec()]);

    // One XFCC element, keys in Envoy's order whatever order the list named them in.
    let xfcc = values(&up, 0, "x-forwarded-client-cert");
    assert_eq!(xfcc.len(), 1, "{xfcc:?}");
    let xfcc = &xfcc[0];
    let hash = sha256_hex(client.der.as_ref());
    assert!(
        xfcc.starts_with(&format!("By=spiffe://corp/gateway;Hash={hash};Cert=\"")),
        "{xfcc}"
    );
    assert!(
        xfcc.ends_with(
            "\";Subject=\"CN=inventory-reader\";URI=spiffe://corp/inventory/reader;DNS=reader.corp"
        ),
        "{xfcc}"
    );
    assert_eq!(url_encoded_pem(xfcc, "Cert"), [client.der.to_vec()]);
    let sent: Vec<Vec<u8>> = client.chain_der.iter().map(|c| c.to_vec()).collect();
    assert_eq!(url_encoded_pem(xfcc, "Chain"), sent);

    // No forged copy of anything survived.
    for name in ["x-ssl-client-cert", "x-client-verify"] {
        assert!(
            values(&up, 0, name).is_empty(),
            "{name} reached the upstream"
        );
    }
}

#[tokio::test]
async fn a_route_chooses_its_own_identity_headers_over_the_domains() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let routes = format!(
        "{}identity_headers = [\"client-cert\"]\n{}xfcc_elements = [\"Hash\"]\n{}{}xfcc_elements = [\"Subject\"]\n",
        route("GET", "/cert-only", "http://${stageVariables.backend}/a"),
        route("GET", "/hash-only", "http://${stageVariables.backend}/b"),
        route("GET", "/inherits", "http://${stageVariables.backend}/c"),
        route("GET", "/subject-only", "http://${stageVariables.backend}/d"),
    );
    let config = Config::new(&pki, &[up.addr])
        .domain("xfcc_elements = [\"Hash\", \"Subject\"]")
        .routes(&routes)
        .build();
    let gw = Gateway::start(&config).await;
    // One connection: its prebuilt XFCC serves some routes, others build their own, which the
    // connection keeps for its next requests; the second round must send the same values.
    let mut conn = KeepAlive::open(gw.addr(), &pki, None).await;
    let paths = ["/cert-only", "/hash-only", "/inherits", "/subject-only"];
    for path in paths.iter().chain(&paths) {
        let got = conn.send(forging(path)).await.unwrap();
        assert_eq!(got.status, 200, "{path}: {got:?}");
    }
    for i in 0..paths.len() {
        for name in [
            "x-forwarded-client-cert",
            "client-cert",
            "client-cert-chain",
        ] {
            let again = values(&up, i + paths.len(), name);
            assert_eq!(values(&up, i, name), again, "{} {name}", paths[i]);
        }
    }
    let hash = sha256_hex(pki.client.der.as_ref());

    assert!(values(&up, 0, "x-forwarded-client-cert").is_empty());
    let cert = values(&up, 0, "client-cert");
    assert_eq!(cert.len(), 1);
    assert_eq!(byte_sequences(&cert[0]), [pki.client.der.to_vec()]);
    assert!(values(&up, 0, "client-cert-chain").is_empty());

    assert_eq!(
        values(&up, 1, "x-forwarded-client-cert"),
        [format!("Hash={hash}")]
    );
    assert!(values(&up, 1, "client-cert").is_empty());

    assert_eq!(
        values(&up, 2, "x-forwarded-client-cert"),
        [format!("Hash={hash};Subject=\"CN=localhost-client\"")]
    );
    assert!(values(&up, 2, "client-cert").is_empty());

    assert_eq!(
        values(&up, 3, "x-forwarded-client-cert"),
        ["Subject=\"CN=localhost-client\""]
    );
}

/// A server certificate for `localhost` naming `uri`, written as `name`.pem / .key.
fn server_naming(pki: &Pki, name: &str, uri: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let mut server = Leaf::server("localhost");
    server.uris = vec![uri.into()];
    let server = issue(&pki.intermediate, server);
    (
        pki.write(&format!("{name}.pem"), &server.chain_pem),
        pki.write(&format!("{name}.key"), &server.key_pem),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xfcc_by_follows_a_reloaded_server_certificate_on_a_live_connection() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let (cert, key) = server_naming(&pki, "server-a", "spiffe://corp/gateway-a");
    let config = |cert: &std::path::Path, key: &std::path::Path| {
        Config::with_files(cert, key, &pki.path("truststore.pem"), &[up.addr])
            .domain("xfcc_elements = [\"By\", \"Hash\"]")
            .build()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, config(&cert, &key)).unwrap();
    let served = Served::start(&path);
    let addr = served.listen_addr().await;
    let mut live = KeepAlive::open(addr, &pki, None).await;
    assert_eq!(live.send(forging("/inventory")).await.unwrap().status, 200);
    let by = |i: usize| values(&up, i, "x-forwarded-client-cert").join("|");
    assert!(
        by(0).starts_with("By=spiffe://corp/gateway-a;"),
        "{}",
        by(0)
    );

    // The configuration now names another certificate; new connections are served with it.
    let (cert_b, key_b) = server_naming(&pki, "server-b", "spiffe://corp/gateway-b");
    replace_file(&path, config(&cert_b, &key_b).as_bytes());
    let reloaded = within(std::time::Duration::from_secs(10), || async {
        let n = up.seen().len();
        get_at(addr, &pki, "/inventory")
            .await
            .is_ok_and(|g| g.status == 200)
            && by(n).starts_with("By=spiffe://corp/gateway-b;")
    })
    .await;
    assert!(
        reloaded,
        "the new certificate was not applied:\n{}",
        served.dump()
    );

    // The connection accepted before the reload sends the new `By` too, as every request
    // is served under the current configuration.
    let n = up.seen().len();
    assert_eq!(live.send(forging("/inventory")).await.unwrap().status, 200);
    assert!(
        by(n).starts_with("By=spiffe://corp/gateway-b;"),
        "{}",
        by(n)
    );
}

#[tokio::test]
async fn no_identity_header_goes_upstream_when_none_is_chosen() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    // A strip list that forgets the headers the gateway emits still removes them.
    let config = Config::new(&pki, &[up.addr])
        .top("[forwarding]\nstrip_headers = [\"x-internal-*\"]")
        .domain("identity_headers = []")
        .build();
    let gw = Gateway::start(&config).await;
    let mut conn = KeepAlive::open(gw.addr(), &pki, None).await;
    let got = conn.send(forging("/inventory")).await.unwrap();
    assert_eq!(got.status, 200, "{got:?}");
    for name in [
        "x-forwarded-client-cert",
        "client-cert",
        "client-cert-chain",
    ] {
        assert!(
            values(&up, 0, name).is_empty(),
            "{name} reached the upstream: {:?}",
            values(&up, 0, name)
        );
    }
    // The replaced list is what it says: headers it no longer names pass.
    assert_eq!(values(&up, 0, "x-ssl-client-cert"), ["forged"]);
}

#[test]
fn a_bad_identity_choice_is_a_config_error_naming_its_key() {
    let pki = Pki::new("localhost");
    let cases = [
        (
            "identity_headers = [\"x-forwarded-client-cert\", \"x-ssl-client-cert\"]",
            "domain[0].identity_headers[1]",
        ),
        (
            "xfcc_elements = [\"Hash\", \"Serial\"]",
            "domain[0].xfcc_elements[1]",
        ),
        (
            "identity_headers = [\"client-cert-chain\"]",
            "client-cert-chain goes with client-cert",
        ),
        (
            "identity_headers = [\"client-cert\"]\nxfcc_elements = [\"Hash\"]",
            "domain[0].xfcc_elements",
        ),
    ];
    for (lines, needle) in cases {
        let config = Config::new(&pki, &["127.0.0.1:9".parse().unwrap()])
            .domain(lines)
            .build();
        let path = pki.write("identity.toml", &config);
        let mut a = args(["check", "--config"]);
        a.push(path.into());
        let out = portcullis(a);
        assert_eq!(out.code, Some(1), "{lines}: {}", out.stdout);
        assert!(out.stderr.contains(needle), "{lines}: {}", out.stderr);
    }
    // On a route too, named by its key path.
    let routes = format!("{INVENTORY_ROUTE}xfcc_elements = [\"Bogus\"]\n");
    let config = Config::new(&pki, &["127.0.0.1:9".parse().unwrap()])
        .routes(&routes)
        .build();
    let path = pki.write("identity-route.toml", &config);
    let mut a = args(["check", "--config"]);
    a.push(path.into());
    let out = portcullis(a);
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    assert!(
        out.stderr.contains("api.inv.routes[0].xfcc_elements[0]"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn explain_shows_the_identity_headers_the_domain_chose() {
    let pki = Pki::new("localhost");
    let config = Config::new(&pki, &["127.0.0.1:9".parse().unwrap()])
        .domain(
            "identity_headers = [\"x-forwarded-client-cert\", \"client-cert\"]\nxfcc_elements = [\"Hash\"]",
        )
        .build();
    let config = pki.write("explain-identity.toml", &config);
    let client = pki.path("client.pem");
    let out = blocking(move || explain(&config, "localhost", &client, &[])).await;
    assert_accepted(&out, "localhost");
    let hash = sha256_hex(pki.client.der.as_ref());
    let lines: Vec<&str> = out.stdout.lines().map(str::trim_start).collect();
    assert!(
        lines
            .contains(&format!("upstream receives: x-forwarded-client-cert: Hash={hash}").as_str()),
        "{}",
        out.stdout
    );
    assert!(
        lines.contains(&"upstream receives: client-cert (RFC 9440)"),
        "{}",
        out.stdout
    );
}
