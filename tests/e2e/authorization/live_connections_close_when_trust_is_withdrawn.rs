//! A reload that withdraws a client's trust reaches its live connection: revoked in the CRL,
//! its CA dropped from the truststore, or a rule tightened, the connection is closed after its
//! current request (that response says `Connection: close`), logged and counted; a connection
//! whose client still passes stays open.

use super::client;
use crate::support::*;

use std::time::Duration;

use rcgen::SerialNumber;

const CLOSED: &str = "portcullis_trust_closed_connections_total";

/// Wait until the connection task ends (the server closed), bounded by `bound`.
async fn closed_within(conn: &mut KeepAlive, bound: Duration) -> bool {
    tokio::time::timeout(bound, &mut conn.conn).await.is_ok()
}

/// With `doomed` holding a request in flight and `kept` idle, apply `change` and `reload`;
/// then `doomed` gets its answer with `Connection: close` and is closed, `kept` still serves.
async fn only_the_withdrawn_connection_closes<R: std::future::Future<Output = ()>>(
    addr: std::net::SocketAddr,
    pki: &Pki,
    up: &Upstream,
    (doomed, kept): (&Issued, &Issued),
    reload: impl FnOnce() -> R,
) {
    let mut doomed = KeepAlive::open(addr, pki, Some(doomed)).await;
    let mut kept = KeepAlive::open(addr, pki, Some(kept)).await;
    assert_eq!(doomed.get("/inventory").await.unwrap().status, 200);
    assert_eq!(kept.get("/inventory").await.unwrap().status, 200);
    doomed.closing_after_held_request(up, reload()).await;
    assert!(
        closed_within(&mut doomed, STEP).await,
        "the withdrawn client's connection stayed open"
    );
    assert_eq!(kept.get("/inventory").await.unwrap().status, 200);
    assert!(
        !kept.conn.is_finished(),
        "the passing client's connection was closed"
    );
}

/// Reload `gw` in process and wait until the closure is counted.
async fn reload_and_count(gw: &Gateway) {
    gw.reloader.reload().await.expect("the reload is accepted");
    let counted = within(STEP, || async {
        metric_sum(
            &gw.metrics().await,
            CLOSED,
            &[("reason", "trust_withdrawn")],
        ) >= 1.0
    })
    .await;
    assert!(
        counted,
        "the closure was not counted:\n{}",
        gw.metrics().await
    );
}

/// A gateway whose issuing CA has a CRL (empty for now), and a client the CRL can revoke.
struct Revocable {
    pki: Pki,
    up: Upstream,
    gw: Gateway,
    client: Issued,
    crl: std::path::PathBuf,
}

impl Revocable {
    async fn start() -> Revocable {
        let pki = Pki::new("localhost");
        let up = Upstream::start().await;
        let mut leaf = Leaf::client("soon-revoked");
        leaf.serial = Some(SerialNumber::from(0x0bad_u64));
        let client = issue(&pki.intermediate, leaf);
        let crl = pki.write("issuing.crl.pem", &pki.intermediate.crl(&[]));
        let config = Config::new(&pki, &[up.addr])
            .crls(&[&crl])
            .routes(PROXY_ROUTE)
            .build();
        let gw = Gateway::start(&config).await;
        Revocable {
            pki,
            up,
            gw,
            client,
            crl,
        }
    }

    /// Revoke the client in the CRL file, reload, and wait until a closure is counted.
    async fn revoke(&self) {
        let crl = self.pki.intermediate.crl(&[SerialNumber::from(0x0bad_u64)]);
        replace_file(&self.crl, crl.as_bytes());
        reload_and_count(&self.gw).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_revoked_in_the_crl_is_closed_after_its_request() {
    let r = Revocable::start().await;
    let clients = (&r.client, &r.pki.client);
    only_the_withdrawn_connection_closes(r.gw.addr(), &r.pki, &r.up, clients, || r.revoke()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_of_a_ca_dropped_from_the_truststore_is_closed_after_its_request() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let other_root = Ca::root("Other Root CA");
    let stranger = issue(&other_root, Leaf::client("soon-stranger"));
    let pki_trust = format!("{}{}", pki.intermediate.pem, pki.root.pem);
    replace_file(
        &pki.path("truststore.pem"),
        format!("{pki_trust}{}", other_root.pem).as_bytes(),
    );
    let gw = Gateway::start(&Config::new(&pki, &[up.addr]).routes(PROXY_ROUTE).build()).await;
    let drop_ca = || async {
        // Only the root stays: the passing client sent its issuing CA, which still chains to it.
        replace_file(&pki.path("truststore.pem"), pki.root.pem.as_bytes());
        reload_and_count(&gw).await;
    };
    only_the_withdrawn_connection_closes(gw.addr(), &pki, &up, (&stranger, &pki.client), drop_ca)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_a_tightened_rule_refuses_is_closed_after_its_request_and_logged() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let (leaver, keeper) = (client(&pki, "leaver"), client(&pki, "keeper"));
    let config = |names: &str| {
        Config::new(&pki, &[up.addr])
            .top(&format!(
                "[authorization.partners]\nallow = [ {{ subject_cn = [{names}] }} ]"
            ))
            .domain("authorization = \"partners\"")
            .routes(PROXY_ROUTE)
            .build()
    };
    let file = pki.write("gateway.toml", &config("\"keeper\", \"leaver\""));
    let served = Served::start(&file);
    let addr = served.listen_addr().await;
    let tighten = || async {
        replace_file(&file, config("\"keeper\"").as_bytes());
        served.sighup();
        let line = served
            .wait_event(|e| {
                e["message"]
                    == "client no longer trusted; closing its connection after the current request"
            })
            .await
            .unwrap_or_else(|| panic!("no closure logged:\n{}", served.dump()));
        assert!(
            line["client"]
                .as_str()
                .is_some_and(|c| c.starts_with("127.0.0.1:")),
            "{line}"
        );
        assert_eq!(line["subject"], "CN=leaver", "{line}");
        assert_eq!(
            line["reason"],
            "no route of the domain allows the client any more: no rule of partners.allow matches the client",
            "{line}"
        );
    };
    only_the_withdrawn_connection_closes(addr, &pki, &up, (&leaver, &keeper), tighten).await;
    let closures = served
        .events()
        .iter()
        .filter(|e| {
            e["message"]
                == "client no longer trusted; closing its connection after the current request"
        })
        .count();
    assert_eq!(closures, 1, "only the leaver is closed:\n{}", served.dump());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_connection_of_a_revoked_client_gets_goaway_after_its_stream() {
    let r = Revocable::start().await;
    let (pki, up, gw) = (&r.pki, &r.up, &r.gw);
    let connector = tls_client(&pki.root.pem, Some(&r.client), &[b"h2"]);
    let tcp = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    let tls = connector
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let (mut h2, conn) = h2::client::handshake(tls).await.unwrap();
    let conn = tokio::spawn(conn);
    let req = http::Request::get("https://localhost/hold/1")
        .body(())
        .unwrap();
    let (resp, _) = h2.send_request(req, true).unwrap();
    assert!(eventually(|| up.seen().iter().any(|s| s.path_and_query == "/hold/1")).await);
    r.revoke().await;
    up.release();
    let resp = tokio::time::timeout(STEP, resp)
        .await
        .expect("the stream in flight across the reload is answered")
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ended = tokio::time::timeout(STEP, conn)
        .await
        .expect("the connection stayed open after GOAWAY");
    assert!(
        matches!(ended, Ok(Ok(()))),
        "not a graceful GOAWAY: {ended:?}"
    );
}
