//! A connection does not outlive its client certificate: at the certificate's notAfter the
//! gateway closes it (counted as `certificate_expired`); a connection of a valid certificate
//! stays open.

use crate::support::*;

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_is_closed_when_its_client_certificate_expires() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let mut leaf = Leaf::client("short-lived");
    let not_after = time::OffsetDateTime::now_utc() + time::Duration::seconds(3);
    leaf.not_after = not_after;
    let short = issue(&pki.intermediate, leaf);
    let gw = Gateway::start(&Config::new(&pki, &[up.addr]).build()).await;
    let mut expiring = KeepAlive::open(gw.addr(), &pki, Some(&short)).await;
    let mut lasting = KeepAlive::open(gw.addr(), &pki, None).await;
    assert_eq!(expiring.get("/inventory").await.unwrap().status, 200);
    assert!(
        tokio::time::timeout(STEP, &mut expiring.conn).await.is_ok(),
        "the connection outlived its certificate"
    );
    assert!(
        time::OffsetDateTime::now_utc() >= not_after,
        "closed before the certificate expired"
    );
    let counted = within(Duration::from_secs(2), || async {
        let text = gw.metrics().await;
        metric_sum(
            &text,
            "portcullis_trust_closed_connections_total",
            &[("reason", "certificate_expired")],
        ) == 1.0
    })
    .await;
    assert!(counted, "{}", gw.metrics().await);
    assert_eq!(lasting.get("/inventory").await.unwrap().status, 200);
    assert!(!lasting.conn.is_finished());
}
