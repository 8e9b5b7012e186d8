//! `proxy_protocol` and `trusted_proxies` of a listener (`[[domain]]`, `[default_endpoint]`):
//! checked per table, then across the domains that share a listen address, which must agree.

use std::sync::Arc;

use super::{Cidr, Domain, ErrorSink};

/// A listener behind a TCP load balancer: every connection must come from one of
/// `trusted_proxies` and open with a PROXY protocol header (v1 or v2) naming the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyProtocol {
    /// The load balancers' address ranges, sorted and without repeats (so two domains that
    /// list the same ranges in another order agree).
    pub trusted_proxies: Arc<[Cidr]>,
}

/// The PROXY protocol setting of the table at `key`: `None` when off. Problems (a range
/// that does not parse, `proxy_protocol` without ranges, ranges without `proxy_protocol`)
/// go to `sink` under their key.
pub(crate) fn setting(
    enabled: Option<bool>,
    trusted: Option<&Vec<String>>,
    key: &str,
    sink: &mut ErrorSink,
) -> Option<ProxyProtocol> {
    let mut ranges = Vec::new();
    for (i, text) in trusted.into_iter().flatten().enumerate() {
        match Cidr::parse(text) {
            Ok(c) => ranges.push(c),
            Err(e) => sink.push(format!("{key}.trusted_proxies[{i}]"), e),
        }
    }
    match (enabled.unwrap_or(false), trusted) {
        (false, None) => None,
        (false, Some(_)) => {
            sink.push(
                format!("{key}.trusted_proxies"),
                "set `proxy_protocol = true` too: without it no header is read and these \
                 ranges do nothing",
            );
            None
        }
        (true, None) => {
            sink.push(
                format!("{key}.trusted_proxies"),
                "missing required key: `proxy_protocol = true` needs the load balancers' \
                 address ranges, such as [\"10.0.0.0/8\"]",
            );
            None
        }
        (true, Some(list)) if list.is_empty() => {
            sink.push(
                format!("{key}.trusted_proxies"),
                "an empty list trusts no load balancer: every connection would be closed",
            );
            None
        }
        (true, Some(_)) => {
            ranges.sort();
            ranges.dedup();
            Some(ProxyProtocol {
                trusted_proxies: ranges.into(),
            })
        }
    }
}

/// Domains that share a listen address share one socket: each must say the same about the
/// PROXY protocol as the first domain on that address, else an error names the key and both.
pub(crate) fn check_shared_listeners(domains: &[Domain], sink: &mut ErrorSink) {
    for (j, d) in domains.iter().enumerate() {
        let Some(first) = domains[..j].iter().find(|f| f.listen == d.listen) else {
            continue;
        };
        let on = |x: &Domain| x.proxy_protocol.is_some();
        let (field, differs) = if on(first) != on(d) {
            ("proxy_protocol", true)
        } else {
            ("trusted_proxies", first.proxy_protocol != d.proxy_protocol)
        };
        if differs {
            sink.push(
                format!("domain[{}].{field}", d.index),
                format!(
                    "domains `{}` (domain[{}]) and `{}` (domain[{}]) share listen {} but \
                     disagree on {field} ({} and {}): one socket either reads PROXY headers \
                     or not, from one set of load balancers",
                    first.name,
                    first.index,
                    d.name,
                    d.index,
                    d.listen,
                    describe(first, field),
                    describe(d, field),
                ),
            );
        }
    }
}

/// How a domain sets `field`, for the disagreement message.
fn describe(d: &Domain, field: &str) -> String {
    match (&d.proxy_protocol, field) {
        (None, "proxy_protocol") => "false".into(),
        (Some(_), "proxy_protocol") => "true".into(),
        (None, _) => "[]".into(),
        (Some(p), _) => {
            let ranges: Vec<String> = p
                .trusted_proxies
                .iter()
                .map(|c| format!("\"{c}\""))
                .collect();
            format!("[{}]", ranges.join(", "))
        }
    }
}
