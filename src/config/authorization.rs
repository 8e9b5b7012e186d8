//! `[authorization.NAME]` rule sets: who may call a domain, stage or route, by the fields of the
//! verified client certificate and the client's address. Parsed and checked here; matched in
//! [`crate::authz`].

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

use super::ErrorSink;

/// The field names a rule may hold, as the configuration spells them.
pub const RULE_FIELDS: [&str; 11] = [
    "subject_cn",
    "subject_o",
    "subject_ou",
    "dns_san",
    "uri_san",
    "email_san",
    "issuer_dn",
    "issuer_sha256",
    "spki_sha256",
    "serial",
    "source_ip",
];

/// `[authorization.NAME]` as written.
#[derive(Debug, Deserialize)]
pub(crate) struct RawRuleSet {
    /// Rules of which one must match for a client to pass.
    pub allow: Option<Vec<RawRule>>,
    /// Rules of which none may match.
    pub deny: Option<Vec<RawRule>>,
}

/// One rule as written: every field present must match, and any value of a field does.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawRule {
    /// Subject common names.
    pub subject_cn: Option<Vec<String>>,
    /// Subject organisations.
    pub subject_o: Option<Vec<String>>,
    /// Subject organisational units.
    pub subject_ou: Option<Vec<String>>,
    /// DNS subject alternative names.
    pub dns_san: Option<Vec<String>>,
    /// URI subject alternative names, `*` for one path segment, `**` for the rest.
    pub uri_san: Option<Vec<String>>,
    /// E-mail subject alternative names.
    pub email_san: Option<Vec<String>>,
    /// Issuer distinguished names, RFC 4514.
    pub issuer_dn: Option<Vec<String>>,
    /// SHA-256 of the CA certificate that issued the leaf, hex.
    pub issuer_sha256: Option<Vec<String>>,
    /// SHA-256 of the leaf's SubjectPublicKeyInfo, hex.
    pub spki_sha256: Option<Vec<String>>,
    /// Serial numbers, hex.
    pub serial: Option<Vec<String>>,
    /// Client address ranges, CIDR (`aws:SourceIp`).
    pub source_ip: Option<Vec<String>>,
}

/// A named rule set: deny beats allow; without `allow`, every client not denied passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    /// Its name, `[authorization.NAME]`.
    pub name: Arc<str>,
    /// Rules of which one must match; `None` lets every client not denied through.
    pub allow: Option<Vec<Rule>>,
    /// Rules of which none may match.
    pub deny: Vec<Rule>,
}

/// One rule: every field that is set must match; within a field any value does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rule {
    /// Subject CN values.
    pub subject_cn: Vec<String>,
    /// Subject O values.
    pub subject_o: Vec<String>,
    /// Subject OU values.
    pub subject_ou: Vec<String>,
    /// DNS SANs, lower case (compared without regard to case).
    pub dns_san: Vec<String>,
    /// URI SAN patterns.
    pub uri_san: Vec<UriPattern>,
    /// E-mail SANs (the domain part compared without regard to case).
    pub email_san: Vec<String>,
    /// Issuer DNs in RFC 4514 form.
    pub issuer_dn: Vec<String>,
    /// SHA-256 digests of issuing CA certificates.
    pub issuer_sha256: Vec<[u8; 32]>,
    /// SHA-256 digests of the leaf's SubjectPublicKeyInfo.
    pub spki_sha256: Vec<[u8; 32]>,
    /// Serial numbers: lower-case hex without leading zeros.
    pub serial: Vec<String>,
    /// Client address ranges: the socket's peer, or the PROXY protocol header's client.
    pub source_ip: Vec<super::Cidr>,
}

impl Rule {
    /// The names of the fields this rule sets, in [`RULE_FIELDS`] order.
    pub fn fields(&self) -> Vec<&'static str> {
        let set = [
            !self.subject_cn.is_empty(),
            !self.subject_o.is_empty(),
            !self.subject_ou.is_empty(),
            !self.dns_san.is_empty(),
            !self.uri_san.is_empty(),
            !self.email_san.is_empty(),
            !self.issuer_dn.is_empty(),
            !self.issuer_sha256.is_empty(),
            !self.spki_sha256.is_empty(),
            !self.serial.is_empty(),
            !self.source_ip.is_empty(),
        ];
        RULE_FIELDS
            .iter()
            .zip(set)
            .filter_map(|(name, on)| on.then_some(*name))
            .collect()
    }
}

/// A URI SAN pattern: literal segments, `*` for exactly one non-empty path segment, and `**`
/// (last only) for one or more remaining segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriPattern {
    /// The pattern as written.
    pub raw: String,
    parts: Vec<UriPart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum UriPart {
    Literal(String),
    One,
    Rest,
}

impl UriPattern {
    /// Parse `raw`; wildcards may stand only for whole path segments, `**` only at the end.
    pub fn parse(raw: &str) -> Result<UriPattern, String> {
        // The scheme and authority (`spiffe:`, ``, `corp`) are never wildcards.
        let fixed = if raw.contains("://") { 3 } else { 0 };
        let pieces: Vec<&str> = raw.split('/').collect();
        let mut parts = Vec::with_capacity(pieces.len());
        for (i, piece) in pieces.iter().enumerate() {
            let part = match *piece {
                "*" if i >= fixed => UriPart::One,
                "**" if i >= fixed && i + 1 == pieces.len() => UriPart::Rest,
                "**" if i >= fixed => {
                    return Err(format!("`{raw}`: `**` may only end a pattern"));
                }
                p if p.contains('*') => {
                    return Err(format!(
                        "`{raw}`: `*` and `**` may only stand for whole path segments \
                         (such as spiffe://corp/inventory/*), not in the scheme or authority \
                         or inside a segment"
                    ));
                }
                p => UriPart::Literal(p.to_owned()),
            };
            parts.push(part);
        }
        if raw.is_empty() {
            return Err("an empty URI matches nothing".into());
        }
        Ok(UriPattern {
            raw: raw.to_owned(),
            parts,
        })
    }

    /// Whether `uri` matches the pattern.
    pub fn matches(&self, uri: &str) -> bool {
        let mut pieces = uri.split('/');
        for part in &self.parts {
            match part {
                UriPart::Rest => return pieces.next().is_some_and(|p| !p.is_empty()),
                UriPart::One => {
                    if pieces.next().is_none_or(str::is_empty) {
                        return false;
                    }
                }
                UriPart::Literal(l) => {
                    if pieces.next() != Some(l.as_str()) {
                        return false;
                    }
                }
            }
        }
        pieces.next().is_none()
    }
}

/// Check every `[authorization.NAME]` table, reporting problems under its key.
pub(crate) fn rule_sets(
    raw: &BTreeMap<String, RawRuleSet>,
    sink: &mut ErrorSink,
) -> BTreeMap<String, Arc<RuleSet>> {
    let mut out = BTreeMap::new();
    for (name, set) in raw {
        let key = format!("authorization.{name}");
        if set.allow.is_none() && set.deny.is_none() {
            sink.push(key.clone(), "a rule set needs `allow` or `deny` rules");
        }
        let list = |which: &str, rules: &Option<Vec<RawRule>>, sink: &mut ErrorSink| {
            let rules = rules.as_ref()?;
            if rules.is_empty() {
                sink.push(
                    format!("{key}.{which}"),
                    "an empty list: remove the key, or give it at least one rule",
                );
            }
            let parsed = rules
                .iter()
                .enumerate()
                .filter_map(|(i, r)| rule(r, &format!("{key}.{which}[{i}]"), sink))
                .collect();
            Some(parsed)
        };
        let allow = list("allow", &set.allow, sink);
        let deny = list("deny", &set.deny, sink).unwrap_or_default();
        out.insert(
            name.clone(),
            Arc::new(RuleSet {
                name: name.as_str().into(),
                allow,
                deny,
            }),
        );
    }
    out
}

/// Check one rule written at `key`: at least one field, no empty list, every value well formed.
pub(crate) fn rule(raw: &RawRule, key: &str, sink: &mut ErrorSink) -> Option<Rule> {
    let before = sink.len();
    let strings = |field: &str, values: &Option<Vec<String>>, sink: &mut ErrorSink| {
        let values = values.as_ref()?;
        if values.is_empty() {
            sink.push(format!("{key}.{field}"), "an empty list matches no client");
        }
        for (i, v) in values.iter().enumerate() {
            if v.is_empty() {
                sink.push(
                    format!("{key}.{field}[{i}]"),
                    "an empty value matches no client",
                );
            }
        }
        Some(values.clone())
    };
    let mut r = Rule {
        subject_cn: strings("subject_cn", &raw.subject_cn, sink).unwrap_or_default(),
        subject_o: strings("subject_o", &raw.subject_o, sink).unwrap_or_default(),
        subject_ou: strings("subject_ou", &raw.subject_ou, sink).unwrap_or_default(),
        dns_san: strings("dns_san", &raw.dns_san, sink)
            .unwrap_or_default()
            .iter()
            .map(|d| d.to_ascii_lowercase())
            .collect(),
        email_san: strings("email_san", &raw.email_san, sink).unwrap_or_default(),
        ..Rule::default()
    };
    for (i, v) in strings("issuer_dn", &raw.issuer_dn, sink)
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        if v.is_empty() || v.contains('=') {
            r.issuer_dn.push(v);
        } else {
            sink.push(
                format!("{key}.issuer_dn[{i}]"),
                format!("`{v}` is not a distinguished name such as \"CN=Issuing CA,O=Corp\""),
            );
        }
    }
    for (i, v) in strings("uri_san", &raw.uri_san, sink)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        match UriPattern::parse(v) {
            Ok(p) => r.uri_san.push(p),
            Err(e) => sink.push(format!("{key}.uri_san[{i}]"), e),
        }
    }
    for (field, values, out) in [
        ("issuer_sha256", &raw.issuer_sha256, &mut r.issuer_sha256),
        ("spki_sha256", &raw.spki_sha256, &mut r.spki_sha256),
    ] {
        for (i, v) in strings(field, values, sink)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            match hex_bytes(v).and_then(|b| <[u8; 32]>::try_from(b).ok()) {
                Some(d) => out.push(d),
                None => sink.push(
                    format!("{key}.{field}[{i}]"),
                    format!(
                        "`{v}` is not a SHA-256 digest: 64 hex digits (`:` between bytes allowed)"
                    ),
                ),
            }
        }
    }
    for (i, v) in strings("serial", &raw.serial, sink)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        match hex_bytes(v) {
            Some(_) => r.serial.push(normalize_serial(v)),
            None => sink.push(
                format!("{key}.serial[{i}]"),
                format!("`{v}` is not a serial number in hex (such as 1f3a or 1F:3A)"),
            ),
        }
    }
    for (i, v) in strings("source_ip", &raw.source_ip, sink)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        match super::Cidr::parse(v) {
            Ok(c) => r.source_ip.push(c),
            // An empty value is reported above.
            Err(_) if v.is_empty() => {}
            Err(e) => sink.push(format!("{key}.source_ip[{i}]"), e),
        }
    }
    if r.fields().is_empty() && sink.len() == before {
        sink.push(
            key.to_owned(),
            format!(
                "a rule needs at least one field: {}",
                RULE_FIELDS.join(", ")
            ),
        );
    }
    (sink.len() == before).then_some(r)
}

/// The rule set `name` refers to, written at `key`; an unknown name is an error naming the
/// rule sets there are.
pub(crate) fn resolve(
    name: Option<&String>,
    key: &str,
    sets: &BTreeMap<String, Arc<RuleSet>>,
    sink: &mut ErrorSink,
) -> Option<Arc<RuleSet>> {
    lookup(name?, sets).map_err(|e| sink.push(key, e)).ok()
}

/// The rule set called `name`, or why there is none.
pub(crate) fn lookup(
    name: &str,
    sets: &BTreeMap<String, Arc<RuleSet>>,
) -> Result<Arc<RuleSet>, String> {
    if let Some(set) = sets.get(name) {
        return Ok(set.clone());
    }
    let known: Vec<&str> = sets.keys().map(String::as_str).collect();
    let hint = super::template::closest(name, known.iter().copied())
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default();
    let listed = if known.is_empty() {
        "none".to_owned()
    } else {
        known.join(", ")
    };
    Err(format!(
        "no [authorization.{name}] is defined (rule sets: {listed}){hint}"
    ))
}

/// Lower-case hex without `:` separators and leading zeros, as serials are compared.
pub fn normalize_serial(hex: &str) -> String {
    let digits: String = hex
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let trimmed = digits.trim_start_matches('0');
    if trimmed.is_empty() { "0" } else { trimmed }.to_owned()
}

/// Bytes of a hex string, `:` allowed between bytes; `None` when it is not hex.
fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s.bytes().filter(|b| *b != b':').collect();
    if digits.is_empty() || digits.len() % 2 != 0 {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(text, 16).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_star_is_one_segment_and_two_stars_the_rest() {
        let one = UriPattern::parse("spiffe://corp/inventory/*").unwrap();
        assert!(one.matches("spiffe://corp/inventory/reader"));
        assert!(!one.matches("spiffe://corp/inventory/reader/x"));
        assert!(!one.matches("spiffe://corp/inventory/"));
        assert!(!one.matches("spiffe://corp/inventory"));
        assert!(!one.matches("spiffe://other/inventory/reader"));
        let rest = UriPattern::parse("spiffe://corp/inventory/**").unwrap();
        assert!(rest.matches("spiffe://corp/inventory/reader"));
        assert!(rest.matches("spiffe://corp/inventory/a/b/c"));
        assert!(!rest.matches("spiffe://corp/inventory"));
        assert!(!rest.matches("spiffe://corp/inventoryx/a"));
        let exact = UriPattern::parse("spiffe://corp/a").unwrap();
        assert!(exact.matches("spiffe://corp/a"));
        assert!(!exact.matches("spiffe://corp/a/b"));
    }

    #[test]
    fn wildcards_outside_whole_path_segments_are_refused() {
        for bad in [
            "spiffe://*/x",
            "spiffe://corp/inv*",
            "spiffe://corp/**/x",
            "*://corp/x",
            "",
        ] {
            assert!(UriPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn serials_compare_without_separators_case_or_leading_zeros() {
        assert_eq!(normalize_serial("00:1F:3a"), "1f3a");
        assert_eq!(normalize_serial("0"), "0");
        assert_eq!(hex_bytes("ab:CD"), Some(vec![0xab, 0xcd]));
        assert_eq!(hex_bytes("abc"), None);
        assert_eq!(hex_bytes("zz"), None);
    }
}
