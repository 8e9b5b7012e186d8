//! Usage plans: API keys read from their files (held only as SHA-256 digests, so no key can
//! reach a log or a dump) and client-certificate identities bound to a plan.

use std::collections::HashMap;
use std::path::Path;

use crate::authz::Caller;
use crate::config::Rule;

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

/// Whether `caller` matches one of `patterns` (the authorization rules' matcher).
pub(super) fn matches_any(patterns: &[Rule], caller: &Caller<'_>) -> bool {
    patterns.iter().any(|p| p.matches(caller))
}

#[cfg(test)]
mod tests {
    use super::*;

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
