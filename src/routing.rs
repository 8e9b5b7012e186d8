//! Request routing, as API Gateway does it: domain -> API mapping (longest base path) -> route
//! (method and path template) -> the stage's integration.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use http::Method;

use crate::config::{
    Api, Config, ErrorSink, GatewayResponse, Integration, Route, RouteMethod, RoutingMode,
    RoutingRule, RuleSet, Segment, glob_match,
};
use crate::error::Refused;

/// The routes of one API, shared by all its stages: a segment trie with API Gateway precedence
/// (literal segment, then `{param}`, then greedy `{param+}`; an explicit method before `ANY`).
#[derive(Debug)]
pub struct ApiRouter {
    root: Node,
    /// Route display names such as `GET /inventory`, by route position.
    names: Vec<Arc<str>>,
    timeouts: Vec<std::time::Duration>,
    upstream_methods: Vec<Option<Method>>,
    closed: Vec<Option<crate::openapi::AwsCheck>>,
    /// Each route's own rule set, by route position.
    authorization: Vec<Option<Arc<RuleSet>>>,
    /// Each route's own identity-header choice, by route position.
    identity: Vec<crate::config::IdentityChoice>,
}

#[derive(Debug, Default)]
struct Node {
    literal: HashMap<String, Node>,
    param: Option<(String, Box<Node>)>,
    greedy: Option<(String, Slot)>,
    slot: Slot,
}

/// Routes ending at one node: explicit methods, then `ANY`.
#[derive(Debug, Default)]
struct Slot {
    exact: Vec<(Method, usize)>,
    any: Option<usize>,
}

impl Slot {
    fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.any.is_none()
    }

    fn find(&self, method: &Method) -> Option<usize> {
        self.exact
            .iter()
            .find(|(m, _)| m == method)
            .map(|(_, i)| *i)
            .or(self.any)
    }

    /// Add route `pos`; on a duplicate, the position already there.
    fn add(&mut self, method: &RouteMethod, pos: usize) -> Result<(), usize> {
        match method {
            RouteMethod::Any => match self.any {
                Some(prev) => Err(prev),
                None => {
                    self.any = Some(pos);
                    Ok(())
                }
            },
            RouteMethod::Exact(m) => match self.exact.iter().find(|(x, _)| x == m) {
                Some((_, prev)) => Err(*prev),
                None => {
                    self.exact.push((m.clone(), pos));
                    Ok(())
                }
            },
        }
    }
}

impl ApiRouter {
    /// Build the router of API `name`; collisions are reported to `sink`.
    pub fn build(name: &str, api: &Api, sink: &mut ErrorSink) -> ApiRouter {
        let mut root = Node::default();
        for (pos, route) in api.routes.iter().enumerate() {
            let key = format!("api.{name}.routes[{}]", route.index);
            if let Err(reason) = insert(&mut root, route, pos) {
                let reason = match reason {
                    Conflict::Duplicate(prev) => format!(
                        "route `{} {}` is defined twice (also api.{name}.routes[{}])",
                        route.method, route.path.raw, api.routes[prev].index
                    ),
                    Conflict::Sibling(other) => format!(
                        "`{}`: A sibling ({{{other}}}) of this resource already has a variable \
                         path part -- only one is allowed",
                        route.path.raw
                    ),
                };
                sink.push(key, reason);
            }
        }
        ApiRouter {
            root,
            names: api.routes.iter().map(route_name).collect(),
            timeouts: api.routes.iter().map(|r| r.timeout).collect(),
            upstream_methods: api
                .routes
                .iter()
                .map(|r| r.upstream_method.clone())
                .collect(),
            closed: api.routes.iter().map(|r| r.closed).collect(),
            authorization: api.routes.iter().map(|r| r.authorization.clone()).collect(),
            identity: api.routes.iter().map(|r| r.identity).collect(),
        }
    }

    /// The route for `method` and `path`, with its path parameters.
    pub fn at<'p>(&self, method: &Method, path: &'p str) -> Option<RouteMatch<'_, 'p>> {
        let rest = path.strip_prefix('/')?;
        let mut params = Vec::new();
        let index = resource(&self.root, rest, &mut params)?.find(method)?;
        Some(RouteMatch { index, params })
    }

    /// Display name of the route at `index`, such as `GET /inventory`.
    pub fn name(&self, index: usize) -> &Arc<str> {
        &self.names[index]
    }

    /// The method sent upstream for the route at `index`, when it is not the client's.
    pub fn upstream_method(&self, index: usize) -> Option<&Method> {
        self.upstream_methods[index].as_ref()
    }

    /// The AWS check that keeps the route at `index` closed, if any.
    pub fn closed(&self, index: usize) -> Option<crate::openapi::AwsCheck> {
        self.closed[index]
    }

    /// The identity headers the route at `index` chooses over its domain's.
    pub fn identity(&self, index: usize) -> crate::config::IdentityChoice {
        self.identity.get(index).copied().unwrap_or_default()
    }

    /// The rule set the route at `index` names itself, if any.
    pub fn authorization(&self, index: usize) -> Option<&Arc<RuleSet>> {
        self.authorization.get(index)?.as_ref()
    }

    /// How many routes the API has.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the API has no route.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Integration timeout of the route at `index`.
    pub fn timeout(&self, index: usize) -> std::time::Duration {
        self.timeouts[index]
    }
}

enum Conflict {
    Duplicate(usize),
    Sibling(String),
}

fn insert(root: &mut Node, route: &Route, pos: usize) -> Result<(), Conflict> {
    let mut node = root;
    for seg in &route.path.segments {
        match seg {
            Segment::Greedy(name) => {
                // One variable path part per level, as API Gateway allows: `{id}` and
                // `{proxy+}` cannot be siblings.
                if let Some((existing, _)) = &node.param {
                    return Err(Conflict::Sibling(existing.clone()));
                }
                return match &mut node.greedy {
                    Some((existing, _)) if existing != name => {
                        Err(Conflict::Sibling(format!("{existing}+")))
                    }
                    Some((_, slot)) => slot.add(&route.method, pos).map_err(Conflict::Duplicate),
                    None => {
                        let mut slot = Slot::default();
                        slot.add(&route.method, pos).map_err(Conflict::Duplicate)?;
                        node.greedy = Some((name.clone(), slot));
                        Ok(())
                    }
                };
            }
            Segment::Param(name) => {
                if let Some((existing, _)) = &node.greedy {
                    return Err(Conflict::Sibling(format!("{existing}+")));
                }
                let (existing, child) = node
                    .param
                    .get_or_insert_with(|| (name.clone(), Box::default()));
                if existing != name {
                    return Err(Conflict::Sibling(existing.clone()));
                }
                node = child;
            }
            Segment::Literal(lit) => node = node.literal.entry(lit.clone()).or_default(),
        }
    }
    node.slot
        .add(&route.method, pos)
        .map_err(Conflict::Duplicate)
}

/// The resource a path names, as API Gateway finds it: by path alone, depth-first with
/// backtracking (literal, then parameter, then greedy), stopping at the first resource that has
/// any method. The method is looked up only there: a resource without it is a miss, never a
/// reason to try a greedy sibling.
fn resource<'r, 'p>(
    node: &'r Node,
    rest: &'p str,
    params: &mut Vec<(&'r str, &'p str)>,
) -> Option<&'r Slot> {
    if rest.is_empty() {
        return Some(&node.slot).filter(|s| !s.is_empty());
    }
    let (seg, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    if seg.is_empty() {
        return None;
    }
    // A trailing slash (`/a/`) leaves an empty tail after a segment: treat as the end.
    if let Some(child) = node.literal.get(seg) {
        if let Some(slot) = resource(child, tail, params) {
            return Some(slot);
        }
    }
    if let Some((name, child)) = &node.param {
        params.push((name.as_str(), seg));
        if let Some(slot) = resource(child, tail, params) {
            return Some(slot);
        }
        params.pop();
    }
    if let Some((name, slot)) = &node.greedy {
        params.push((name.as_str(), rest.trim_end_matches('/')));
        return Some(slot);
    }
    None
}

fn route_name(r: &Route) -> Arc<str> {
    format!("{} {}", r.method, r.path.raw).into()
}

/// A matched route: its position and path parameters.
#[derive(Debug)]
pub struct RouteMatch<'r, 'p> {
    /// Position of the route in its API.
    pub index: usize,
    /// Path parameters as (name, raw value), still percent-encoded.
    pub params: Vec<(&'r str, &'p str)>,
}

impl RouteMatch<'_, '_> {
    /// The raw value of parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }
}

/// One API stage as a mapping target.
#[derive(Debug)]
pub struct StageTarget {
    /// API name.
    pub api: Arc<str>,
    /// Stage name.
    pub stage: Arc<str>,
    /// The API's routes.
    pub router: Arc<ApiRouter>,
    /// Integrations of this stage, by route position.
    pub integrations: Vec<Integration>,
    /// The API's customised gateway responses.
    pub responses: Arc<BTreeMap<String, GatewayResponse>>,
    /// The stage's rule set, for routes that name none.
    pub authorization: Option<Arc<RuleSet>>,
}

/// How one domain picks an API stage: its routing rules (by priority) and its API mappings
/// (longest base path first), as its routing mode says.
#[derive(Debug)]
pub struct DomainRoutes {
    mode: RoutingMode,
    rules: Vec<(RoutingRule, Arc<StageTarget>)>,
    mappings: Vec<(String, Arc<StageTarget>)>,
    /// The default `execute-api` endpoint: every API by name, its stages first in the path.
    execute_api: Option<ExecuteApi>,
}

/// The default endpoint's view: API name -> (default endpoint disabled, stages by name).
type ExecuteApi = BTreeMap<String, (bool, BTreeMap<String, Arc<StageTarget>>)>;

impl DomainRoutes {
    /// Every API stage the domain can reach (a stage reached several ways repeats).
    pub fn targets(&self) -> impl Iterator<Item = &Arc<StageTarget>> {
        let execute_api = self
            .execute_api
            .iter()
            .flat_map(|apis| apis.values())
            .flat_map(|(_, stages)| stages.values());
        self.rules
            .iter()
            .map(|(_, t)| t)
            .chain(self.mappings.iter().map(|(_, t)| t))
            .chain(execute_api)
    }

    /// The stage a request maps to, and the path its routes see. `host` (the authority the
    /// request was sent to) picks the API on the default endpoint.
    pub fn map<'p>(
        &self,
        path: &'p str,
        host: Option<&str>,
        headers: &http::HeaderMap,
    ) -> Result<(&Arc<StageTarget>, &'p str), Refused> {
        if let Some(apis) = &self.execute_api {
            return execute_api(apis, path, host);
        }
        self.on_domain(path, headers).ok_or(Refused::NoRoute)
    }

    fn on_domain<'p>(
        &self,
        path: &'p str,
        headers: &http::HeaderMap,
    ) -> Option<(&Arc<StageTarget>, &'p str)> {
        if self.mode != RoutingMode::ApiMappingOnly {
            if let Some(found) = self.by_rule(path, headers) {
                return Some(found);
            }
            if self.mode == RoutingMode::RoutingRuleOnly {
                return None;
            }
        }
        self.by_mapping(path)
    }

    /// The first rule, by priority, whose every condition holds.
    fn by_rule<'p>(
        &self,
        path: &'p str,
        headers: &http::HeaderMap,
    ) -> Option<(&Arc<StageTarget>, &'p str)> {
        self.rules.iter().find_map(|(rule, target)| {
            let headers_match = rule.headers.iter().all(|(name, glob)| {
                headers
                    .get_all(name)
                    .iter()
                    .any(|v| v.to_str().is_ok_and(|v| glob_match(glob, v)))
            });
            if !headers_match {
                return None;
            }
            let rest = match &rule.base_path {
                None => path,
                Some(base) => {
                    let after = path.strip_prefix('/')?.strip_prefix(base.as_str())?;
                    if !(after.is_empty() || after.starts_with('/')) {
                        return None;
                    }
                    match (rule.strip_base_path, after.is_empty()) {
                        (false, _) => path,
                        (true, true) => "/",
                        (true, false) => after,
                    }
                }
            };
            Some((target, rest))
        })
    }

    /// The API mapping with the longest base path that prefixes `path`.
    fn by_mapping<'p>(&self, path: &'p str) -> Option<(&Arc<StageTarget>, &'p str)> {
        for (base, target) in &self.mappings {
            if base == "/" {
                return Some((target, path));
            }
            if let Some(rest) = path.strip_prefix(base.as_str()) {
                if rest.is_empty() {
                    return Some((target, "/"));
                }
                if rest.starts_with('/') {
                    return Some((target, rest));
                }
            }
        }
        None
    }
}

/// The default endpoint's choice, as API Gateway's `https://{api}.execute-api.../{stage}/...`:
/// the API named by the host's first label (or the only API), the stage by the first path
/// segment. An API that disables the endpoint, or an unknown API or stage, is `Forbidden`.
fn execute_api<'a, 'p>(
    apis: &'a ExecuteApi,
    path: &'p str,
    host: Option<&str>,
) -> Result<(&'a Arc<StageTarget>, &'p str), Refused> {
    let label = host.and_then(|h| h.split(['.', ':']).next()).unwrap_or("");
    let (disabled, stages) = apis
        .get(label)
        .or_else(|| (apis.len() == 1).then(|| apis.values().next()).flatten())
        .ok_or(Refused::Forbidden)?;
    if *disabled {
        return Err(Refused::Forbidden);
    }
    let rest = path.strip_prefix('/').unwrap_or(path);
    let (stage, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let target = stages.get(stage).ok_or(Refused::Forbidden)?;
    Ok((target, tail))
}

/// Build the routes of every domain in `config`, reporting collisions.
pub fn build(config: &Config, sink: &mut ErrorSink) -> Vec<DomainRoutes> {
    build_all(config, sink).0
}

/// Like [`build`], plus the default endpoint's routes when `config` has one.
pub fn build_all(
    config: &Config,
    sink: &mut ErrorSink,
) -> (Vec<DomainRoutes>, Option<DomainRoutes>) {
    let routers: BTreeMap<&str, Arc<ApiRouter>> = config
        .apis
        .iter()
        .map(|(name, api)| (name.as_str(), Arc::new(ApiRouter::build(name, api, sink))))
        .collect();
    let mut stages: BTreeMap<(&str, &str), Arc<StageTarget>> = BTreeMap::new();
    for (api_name, api) in &config.apis {
        let responses = Arc::new(api.gateway_responses.clone());
        for (stage_name, stage) in &api.stages {
            stages.insert(
                (api_name, stage_name),
                Arc::new(StageTarget {
                    api: api_name.as_str().into(),
                    stage: stage_name.as_str().into(),
                    router: routers[api_name.as_str()].clone(),
                    integrations: stage.integrations.clone(),
                    responses: responses.clone(),
                    authorization: stage.authorization.clone(),
                }),
            );
        }
    }
    let execute_api = config.default_endpoint.as_ref().map(|_| {
        let mut apis: ExecuteApi = BTreeMap::new();
        for ((api, stage), target) in &stages {
            let disabled = config.apis[*api].disable_execute_api_endpoint;
            apis.entry((*api).to_owned())
                .or_insert_with(|| (disabled, BTreeMap::new()))
                .1
                .insert((*stage).to_owned(), target.clone());
        }
        DomainRoutes {
            mode: RoutingMode::ApiMappingOnly,
            rules: Vec::new(),
            mappings: Vec::new(),
            execute_api: Some(apis),
        }
    });
    let domains = config
        .domains
        .iter()
        .map(|d| DomainRoutes {
            execute_api: None,
            mode: d.routing_mode,
            rules: d
                .routing_rules
                .iter()
                .filter_map(|r| {
                    let t = stages.get(&(r.api.as_str(), r.stage.as_str()))?;
                    Some((r.clone(), t.clone()))
                })
                .collect(),
            mappings: d
                .mappings
                .iter()
                .filter_map(|m| {
                    let t = stages.get(&(m.api.as_str(), m.stage.as_str()))?;
                    Some((m.base_path.clone(), t.clone()))
                })
                .collect(),
        })
        .collect();
    (domains, execute_api)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(routes: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        let f = |n: &str| {
            let p = dir.path().join(n);
            std::fs::write(&p, "x").unwrap();
            p.display().to_string()
        };
        let text = format!(
            r#"
[[domain]]
name = "api.example.com"
listen = "127.0.0.1:0"
certificate = "{}"
private_key = "{}"
truststore = "{}"
[[domain.mapping]]
base_path = "/"
api = "a"
stage = "prod"
[[domain.mapping]]
base_path = "/orders"
api = "a"
stage = "dev"
[api.a.stages.prod]
variables = {{ b = "pool" }}
[api.a.stages.dev]
variables = {{ b = "127.0.0.1:9" }}
[upstream.pool]
targets = ["127.0.0.1:1"]
{routes}"#,
            f("c"),
            f("k"),
            f("t")
        );
        crate::config::parse(Path::new("t.toml"), &text).map_err(|e| e.to_string())
    }

    fn route(method: &str, path: &str) -> String {
        format!(
            "[[api.a.routes]]\nmethod = \"{method}\"\npath = \"{path}\"\nintegration = \"http://${{stageVariables.b}}/x\"\n"
        )
    }

    #[test]
    fn specific_beats_greedy_and_explicit_beats_any() {
        let routes = [
            route("ANY", "/items/{proxy+}"),
            route("GET", "/things/{id}"),
            route("ANY", "/items/special"),
            route("GET", "/items/special"),
            route("GET", "/items/readonly"),
        ]
        .concat();
        let cfg = config(&routes).unwrap();
        let mut sink = ErrorSink::new(Path::new("t.toml"));
        let domains = build(&cfg, &mut sink);
        assert!(sink.is_empty(), "{:?}", sink);
        let (t, rest) = domains[0]
            .map("/items/special", None, &Default::default())
            .unwrap();
        assert_eq!(rest, "/items/special");
        let r = t.router.at(&Method::GET, rest).unwrap();
        assert_eq!(&**t.router.name(r.index), "GET /items/special");
        let r = t.router.at(&Method::POST, "/items/special").unwrap();
        assert_eq!(&**t.router.name(r.index), "ANY /items/special");
        let r = t.router.at(&Method::GET, "/things/7").unwrap();
        assert_eq!(r.param("id"), Some("7"));
        let r = t.router.at(&Method::POST, "/items/7").unwrap();
        assert_eq!(r.param("proxy"), Some("7"));
        // The resource exists without POST: a miss, never the greedy sibling.
        assert!(t.router.at(&Method::GET, "/items/readonly").is_some());
        assert!(t.router.at(&Method::POST, "/items/readonly").is_none());
        assert!(t.router.at(&Method::POST, "/things/7").is_none());
        let r = t.router.at(&Method::GET, "/items/a/b").unwrap();
        assert_eq!(r.param("proxy"), Some("a/b"));
        assert!(t.router.at(&Method::GET, "/items").is_none());
        assert!(t.router.at(&Method::GET, "/items/").is_none());
    }

    #[test]
    fn greedy_root_does_not_match_slash() {
        let cfg = config(&route("ANY", "/{proxy+}")).unwrap();
        let mut sink = ErrorSink::new(Path::new("t.toml"));
        let domains = build(&cfg, &mut sink);
        let (t, rest) = domains[0].map("/", None, &Default::default()).unwrap();
        assert!(t.router.at(&Method::GET, rest).is_none());
        assert!(t.router.at(&Method::GET, "/x").is_some());
    }

    #[test]
    fn longest_base_path_wins_and_is_stripped() {
        let cfg = config(&route("GET", "/x")).unwrap();
        let mut sink = ErrorSink::new(Path::new("t.toml"));
        let domains = build(&cfg, &mut sink);
        let (t, rest) = domains[0]
            .map("/orders/x", None, &Default::default())
            .unwrap();
        assert_eq!((&*t.stage, rest), ("dev", "/x"));
        let (t, rest) = domains[0]
            .map("/orders", None, &Default::default())
            .unwrap();
        assert_eq!((&*t.stage, rest), ("dev", "/"));
        let (t, rest) = domains[0]
            .map("/ordersx", None, &Default::default())
            .unwrap();
        assert_eq!((&*t.stage, rest), ("prod", "/ordersx"));
    }

    #[test]
    fn duplicate_and_conflicting_routes_are_refused() {
        let cfg = config(&[route("GET", "/x"), route("GET", "/x")].concat()).unwrap();
        let mut sink = ErrorSink::new(Path::new("t.toml"));
        build(&cfg, &mut sink);
        let err = sink.finish(()).unwrap_err().to_string();
        assert!(
            err.contains("api.a.routes[1]") && err.contains("defined twice"),
            "{err}"
        );

        let cfg = config(&[route("GET", "/x/{a}"), route("GET", "/x/{b}/y")].concat()).unwrap();
        let mut sink = ErrorSink::new(Path::new("t.toml"));
        build(&cfg, &mut sink);
        let err = sink.finish(()).unwrap_err().to_string();
        assert!(
            err.contains("routes[1]")
                && err.contains(
                    "A sibling ({a}) of this resource already has a variable path part -- only one is allowed"
                ),
            "{err}"
        );

        // A parameter and a greedy parameter are siblings too, in either order.
        for pair in [
            [route("GET", "/x/{id}"), route("ANY", "/x/{proxy+}")],
            [route("ANY", "/x/{proxy+}"), route("GET", "/x/{id}")],
        ] {
            let cfg = config(&pair.concat()).unwrap();
            let mut sink = ErrorSink::new(Path::new("t.toml"));
            build(&cfg, &mut sink);
            let err = sink.finish(()).unwrap_err().to_string();
            assert!(
                err.contains("routes[1]") && err.contains("only one is allowed"),
                "{err}"
            );
        }
    }
}
