//! The CA directory's state file, `pki.toml`: the CAs, and an index of every certificate issued.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Name of the state file inside a CA directory.
pub const STATE_FILE: &str = "pki.toml";

/// Everything a CA directory knows about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Key algorithm used for every key in this hierarchy.
    pub key: String,
    /// CAs from the root (level 0) down to the issuing CA.
    #[serde(default, rename = "ca")]
    pub cas: Vec<CaEntry>,
    /// Certificates issued by the issuing CA.
    #[serde(default, rename = "issued")]
    pub issued: Vec<IssuedEntry>,
}

/// One CA of the hierarchy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaEntry {
    /// File stem, such as `root-ca` or `sub-ca-1`.
    pub name: String,
    /// Subject in RFC 4514 form.
    pub subject: String,
    /// Serial, lower-case hex.
    pub serial: String,
    /// 0 for the root.
    pub level: u8,
    /// Expiry, RFC 3339.
    pub not_after: String,
    /// Number of the CRL last written.
    pub crl_number: u64,
    /// Set when a parent CA revoked this CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Revocation>,
}

/// One issued leaf certificate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuedEntry {
    /// Serial, lower-case hex.
    pub serial: String,
    /// `client` or `server`.
    pub kind: String,
    /// Subject in RFC 4514 form.
    pub subject: String,
    /// Subject alternative names, as `DNS:x`, `IP:x`, `URI:x`.
    #[serde(default)]
    pub names: Vec<String>,
    /// Name of the issuing CA entry.
    pub issuer: String,
    /// The certificate file (leaf + chain).
    pub file: String,
    /// Expiry, RFC 3339.
    pub not_after: String,
    /// Set once revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Revocation>,
}

/// When and why a certificate was revoked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    /// RFC 3339.
    pub at: String,
    /// RFC 5280 reason name, such as `keyCompromise`.
    pub reason: String,
}

impl State {
    /// Read the state of the CA directory `dir`.
    pub fn load(dir: &Path) -> super::error::Result<State> {
        let path = dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            super::error::pki_err!(
                "{}: {e} (run `portcullis pki init --dir {}` first)",
                path.display(),
                dir.display()
            )
        })?;
        toml::from_str(&text).map_err(|e| super::error::pki_err!("{}: {e}", path.display()))
    }

    /// Write the state atomically.
    pub fn save(&self, dir: &Path) -> super::error::Result<()> {
        let text = format!(
            "# Portcullis PKI state: the CAs of this directory and every certificate issued.\n{}",
            toml::to_string(self)?
        );
        super::write_atomic(&dir.join(STATE_FILE), &text, false)
    }
}
