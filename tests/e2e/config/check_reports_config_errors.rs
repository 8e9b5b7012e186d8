//! `portcullis check` validates a configuration: exit 1 with the file, the key path and the
//! reason of every problem (all of them at once), or exit 0 with `OK`.

use crate::support::*;

struct Checked {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    file: String,
}

fn check(config: &str) -> Checked {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, config).unwrap();
    let mut a = args(["check", "--config"]);
    a.push(path.clone().into());
    let out = portcullis(a);
    Checked {
        code: out.code,
        stdout: out.stdout,
        stderr: out.stderr,
        file: path.display().to_string(),
    }
}

/// Exit 1, and stderr names the file and contains each of `needles`.
fn assert_refused(c: &Checked, needles: &[&str]) {
    assert_eq!(
        c.code,
        Some(1),
        "stdout:\n{}\nstderr:\n{}",
        c.stdout,
        c.stderr
    );
    assert!(c.stderr.contains(&c.file), "file not named:\n{}", c.stderr);
    for n in needles {
        assert!(c.stderr.contains(n), "`{n}` missing from:\n{}", c.stderr);
    }
    assert!(!c.stdout.contains("OK"), "{}", c.stdout);
}

fn good(pki: &Pki) -> String {
    simple_config(pki, "127.0.0.1:9".parse().unwrap(), INVENTORY_ROUTE)
}

#[test]
fn a_good_config_is_ok() {
    let pki = Pki::new("localhost");
    let c = check(&good(&pki));
    assert_eq!(c.code, Some(0), "{}", c.stderr);
    assert!(c.stdout.contains("OK"), "{}", c.stdout);
}

#[test]
fn unknown_key_is_named() {
    let pki = Pki::new("localhost");
    let c = check(&good(&pki).replace("\nlisten = ", "\nlisen = "));
    assert_refused(&c, &["lisen", "unknown field"]);
    // A misspelt top-level table key too.
    let c = check(&format!("[limits]\nmax_body_byte = 5\n{}", good(&pki)));
    assert_refused(&c, &["max_body_byte", "unknown field"]);
}

#[test]
fn unknown_key_is_named_with_its_key_path() {
    let pki = Pki::new("localhost");
    let c = check(&good(&pki).replace("\nlisten = ", "\nlisen = "));
    assert_refused(&c, &["domain[0].lisen", "unknown field"]);
    let c = check(&format!("[limits]\nmax_body_byte = 5\n{}", good(&pki)));
    assert_refused(&c, &["limits.max_body_byte", "unknown field"]);
}

#[test]
fn an_unknown_key_does_not_hide_the_other_problems() {
    let pki = Pki::new("localhost");
    let broken = good(&pki)
        .replace("\nlisten = ", "\nlisen = ")
        .replace("stageVariables.backend", "stageVariables.nope");
    let c = check(&broken);
    assert_refused(&c, &["lisen", "api.inv.routes[0].integration"]);
}

#[test]
fn missing_certificate_file_is_named() {
    let pki = Pki::new("localhost");
    let cert = pki.path("server.pem").display().to_string();
    let c = check(&good(&pki).replace(&cert, "/nonexistent/server.pem"));
    assert_refused(
        &c,
        &[
            "domain[0].certificate",
            "/nonexistent/server.pem",
            "No such file",
        ],
    );
}

#[test]
fn unknown_stage_variable_is_named() {
    let pki = Pki::new("localhost");
    let c = check(&good(&pki).replace("stageVariables.backend", "stageVariables.nope"));
    assert_refused(
        &c,
        &[
            "api.inv.routes[0].integration",
            "stage variable",
            "nope",
            "prod",
        ],
    );
}

#[test]
fn colliding_routes_are_named() {
    let pki = Pki::new("localhost");
    let routes = format!("{INVENTORY_ROUTE}{INVENTORY_ROUTE}");
    let c = check(&simple_config(
        &pki,
        "127.0.0.1:9".parse().unwrap(),
        &routes,
    ));
    assert_refused(
        &c,
        &["api.inv.routes[1]", "GET /inventory", "defined twice"],
    );
}

#[test]
fn mapping_to_a_missing_api_or_stage_is_named() {
    let pki = Pki::new("localhost");
    let c = check(&good(&pki).replace("api = \"inv\"", "api = \"ghost\""));
    assert_refused(&c, &["domain[0].mapping[0].api", "ghost"]);
    let c = check(&good(&pki).replace("stage = \"prod\"", "stage = \"staging\""));
    assert_refused(&c, &["domain[0].mapping[0].stage", "staging"]);
}

#[test]
fn malformed_toml_is_refused() {
    let pki = Pki::new("localhost");
    let c = check(&good(&pki).replace("[[domain.mapping]]", "[[domain.mapping]"));
    assert_refused(&c, &["invalid TOML"]);
}

#[test]
fn every_problem_in_a_file_is_reported_together() {
    let pki = Pki::new("localhost");
    let cert = pki.path("server.pem").display().to_string();
    let broken = good(&pki)
        .replace(&cert, "/nonexistent/server.pem")
        .replace("stageVariables.backend", "stageVariables.nope")
        .replace("stage = \"prod\"", "stage = \"staging\"");
    let c = check(&broken);
    assert_refused(
        &c,
        &[
            "domain[0].certificate",
            "api.inv.routes[0].integration",
            "domain[0].mapping[0].stage",
        ],
    );
    let error_lines = c.stderr.lines().filter(|l| l.starts_with("error:")).count();
    assert!(error_lines >= 3, "{}", c.stderr);
}

#[test]
fn access_log_keys_are_checked_at_load() {
    let pki = Pki::new("localhost");
    let missing_dir = pki.path("no-such-dir").join("access.log");
    let c = check(&format!(
        "[access_log]\npath = {}\nbuffer_bytes = 0\nflush_interval_ms = 0\n{}",
        toml_path(&missing_dir),
        good(&pki)
    ));
    assert_refused(
        &c,
        &[
            "access_log.path",
            "no-such-dir` does not exist",
            "access_log.buffer_bytes",
            "access_log.flush_interval_ms",
        ],
    );
    let c = check(&format!(
        "[access_log]\npath = {}\nbuffer_bytes = 8192\nmax_pending_bytes = 4096\n{}",
        toml_path(&pki.path("")),
        good(&pki)
    ));
    assert_refused(
        &c,
        &[
            "access_log.path",
            "is a directory",
            "access_log.max_pending_bytes",
            "less than access_log.buffer_bytes (8192)",
        ],
    );
}
