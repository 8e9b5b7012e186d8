//! Usage plans: API keys read from their files (held only as SHA-256 digests, so no key can
//! reach a log or a dump) and client-certificate identities bound to a plan.

use std::collections::HashMap;
use std::path::Path;

use crate::config::ClientMatch;
use crate::tls::ClientIdentity;

/// AWS's shortest API key.
pub const MIN_API_KEY_LEN: usize = 20;
/// AWS's longest API key.
pub const MAX_API_KEY_LEN: usize = 128;

/// SHA-256 of an API key.
pub type KeyDigest = [u8; 32];

/// The digest of `key`.
pub(super) fn digest(key: &[u8]) -> KeyDigest {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Read an API keys file: one key a line; blank lines and `#` comments skipped. Problems name
/// the file and line, never the key.
pub fn read_keys(path: &Path) -> Result<Vec<KeyDigest>, String> {
    let data = crate::file_read::read_regular(path)?;
    let text = String::from_utf8(data).map_err(|_| format!("{}: not UTF-8", path.display()))?;
    let mut keys = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let key = line.trim();
        if key.is_empty() || key.starts_with('#') {
            continue;
        }
        let ok = (MIN_API_KEY_LEN..=MAX_API_KEY_LEN).contains(&key.len())
            && key.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(format!(
                "{} line {}: an API key is {MIN_API_KEY_LEN} to {MAX_API_KEY_LEN} printable \
                 ASCII characters without spaces (the line is not shown)",
                path.display(),
                i + 1
            ));
        }
        keys.push(digest(key.as_bytes()));
    }
    Ok(keys)
}

/// Which plans each API key belongs to.
#[derive(Debug, Default)]
pub(super) struct KeyIndex {
    keys: HashMap<KeyDigest, Vec<usize>>,
}

impl KeyIndex {
    /// Record that `key` belongs to plan `plan`.
    pub(super) fn insert(&mut self, key: KeyDigest, plan: usize) {
        let plans = self.keys.entry(key).or_default();
        if !plans.contains(&plan) {
            plans.push(plan);
        }
    }

    /// The plans of `key`.
    pub(super) fn plans(&self, key: &KeyDigest) -> &[usize] {
        self.keys.get(key).map_or(&[], Vec::as_slice)
    }

    /// Every key with its plans.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&KeyDigest, &Vec<usize>)> {
        self.keys.iter()
    }
}

/// Whether `identity` matches one of `patterns`.
pub(super) fn matches_any(patterns: &[ClientMatch], identity: &ClientIdentity) -> bool {
    if !identity.is_verified() {
        return false;
    }
    let subject = parse_dn(&identity.subject);
    patterns.iter().any(|p| matches(p, identity, &subject))
}

/// Whether every field `p` names matches `identity` (any of its values).
fn matches(p: &ClientMatch, identity: &ClientIdentity, subject: &[(String, String)]) -> bool {
    let attr = |name: &str, wanted: &[String]| {
        wanted.is_empty()
            || subject
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case(name) && wanted.iter().any(|w| w == v))
    };
    attr("CN", &p.subject_cn)
        && attr("O", &p.subject_o)
        && attr("OU", &p.subject_ou)
        && (p.dns_san.is_empty()
            || identity
                .dns
                .iter()
                .any(|d| p.dns_san.iter().any(|w| w.eq_ignore_ascii_case(d))))
        && (p.uri_san.is_empty()
            || identity
                .uris
                .iter()
                .any(|u| p.uri_san.iter().any(|w| uri_matches(w, u))))
        && (p.issuer_dn.is_empty() || p.issuer_dn.contains(&identity.issuer))
        && (p.serial.is_empty() || p.serial.contains(&identity.serial))
}

/// A URI SAN pattern: `*` is one path segment, a final `**` the rest.
fn uri_matches(pattern: &str, uri: &str) -> bool {
    let mut p = pattern.split('/');
    let mut u = uri.split('/');
    loop {
        match (p.next(), u.next()) {
            (Some("**"), Some(_)) => return p.next().is_none(),
            (Some("*"), Some(s)) if !s.is_empty() => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// An RFC 4514 name as (attribute, value) pairs, escapes undone.
fn parse_dn(dn: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut key = String::new();
    let mut value = String::new();
    let mut in_value = false;
    let mut chars = dn.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    if in_value { value.push(n) } else { key.push(n) }
                }
            }
            '=' if !in_value => in_value = true,
            ',' | '+' => {
                out.push((std::mem::take(&mut key), std::mem::take(&mut value)));
                in_value = false;
            }
            c if in_value => value.push(c),
            c => key.push(c),
        }
    }
    if !key.is_empty() {
        out.push((key, value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_split_on_unescaped_separators() {
        assert_eq!(
            parse_dn(r"CN=a\,b,O=Ex+OU=ops"),
            vec![
                ("CN".to_owned(), "a,b".to_owned()),
                ("O".to_owned(), "Ex".to_owned()),
                ("OU".to_owned(), "ops".to_owned())
            ]
        );
    }

    #[test]
    fn uri_patterns_match_one_segment_or_the_rest() {
        assert!(uri_matches("spiffe://corp/inv/*", "spiffe://corp/inv/a"));
        assert!(!uri_matches("spiffe://corp/inv/*", "spiffe://corp/inv/a/b"));
        assert!(uri_matches("spiffe://corp/**", "spiffe://corp/inv/a/b"));
        assert!(!uri_matches("spiffe://corp/inv", "spiffe://corp/inv/a"));
    }

    #[test]
    fn a_bad_key_line_names_the_line_not_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("keys.txt");
        std::fs::write(
            &f,
            "# plan keys\nabcdefghijklmnopqrstuvwxyz\n\nshort-secret\n",
        )
        .unwrap();
        let e = read_keys(&f).unwrap_err();
        assert!(e.contains("line 4"), "{e}");
        assert!(!e.contains("short-secret"), "{e}");
        std::fs::write(&f, "abcdefghijklmnopqrstuvwxyz\n").unwrap();
        assert_eq!(read_keys(&f).unwrap().len(), 1);
    }
}
