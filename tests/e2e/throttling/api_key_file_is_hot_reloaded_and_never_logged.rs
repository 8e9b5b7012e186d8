//! Through the binary: editing an API keys file is picked up by the file watcher (a new key
//! passes, a removed one is refused), a broken edit keeps the old keys serving, and no key ever
//! appears in the log or in the admin endpoint's `/config`.

use super::*;

use std::time::Duration;

/// The watcher's interval and settling time, with slack for slow machines.
const PICKUP: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_file_edits_apply_without_a_signal_and_keys_stay_secret() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let keys = pki.write("keys.txt", &format!("{KEY_A}\n"));
    let admin = free_port();
    let config = Config::new(&pki, &[up.addr])
        .top(&format!(
            "[admin]\nlisten = \"{admin}\"\n\n[usage_plan.gold]\napi_keys_file = {}\nstages = [\"inv/prod\"]\n",
            toml_path(&keys)
        ))
        .routes(&keyed_route())
        .build();
    let path = pki.write("gateway.toml", &config);
    let served = Served::start(&path);
    let addr = served.listen_addr().await;

    assert_eq!(
        get_key(addr, &pki, "/inventory", Some(KEY_A)).await.status,
        200
    );
    assert_eq!(
        get_key(addr, &pki, "/inventory", Some(KEY_B)).await.status,
        403
    );

    replace_file(&keys, format!("{KEY_B}\n").as_bytes());
    let applied = within(PICKUP, || async {
        get_key(addr, &pki, "/inventory", Some(KEY_B)).await.status == 200
    })
    .await;
    assert!(
        applied,
        "the new key was not accepted within {PICKUP:?}:\n{}",
        served.dump()
    );
    assert_eq!(
        get_key(addr, &pki, "/inventory", Some(KEY_A)).await.status,
        403
    );

    // A broken edit (a key too short, on line 2) is refused; the current keys keep serving.
    replace_file(&keys, format!("{KEY_B}\nshort-secret\n").as_bytes());
    let logged = served
        .wait_line(|l| l.contains("reload failed") && l.contains("line 2"))
        .await;
    assert!(
        logged.is_some(),
        "no reload error logged:\n{}",
        served.dump()
    );
    assert_eq!(
        get_key(addr, &pki, "/inventory", Some(KEY_B)).await.status,
        200
    );

    let (status, body) = http_get(admin, "/config").await.unwrap();
    assert_eq!(status, 200, "{body}");
    let log = served.dump();
    for secret in [KEY_A, KEY_B, "short-secret"] {
        assert!(
            !log.contains(secret),
            "`{secret}` appears in the log:\n{log}"
        );
        assert!(
            !body.contains(secret),
            "`{secret}` appears in /config:\n{body}"
        );
    }
}
