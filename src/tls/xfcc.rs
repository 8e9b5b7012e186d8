//! The `x-forwarded-client-cert` value of a verified client, in Envoy's format with the
//! elements a domain or route chose.

use std::sync::Arc;

use crate::config::XfccElements;

use super::ClientIdentity;

/// One XFCC element with `elements`, in Envoy's order. Every value that holds `,` `;` `=` `"`
/// `\` or a space is double-quoted with `"` and `\` escaped (the subject, certificate and chain
/// always are), so no SAN can add an element or a key. Bytes a header cannot carry are
/// dropped.
pub fn value(
    elements: XfccElements,
    id: &ClientIdentity,
    chain: Option<&[Arc<[u8]>]>,
    by: &[String],
) -> String {
    let mut out = String::with_capacity(128);
    let key = |out: &mut String, k: &str| {
        if !out.is_empty() {
            out.push(';');
        }
        out.push_str(k);
        out.push('=');
    };
    if elements.has(XfccElements::BY) {
        for uri in by {
            key(&mut out, "By");
            push_value(&mut out, uri, false);
        }
    }
    if elements.has(XfccElements::HASH) {
        key(&mut out, "Hash");
        out.push_str(&id.sha256);
    }
    let chain = chain.unwrap_or_default();
    if elements.has(XfccElements::CERT) {
        if let Some(leaf) = chain.first().filter(|l| !l.is_empty()) {
            key(&mut out, "Cert");
            push_url_encoded_pem(&mut out, std::slice::from_ref(leaf));
        }
    }
    if elements.has(XfccElements::CHAIN) && !chain.is_empty() {
        key(&mut out, "Chain");
        push_url_encoded_pem(&mut out, chain);
    }
    if elements.has(XfccElements::SUBJECT) {
        key(&mut out, "Subject");
        push_value(&mut out, &id.subject, true);
    }
    for (element, name, values) in [
        (XfccElements::URI, "URI", &id.uris),
        (XfccElements::DNS, "DNS", &id.dns),
    ] {
        if elements.has(element) {
            for v in values {
                key(&mut out, name);
                push_value(&mut out, v, false);
            }
            // As Envoy: a chosen `URI` key is written even when the certificate has no URI SAN
            // (a parser may count on it); `DNS` only for each DNS SAN.
            if values.is_empty() && element == XfccElements::URI {
                key(&mut out, name);
            }
        }
    }
    out
}

/// `"..."` holding the certificates as PEM, URL-encoded as Envoy writes it (`%0A`, `%20`,
/// `%2B`, `%2F`, `%3D`), so the value needs no other escaping.
fn push_url_encoded_pem(out: &mut String, certs: &[Arc<[u8]>]) {
    out.push('"');
    for der in certs {
        let pem = pem::encode_config(
            &pem::Pem::new("CERTIFICATE", der.to_vec()),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        );
        // PEM is base64 between dashed lines: letters, digits and `-` stay as they are.
        crate::percent::push_encoded(out, &pem, b"-");
    }
    out.push('"');
}

fn push_value(out: &mut String, value: &str, always_quote: bool) {
    let printable = |c: &char| (' '..='~').contains(c);
    let quote = always_quote
        || value
            .chars()
            .filter(printable)
            .any(|c| matches!(c, ',' | ';' | '=' | '"' | '\\' | ' '));
    if quote {
        out.push('"');
    }
    for c in value.chars().filter(printable) {
        if quote && matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(uris: &[&str], dns: &[&str]) -> ClientIdentity {
        let mut id = ClientIdentity::anonymous();
        id.verified = true;
        id.sha256 = "ab".into();
        id.subject = "CN=x".into();
        id.uris = uris.iter().map(|s| s.to_string()).collect();
        id.dns = dns.iter().map(|s| s.to_string()).collect();
        id
    }

    #[test]
    fn xfcc_quotes_values_that_could_add_elements_or_keys() {
        let id = identity(&["spiffe://a,URI=evil;By=me"], &["a\"b"]);

        // One element, and the hostile SAN stays one quoted value.
        assert_eq!(
            value(XfccElements::DEFAULT, &id, None, &[]),
            r#"Hash=ab;Subject="CN=x";URI="spiffe://a,URI=evil;By=me";DNS="a\"b""#
        );
    }

    #[test]
    fn xfcc_writes_elements_in_envoys_order_whatever_the_list_order() {
        let id = identity(&["spiffe://c"], &[]);
        let chain: Vec<Arc<[u8]>> = vec![Arc::from(&b"\xfb\xef\xbe"[..])];
        let by = ["spiffe://gw".to_owned()];
        let all = XfccElements::NAMES
            .iter()
            .fold(XfccElements::HASH, |s, (_, e)| s.with(*e));
        let v = value(all, &id, Some(&chain), &by);
        // `+/` in base64 and the PEM's spaces and newlines are URL-encoded.
        assert_eq!(
            v,
            "By=spiffe://gw;Hash=ab;\
             Cert=\"-----BEGIN%20CERTIFICATE-----%0A%2B%2B%2B%2B%0A-----END%20CERTIFICATE-----%0A\";\
             Chain=\"-----BEGIN%20CERTIFICATE-----%0A%2B%2B%2B%2B%0A-----END%20CERTIFICATE-----%0A\";\
             Subject=\"CN=x\";URI=spiffe://c"
        );
    }

    #[test]
    fn xfcc_keeps_an_empty_uri_key_but_no_empty_dns_as_envoy_does() {
        let id = identity(&[], &[]);
        assert_eq!(
            value(XfccElements::DEFAULT, &id, None, &[]),
            r#"Hash=ab;Subject="CN=x";URI="#
        );
    }
}
