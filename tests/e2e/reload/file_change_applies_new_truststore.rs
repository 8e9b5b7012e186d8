//! Through the binary, without any signal: replacing the truststore file (a different CA) or
//! the CRL file (a newly revoked serial) is picked up by the file watcher within seconds, and
//! new handshakes follow the new files.

use crate::support::*;

use std::net::SocketAddr;
use std::time::Duration;

use rcgen::SerialNumber;

/// How long the watcher (1 s interval, 200 ms settling) may take, with slack for slow machines.
const PICKUP: Duration = Duration::from_secs(10);

async fn get_as(addr: SocketAddr, pki: &Pki, client: &Issued) -> Result<Got, String> {
    request(
        addr,
        "localhost",
        &pki.root.pem,
        Some(client),
        get_req("/inventory"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_truststore_file_is_applied_without_a_signal() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let other_root = Ca::root("Other Root CA");
    let other_client = issue(&other_root, Leaf::client("other-client"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, Config::new(&pki, &[up.addr]).build()).unwrap();
    let served = Served::start(&path);
    let addr = served.listen_addr().await;

    let got = get_as(addr, &pki, &pki.client).await;
    assert_eq!(got.map(|g| g.status.as_u16()), Ok(200));
    let got = get_as(addr, &pki, &other_client).await;
    assert!(got.is_err(), "the other CA is not trusted yet: {got:?}");

    // Swap the truststore for the other CA; the server certificate stays.
    replace_file(&pki.path("truststore.pem"), other_root.pem.as_bytes());
    let accepted = within(PICKUP, || async {
        get_as(addr, &pki, &other_client)
            .await
            .is_ok_and(|g| g.status == 200)
    })
    .await;
    assert!(
        accepted,
        "a client of the new truststore CA was not accepted within {PICKUP:?}:\n{}",
        served.dump()
    );
    let got = get_as(addr, &pki, &pki.client).await;
    assert!(
        got.is_err(),
        "a client of the old CA must be refused for new handshakes: {got:?}"
    );
    let messages = served.messages();
    assert!(
        messages
            .iter()
            .any(|m| m == "watched files changed: reloading"),
        "{}",
        served.dump()
    );
    assert!(
        messages.iter().any(|m| m == "configuration reloaded"),
        "{}",
        served.dump()
    );
    assert!(
        !messages.iter().any(|m| m.starts_with("SIGHUP")),
        "{}",
        served.dump()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewritten_crl_file_refuses_the_revoked_client_within_seconds() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let mut leaf = Leaf::client("to-be-revoked");
    leaf.serial = Some(SerialNumber::from(0x7e_0001u64));
    let doomed = issue(&pki.intermediate, leaf);
    let mut leaf = Leaf::client("kept");
    leaf.serial = Some(SerialNumber::from(0x7e_0002u64));
    let kept = issue(&pki.intermediate, leaf);
    let crl = pki.write("issuing.crl.pem", &pki.intermediate.crl(&[]));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, Config::new(&pki, &[up.addr]).crls(&[&crl]).build()).unwrap();
    let served = Served::start(&path);
    let addr = served.listen_addr().await;
    for c in [&doomed, &kept] {
        let got = get_as(addr, &pki, c).await;
        assert_eq!(got.map(|g| g.status.as_u16()), Ok(200), "before revocation");
    }

    replace_file(
        &crl,
        pki.intermediate
            .crl(&[SerialNumber::from(0x7e_0001u64)])
            .as_bytes(),
    );
    let refused = within(PICKUP, || async {
        get_as(addr, &pki, &doomed).await.is_err()
    })
    .await;
    assert!(
        refused,
        "the revoked client was still accepted {PICKUP:?} after the CRL changed:\n{}",
        served.dump()
    );
    // The first failure may be a connection accepted just before the reload and closed by it
    // (its trust withdrawn); a new handshake is refused and logged as such.
    let again = get_as(addr, &pki, &doomed).await;
    assert!(
        again.is_err(),
        "a new handshake of the revoked client: {again:?}"
    );
    let got = get_as(addr, &pki, &kept).await;
    assert_eq!(
        got.map(|g| g.status.as_u16()),
        Ok(200),
        "a client the CRL does not list is still accepted"
    );
    let refusal = served
        .wait_event(|e| {
            e["message"] == "client refused"
                && e["reason"].as_str().is_some_and(|r| r.contains("revoked"))
        })
        .await;
    assert!(refusal.is_some(), "{}", served.dump());
    assert!(
        served
            .messages()
            .iter()
            .any(|m| m == "watched files changed: reloading"),
        "{}",
        served.dump()
    );
}
