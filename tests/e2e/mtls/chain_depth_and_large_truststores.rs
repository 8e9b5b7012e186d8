//! Trust at the edges: a client chain deeper than root plus four subordinate CAs is refused by
//! default (`domain[].max_chain_depth` moves the bound, `explain` names it), and a truststore of
//! 1,000 CAs (API Gateway's limit) still serves, its CA-name hints dropped and reported by lint.

use crate::support::*;

use std::sync::Arc;

use rustls_pki_types::CertificateDer;

/// A client whose chain climbs `levels` subordinate CAs under the PKI's root, sent in full.
fn deep_client(pki: &Pki, levels: usize) -> Issued {
    let mut cas = vec![pki.root.subordinate("Level 1 CA")];
    for i in 2..=levels {
        let next = cas.last().unwrap().subordinate(&format!("Level {i} CA"));
        cas.push(next);
    }
    let mut client = issue(cas.last().unwrap(), Leaf::client("deep-client"));
    // issue() sends the issuing CA; add the rest, nearest first.
    let above: Vec<CertificateDer<'static>> =
        cas.iter().rev().skip(1).map(|c| c.der.clone()).collect();
    client.chain_der.extend(above);
    client.chain_pem = cas
        .iter()
        .rev()
        .skip(1)
        .fold(client.chain_pem.clone(), |acc, c| acc + &c.pem);
    client
}

async fn status_as(gw: &Gateway, pki: &Pki, client: &Issued) -> Result<u16, String> {
    let cfg = client_config(&[&pki.root.pem], Some(client), BOTH, &[b"http/1.1"]);
    tls_exchange(
        gw.addr(),
        dns("localhost"),
        Arc::new(cfg),
        get_abs("/inventory"),
    )
    .await
    .result
    .map(|(got, _)| got.status.as_u16())
}

#[tokio::test]
async fn chains_deeper_than_max_chain_depth_are_refused() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, INVENTORY_ROUTE)).await;
    // Root plus four subordinates: the deepest hierarchy `pki init` builds.
    let four = deep_client(&pki, 4);
    assert_eq!(status_as(&gw, &pki, &four).await, Ok(200));
    let five = deep_client(&pki, 5);
    let refused = status_as(&gw, &pki, &five).await;
    assert!(
        refused.is_err(),
        "six CAs above the leaf were accepted: {refused:?}"
    );
    assert_eq!(
        up.seen().len(),
        1,
        "nothing forwarded for the refused client"
    );

    let config = simple_config(&pki, up.addr, INVENTORY_ROUTE).replacen(
        "[[domain.mapping]]",
        "max_chain_depth = 6\n\n[[domain.mapping]]",
        1,
    );
    let wider = Gateway::start(&config).await;
    assert_eq!(status_as(&wider, &pki, &five).await, Ok(200));

    let bad = simple_config(&pki, up.addr, INVENTORY_ROUTE).replacen(
        "[[domain.mapping]]",
        "max_chain_depth = 0\n\n[[domain.mapping]]",
        1,
    );
    let err = Gateway::try_start(&bad).await.err().expect("refused");
    assert!(err.contains("domain[0].max_chain_depth"), "{err}");
}

#[test]
fn explain_names_max_chain_depth_as_the_reason() {
    let pki = Pki::new("localhost");
    let five = deep_client(&pki, 5);
    let file = pki.write("deep.pem", &five.chain_pem);
    let config = explain_config(&pki, "gateway.toml", &pki.path("truststore.pem"), &[]);
    let out = explain(&config, "localhost", &file, &[]);
    let reason = assert_rejected(&out, "localhost");
    assert!(
        reason.contains("6 CA certificates above the leaf")
            && reason.contains("max_chain_depth allows 5"),
        "{reason}"
    );
}

/// A bundle of `n` unrelated root CAs with long names, then the PKI's own CAs.
fn big_truststore(pki: &Pki, n: usize) -> String {
    let mut pem = String::new();
    for i in 0..n {
        let ca = Ca::root(&format!(
            "Portcullis large truststore test CA number {i:04} of a thousand, with a long name"
        ));
        pem.push_str(&ca.pem);
    }
    pem + &pki.intermediate.pem + &pki.root.pem
}

#[tokio::test]
async fn a_thousand_ca_truststore_serves_and_lint_reports_the_hint_size() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    pki.write("truststore.pem", &big_truststore(&pki, 1000));
    let gw = Gateway::start(&simple_config(&pki, up.addr, INVENTORY_ROUTE)).await;
    assert_eq!(status_as(&gw, &pki, &pki.client).await, Ok(200));

    let ts = pki.path("truststore.pem");
    let out = portcullis(args([
        "truststore".as_ref(),
        "lint".as_ref(),
        ts.as_os_str(),
    ]));
    assert!(
        out.stdout.contains("CA name hints: 1002 names") && out.stdout.contains("none are sent"),
        "{out:#?}"
    );
    // A small bundle keeps its hints, and lint says how big they are.
    let small = pki.write(
        "small.pem",
        &format!("{}{}", pki.intermediate.pem, pki.root.pem),
    );
    let out = portcullis(args([
        "truststore".as_ref(),
        "lint".as_ref(),
        small.as_os_str(),
    ]));
    assert!(out.stdout.contains("CA name hints: 2 names, "), "{out:#?}");
    assert!(
        out.stdout.contains("bytes in the CertificateRequest"),
        "{out:#?}"
    );
}
