//! The shipped example configurations stay valid: only the certificate files they name are
//! missing on a fresh clone (the PKI is generated at run time).

use std::path::Path;

fn only_missing_files(path: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    match portcullis::config::parse(Path::new(path), &text) {
        Ok(_) => {}
        Err(errors) => {
            for e in &errors.0 {
                let file_key = ["certificate", "private_key", "truststore"]
                    .iter()
                    .any(|k| e.key.ends_with(k));
                assert!(
                    file_key && e.reason.contains("No such file"),
                    "unexpected problem in {path}: {e}"
                );
            }
        }
    }
}

#[test]
fn gateway_example_is_valid_apart_from_generated_files() {
    only_missing_files("config/gateway.toml");
}

#[test]
fn demo_config_is_valid_apart_from_generated_files() {
    only_missing_files("config/demo.toml");
}

#[test]
fn demo_config_builds_with_a_generated_dev_pki() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let written = portcullis::tools::pki::ensure_dev_pki(&certs).unwrap();
    for f in portcullis::tools::pki::DEMO_FILES {
        assert!(certs.join(f).exists(), "demo PKI lacks {f}");
        if f != "pki.toml" {
            assert!(
                written.contains(&certs.join(f)),
                "{f} not reported as written"
            );
        }
    }
    let text = std::fs::read_to_string("config/demo.toml")
        .unwrap()
        .replace("\"certs/", &format!("\"{}/", certs.display()));
    let config = portcullis::config::parse(Path::new("demo.toml"), &text).unwrap();
    let (snapshot, warnings) = portcullis::state::Snapshot::build(config, 1).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(snapshot.listeners.len(), 1);
    // A second run keeps the existing PKI.
    assert!(
        portcullis::tools::pki::ensure_dev_pki(&certs)
            .unwrap()
            .is_empty()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(certs.join("client.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "private keys must not be readable by others"
        );
    }
}
