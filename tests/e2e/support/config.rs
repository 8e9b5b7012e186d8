//! One builder for gateway configuration text, so a change to the file format is fixed once.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::Pki;

/// The `GET /inventory -> /rest-service/inventory` route.
pub const INVENTORY_ROUTE: &str = "[[api.inv.routes]]\nmethod = \"GET\"\npath = \"/inventory\"\nintegration = \"http://${stageVariables.backend}/rest-service/inventory\"\n";

/// `ANY /{proxy+}` -> `http://${stageVariables.backend}/{proxy}`: everything goes upstream as is.
pub const PROXY_ROUTE: &str = "[[api.inv.routes]]\nmethod = \"ANY\"\npath = \"/{proxy+}\"\nintegration = \"http://${stageVariables.backend}/{proxy}\"\n";

/// A route table entry for API `inv`.
pub fn route(method: &str, path: &str, integration: &str) -> String {
    format!(
        "[[api.inv.routes]]\nmethod = \"{method}\"\npath = \"{path}\"\nintegration = \"{integration}\"\n"
    )
}

/// A TOML string literal for a path.
pub fn toml_path(p: &Path) -> String {
    format!("\"{}\"", p.display())
}

/// A `[[domain]]` table head: name, listen address, certificate, key and truststore files.
pub fn domain_table(
    name: &str,
    listen: &str,
    certificate: &Path,
    key: &Path,
    truststore: &Path,
) -> String {
    format!(
        "[[domain]]\nname = \"{name}\"\nlisten = \"{listen}\"\ncertificate = {}\nprivate_key = {}\ntruststore = {}\n",
        toml_path(certificate),
        toml_path(key),
        toml_path(truststore)
    )
}

impl Pki {
    /// A `[[domain]]` table for this PKI's server certificate and truststore (no mappings).
    pub fn domain_toml(&self, name: &str, listen: &str) -> String {
        domain_table(
            name,
            listen,
            &self.path("server.pem"),
            &self.path("server.key"),
            &self.path("truststore.pem"),
        )
    }
}

/// The usual configuration file, built up by the setters: the one place its layout is spelt.
///
/// One domain `localhost` on 127.0.0.1:0 maps "/" to API `inv` stage `prod`, whose stage
/// variable `backend = "onprem"` names the pool `[upstream.onprem]` over the targets. The
/// routes default to `INVENTORY_ROUTE`.
#[derive(Debug, Clone)]
pub struct Config {
    domain: String,
    top: String,
    domain_extra: String,
    routes: String,
    targets: Vec<SocketAddr>,
    pool_extra: String,
}

impl Config {
    /// The domain uses the PKI's server certificate, key and truststore.
    pub fn new(pki: &Pki, targets: &[SocketAddr]) -> Config {
        Config::with_domain(pki.domain_toml("localhost", "127.0.0.1:0"), targets)
    }

    /// The domain uses the given certificate, key and truststore files (a CA made by `pki init`).
    pub fn with_files(
        certificate: &Path,
        key: &Path,
        truststore: &Path,
        targets: &[SocketAddr],
    ) -> Config {
        let domain = domain_table("localhost", "127.0.0.1:0", certificate, key, truststore);
        Config::with_domain(domain, targets)
    }

    fn with_domain(domain: String, targets: &[SocketAddr]) -> Config {
        Config {
            domain,
            top: String::new(),
            domain_extra: String::new(),
            routes: INVENTORY_ROUTE.to_owned(),
            targets: targets.to_vec(),
            pool_extra: String::new(),
        }
    }

    /// Text before the domain, such as a `[limits]` or `[admin]` table.
    pub fn top(mut self, text: &str) -> Config {
        self.top.push_str(text);
        self.top.push('\n');
        self
    }

    /// Lines of the `[limits]` table.
    pub fn limits(self, lines: &str) -> Config {
        self.top(&format!("[limits]\n{lines}"))
    }

    /// Lines of the `[access_log]` table.
    pub fn access_log(self, lines: &str) -> Config {
        self.top(&format!("[access_log]\n{lines}"))
    }

    /// The access log goes to the file `path`, written at `buffer_bytes` or every `flush_ms`.
    pub fn access_log_file(self, path: &Path, buffer_bytes: u64, flush_ms: u64) -> Config {
        self.access_log(&format!(
            "path = {}\nbuffer_bytes = {buffer_bytes}\nflush_interval_ms = {flush_ms}",
            toml_path(path)
        ))
    }

    /// Lines added to the `[[domain]]` table.
    pub fn domain(mut self, lines: &str) -> Config {
        self.domain_extra.push_str(lines);
        self.domain_extra.push('\n');
        self
    }

    /// The domain's CRL files.
    pub fn crls<P: AsRef<Path>>(self, crls: &[P]) -> Config {
        let crls: Vec<String> = crls.iter().map(|p| toml_path(p.as_ref())).collect();
        self.domain(&format!("crls = [{}]", crls.join(", ")))
    }

    /// The route tables of API `inv`, replacing `INVENTORY_ROUTE`.
    pub fn routes(mut self, routes: &str) -> Config {
        self.routes = routes.to_owned();
        self
    }

    /// Lines added to the `[upstream.onprem]` table.
    pub fn pool(mut self, lines: &str) -> Config {
        self.pool_extra.push_str(lines);
        self.pool_extra.push('\n');
        self
    }

    /// The configuration text.
    pub fn build(&self) -> String {
        let targets: Vec<String> = self.targets.iter().map(|t| format!("\"{t}\"")).collect();
        format!(
            "{}{}{}\n[[domain.mapping]]\nbase_path = \"/\"\napi = \"inv\"\nstage = \"prod\"\n\n[api.inv.stages.prod]\nvariables = {{ backend = \"onprem\" }}\n\n{}\n[upstream.onprem]\ntargets = [{}]\n{}",
            self.top,
            self.domain,
            self.domain_extra,
            self.routes,
            targets.join(", "),
            self.pool_extra
        )
    }
}

/// A one-line shorthand for the builder: the PKI's domain, one target, these routes.
pub fn simple_config(pki: &Pki, upstream: SocketAddr, routes: &str) -> String {
    Config::new(pki, &[upstream]).routes(routes).build()
}

/// The PKI's domain on each of `listens`, its `/inventory` route forwarded to `up`.
pub fn listeners_config(pki: &Pki, up: SocketAddr, listens: &[SocketAddr]) -> String {
    let mut text = String::new();
    for l in listens {
        text.push_str(&pki.domain_toml("localhost", &l.to_string()));
        text.push_str("[[domain.mapping]]\napi = \"inv\"\nstage = \"prod\"\n\n");
    }
    text.push_str(&format!(
        "[api.inv.stages.prod]\nvariables = {{ backend = \"onprem\" }}\n{INVENTORY_ROUTE}\n\
         [upstream.onprem]\ntargets = [\"{up}\"]\n"
    ));
    text
}

/// Write `file` in the PKI directory: a configuration for `explain` with this truststore and CRLs.
pub fn explain_config(pki: &Pki, file: &str, truststore: &Path, crls: &[PathBuf]) -> PathBuf {
    let text = Config::with_files(
        &pki.path("server.pem"),
        &pki.path("server.key"),
        truststore,
        &["127.0.0.1:9".parse().unwrap()],
    )
    .crls(crls)
    .build();
    pki.write(file, &text)
}
