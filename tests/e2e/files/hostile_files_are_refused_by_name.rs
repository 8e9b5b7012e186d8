//! Files that are not regular files (a FIFO, `/dev/zero`, a directory) are refused with an
//! error naming the file, at `check` and at reload; a reload that failed this way does not
//! wedge the reloader: the next valid edit is applied.

use crate::support::*;

use std::path::Path;
use std::time::Duration;

fn mkfifo(path: &Path) {
    let st = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(st.success());
}

#[test]
fn check_refuses_devices_fifos_and_directories_naming_them() {
    let pki = Pki::new("localhost");
    let up = "127.0.0.1:9".parse().unwrap();
    let fifo = pki.path("fifo.pem");
    mkfifo(&fifo);
    let ts = pki.path("truststore.pem").display().to_string();
    for (bad, what) in [
        (fifo.display().to_string(), "a FIFO"),
        ("/dev/zero".to_owned(), "a character device"),
        (pki.dir.path().display().to_string(), "a directory"),
    ] {
        let config = Config::new(&pki, &[up]).build().replace(&ts, &bad);
        let path = pki.write("gateway.toml", &config);
        let out = portcullis(args([
            "check".as_ref(),
            "--config".as_ref(),
            path.as_os_str(),
        ]));
        assert_ne!(out.code, Some(0), "{what} accepted: {out:#?}");
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(
            all.contains("domain[0].truststore") && all.contains(&bad) && all.contains(what),
            "{what}: {out:#?}"
        );
    }
    // The configuration file itself as a FIFO: an error, not a hang.
    let cfg_fifo = pki.path("gateway-fifo.toml");
    mkfifo(&cfg_fifo);
    let out = portcullis(args([
        "check".as_ref(),
        "--config".as_ref(),
        cfg_fifo.as_os_str(),
    ]));
    assert_ne!(out.code, Some(0));
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("a FIFO"),
        "{out:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_in_place_of_the_truststore_fails_the_reload_and_a_later_fix_applies() {
    let pki = Pki::new("localhost");
    let a = Upstream::start_named("a").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    let v1 = Config::new(&pki, &[a.addr]).build();
    std::fs::write(&path, &v1).unwrap();
    let served = Served::start(&path);
    let addr = served.listen_addr().await;
    assert_eq!(get_at(addr, &pki, "/inventory").await.unwrap().status, 200);

    let ts = pki.path("truststore.pem");
    let good_ts = std::fs::read(&ts).unwrap();
    std::fs::remove_file(&ts).unwrap();
    mkfifo(&ts);
    served.sighup();
    let ts_shown = ts.display().to_string();
    let failed = served
        .wait_event(|e| {
            e["message"].as_str().is_some_and(|m| {
                m.starts_with("reload failed:") && m.contains(&ts_shown) && m.contains("a FIFO")
            })
        })
        .await;
    assert!(
        failed.is_some(),
        "no reload failure naming the FIFO:\n{}",
        served.dump()
    );
    assert_eq!(get_at(addr, &pki, "/inventory").await.unwrap().status, 200);

    // Fix it, with a new route to see that the fix is applied.
    std::fs::remove_file(&ts).unwrap();
    std::fs::write(&ts, &good_ts).unwrap();
    let orders = "[[api.inv.routes]]\nmethod = \"GET\"\npath = \"/orders\"\nintegration = \"http://${stageVariables.backend}/rest-service/orders\"\n";
    let v2 = Config::new(&pki, &[a.addr])
        .routes(&format!("{INVENTORY_ROUTE}{orders}"))
        .build();
    replace_file(&path, v2.as_bytes());
    served.sighup();
    let applied = within(Duration::from_secs(10), || async {
        get_at(addr, &pki, "/orders")
            .await
            .is_ok_and(|g| g.status == 200)
    })
    .await;
    assert!(
        applied,
        "the fixed configuration was never applied:\n{}",
        served.dump()
    );
}
