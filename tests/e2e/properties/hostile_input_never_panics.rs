//! Property tests: arbitrary bytes fed to the config parser, the PEM and CRL loaders, the
//! truststore lint, the path check, the route matcher and the HTTP/1 framing guard give an
//! answer or an error, never a panic. Bounded case counts keep them in CI.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;

use portcullis::config::{Api, PathTemplate, Route, RouteMethod};
use portcullis::framing::FramingGuard;

fn cases() -> ProptestConfig {
    ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A TOML-ish line: a key the config knows, with an arbitrary value.
fn config_line() -> impl Strategy<Value = String> {
    let keys = prop::sample::select(vec![
        "[limits]",
        "max_connections",
        "idle_timeout_ms",
        "max_body_bytes",
        "max_uri_bytes",
        "[[domain]]",
        "name",
        "listen",
        "max_chain_depth",
        "[forwarding]",
        "strip_headers",
        "[api.a.stages.s]",
        "[[api.a.routes]]",
        "path",
        "method",
        "integration",
        "[upstream.p]",
        "targets",
    ]);
    (keys, any::<i64>(), "[ -~]{0,20}").prop_map(|(k, n, s)| {
        if k.starts_with('[') {
            k.to_owned()
        } else if n % 2 == 0 {
            format!("{k} = {n}")
        } else {
            format!("{k} = {s:?}")
        }
    })
}

fn router() -> portcullis::routing::ApiRouter {
    let routes = [
        "/items/{id}",
        "/files/{proxy+}",
        "/a/b/c",
        "/{x}/orders",
        "/",
    ]
    .iter()
    .enumerate()
    .map(|(index, p)| Route {
        index,
        method: if index % 2 == 0 {
            RouteMethod::Any
        } else {
            RouteMethod::Exact(http::Method::GET)
        },
        path: PathTemplate::parse(p).unwrap(),
        integration: format!("http://pool{p}"),
        timeout: Duration::from_secs(1),
        upstream_method: None,
        parameters: Vec::new(),
        mock: None,
        closed: None,
        authorization: None,
        throttle: None,
        api_key_required: false,
        identity: Default::default(),
    })
    .collect();
    let api = Api {
        stages: BTreeMap::new(),
        routes,
        gateway_responses: BTreeMap::new(),
        disable_execute_api_endpoint: false,
        openapi: None,
    };
    let mut sink = portcullis::config::ErrorSink::new(Path::new("x.toml"));
    portcullis::routing::ApiRouter::build("a", &api, &mut sink)
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn config_parser_never_panics_on_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&data);
        let _ = portcullis::config::parse(Path::new("fuzz.toml"), &text);
    }

    #[test]
    fn config_parser_never_panics_on_near_configs(lines in prop::collection::vec(config_line(), 0..24)) {
        let _ = portcullis::config::parse(Path::new("fuzz.toml"), &lines.join("\n"));
    }

    #[test]
    fn pem_and_crl_loaders_and_lint_never_panic(
        data in prop::collection::vec(any::<u8>(), 0..2048),
        pem_wrapped in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("input.pem");
        let contents = if pem_wrapped {
            let mut v = b"-----BEGIN CERTIFICATE-----\n".to_vec();
            v.extend_from_slice(&data);
            v.extend_from_slice(b"\n-----END CERTIFICATE-----\n-----BEGIN X509 CRL-----\n");
            v.extend_from_slice(&data);
            v.extend_from_slice(b"\n-----END X509 CRL-----\n");
            v
        } else {
            data.clone()
        };
        std::fs::write(&path, &contents).unwrap();
        let _ = portcullis::tls::files::load_truststore(&path);
        let _ = portcullis::tls::files::load_cert_chain(&path);
        let _ = portcullis::tls::files::load_private_key(&path);
        let _ = portcullis::tls::files::load_crls(std::slice::from_ref(&path));
        let _ = portcullis::tools::lint::lint_bytes(&path, &contents, true, time::OffsetDateTime::now_utc());
    }

    #[test]
    fn path_check_never_panics(data in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = portcullis::path::check_path(&data);
    }

    #[test]
    fn route_matcher_never_panics(path in "(/[a-z{}+%.]{0,6}){0,6}/?", get in any::<bool>()) {
        let r = router();
        let method = if get { http::Method::GET } else { http::Method::POST };
        if let Some(m) = r.at(&method, &path) {
            let _ = m.param("id");
            let _ = r.name(m.index);
        }
    }

    #[test]
    fn framing_guard_never_panics(data in prop::collection::vec(any::<u8>(), 0..2048), head_like in any::<bool>()) {
        let mut input = if head_like {
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n".to_vec()
        } else {
            Vec::new()
        };
        input.extend_from_slice(&data);
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        rt.block_on(async {
            use tokio::io::AsyncReadExt;
            let mut g = FramingGuard::new(&input[..], 1024, true, Duration::from_secs(5), Arc::default());
            let mut out = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(5), g.read_to_end(&mut out)).await;
        });
    }
}
