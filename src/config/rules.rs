//! A custom domain's routing rules (API Gateway, 2025): conditions on headers and the base path
//! that send a request to an API stage, tried by priority before or instead of the API mappings.

use std::collections::{BTreeMap, BTreeSet};

use http::HeaderName;
use serde::Deserialize;

use super::{Api, ErrorSink};

/// How a domain picks the API stage for a request, as API Gateway's `routingMode` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RoutingMode {
    /// Only the API mappings (the default, and the behaviour before routing rules).
    #[default]
    ApiMappingOnly,
    /// The routing rules by priority, then the API mappings.
    RoutingRuleThenApiMapping,
    /// Only the routing rules.
    RoutingRuleOnly,
}

/// One routing rule: every condition must hold; then the request goes to `api`/`stage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingRule {
    /// Lowest first, 1 to 1,000,000, unique on the domain.
    pub priority: u32,
    /// Up to two header conditions: a name (any case) and a case-sensitive glob with `*`.
    pub headers: Vec<(HeaderName, String)>,
    /// A base path condition without slashes at its ends, such as `orders`.
    pub base_path: Option<String>,
    /// The API invoked.
    pub api: String,
    /// Its stage.
    pub stage: String,
    /// Whether the matched base path is removed before the API's routes see the path.
    pub strip_base_path: bool,
}

/// `[[domain.routing_rule]]` as written.
#[derive(Debug, Deserialize)]
pub(crate) struct RawRoutingRule {
    /// 1 to 1,000,000, lowest first.
    pub priority: Option<u64>,
    /// The conditions; none means the rule always matches.
    #[serde(default)]
    pub conditions: RawConditions,
    /// What a match does.
    pub action: Option<RawAction>,
}

/// A rule's conditions as written.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawConditions {
    /// Up to two `{ name, value }` header conditions.
    #[serde(default)]
    pub headers: Vec<RawHeaderCondition>,
    /// One base path, such as `"orders"`.
    pub base_path: Option<String>,
}

/// One header condition as written.
#[derive(Debug, Deserialize)]
pub(crate) struct RawHeaderCondition {
    /// Header name.
    pub name: Option<String>,
    /// Value glob: `*` matches any run of characters.
    pub value: Option<String>,
}

/// A rule's action as written.
#[derive(Debug, Deserialize)]
pub(crate) struct RawAction {
    /// API name.
    pub api: Option<String>,
    /// Stage name.
    pub stage: Option<String>,
    /// Remove the matched base path (default false).
    pub strip_base_path: Option<bool>,
}

/// The domain's routing mode and rules, sorted by priority; problems go to `sink` under `key`.
pub(crate) fn routing_rules(
    mode: Option<&str>,
    raw: &[RawRoutingRule],
    key: &str,
    apis: &BTreeMap<String, Api>,
    sink: &mut ErrorSink,
) -> (RoutingMode, Vec<RoutingRule>) {
    let mode = match mode {
        None | Some("API_MAPPING_ONLY") => RoutingMode::ApiMappingOnly,
        Some("ROUTING_RULE_THEN_API_MAPPING") => RoutingMode::RoutingRuleThenApiMapping,
        Some("ROUTING_RULE_ONLY") => RoutingMode::RoutingRuleOnly,
        Some(other) => {
            sink.push(
                format!("{key}.routing_mode"),
                format!("`{other}` is not API_MAPPING_ONLY, ROUTING_RULE_THEN_API_MAPPING or ROUTING_RULE_ONLY"),
            );
            RoutingMode::ApiMappingOnly
        }
    };
    let mut rules = Vec::new();
    let mut priorities = BTreeSet::new();
    for (j, r) in raw.iter().enumerate() {
        let rkey = format!("{key}.routing_rule[{j}]");
        if let Some(rule) = rule(r, &rkey, apis, sink) {
            if !priorities.insert(rule.priority) {
                sink.push(
                    format!("{rkey}.priority"),
                    format!(
                        "priority {} is used by another rule of this domain",
                        rule.priority
                    ),
                );
                continue;
            }
            rules.push(rule);
        }
    }
    rules.sort_by_key(|r| r.priority);
    (mode, rules)
}

fn rule(
    r: &RawRoutingRule,
    rkey: &str,
    apis: &BTreeMap<String, Api>,
    sink: &mut ErrorSink,
) -> Option<RoutingRule> {
    let priority = sink.ranged(format!("{rkey}.priority"), r.priority, 1, 1_000_000);
    if r.priority.is_none() {
        sink.push(format!("{rkey}.priority"), "missing required key");
    }
    let mut ok = true;
    if r.conditions.headers.len() > 2 {
        sink.push(
            format!("{rkey}.conditions.headers"),
            "at most two header conditions",
        );
        ok = false;
    }
    let mut headers = Vec::new();
    for (k, h) in r.conditions.headers.iter().enumerate() {
        let hkey = format!("{rkey}.conditions.headers[{k}]");
        match (&h.name, &h.value) {
            (Some(n), Some(v)) => match HeaderName::from_bytes(n.as_bytes()) {
                Ok(name) if !v.is_empty() => headers.push((name, v.clone())),
                _ => {
                    sink.push(
                        hkey,
                        format!("`{n}: {v}` is not a header name and value glob"),
                    );
                    ok = false;
                }
            },
            _ => {
                sink.push(hkey, "a header condition needs `name` and `value`");
                ok = false;
            }
        }
    }
    let base_path = r
        .conditions
        .base_path
        .as_deref()
        .map(|b| b.trim_matches('/').to_owned());
    if let Some(b) = &base_path {
        if b.is_empty() || crate::path::check_path(format!("/{b}").as_bytes()).is_err() {
            sink.push(
                format!("{rkey}.conditions.base_path"),
                format!("`{b}` is not a base path such as \"orders\""),
            );
            ok = false;
        }
    }
    let Some(action) = &r.action else {
        sink.push(format!("{rkey}.action"), "missing required key");
        return None;
    };
    let (Some(api), Some(stage)) = (&action.api, &action.stage) else {
        sink.push(
            format!("{rkey}.action"),
            "an action needs `api` and `stage`",
        );
        return None;
    };
    match apis.get(api) {
        None => {
            sink.push(
                format!("{rkey}.action.api"),
                format!("no [api.{api}] is defined"),
            );
            ok = false;
        }
        Some(a) if !a.stages.contains_key(stage) => {
            sink.push(
                format!("{rkey}.action.stage"),
                format!("api `{api}` has no stage `{stage}`"),
            );
            ok = false;
        }
        Some(_) => {}
    }
    Some(RoutingRule {
        priority: priority? as u32,
        headers,
        base_path,
        api: api.clone(),
        stage: stage.clone(),
        strip_base_path: action.strip_base_path.unwrap_or(false),
    })
    .filter(|_| ok)
}

/// Whether `value` matches `glob`, where `*` matches any run of characters (case-sensitive).
pub fn glob_match(glob: &str, value: &str) -> bool {
    let mut parts = glob.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = value.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = parts.collect();
    let Some((last, middle)) = pieces.split_last() else {
        return rest.is_empty();
    };
    for piece in middle {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_prefix_suffix_contains_and_exact() {
        assert!(glob_match("v2*", "v2-beta"));
        assert!(!glob_match("v2*", "V2-beta"));
        assert!(glob_match("*beta", "v2-beta"));
        assert!(glob_match("*2-b*", "v2-beta"));
        assert!(glob_match("Dog-*", "Dog-Bella"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exactly"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("a*a", "a"));
    }
}
