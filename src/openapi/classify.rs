//! What Portcullis serves of an API Gateway export, in one place: every feature that keeps a
//! route from being served, whether it is served today ([`Feature::served`]), and why not.
//! When the serving side learns a feature, flip its arm in `served` (and carry the data it
//! needs into the configuration).

use super::{ImportedRoute, Outcome};

/// A feature of an operation that Portcullis does not serve as AWS does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feature {
    /// `type: aws_proxy`: a Lambda function (or another service), named.
    LambdaProxy {
        /// The function (or the ARN when no function is named).
        function: String,
    },
    /// `type: aws`: an AWS service action, named.
    AwsService {
        /// `sqs: action/SendMessage` style.
        action: String,
    },
    /// `type: http` with request or response mapping templates.
    MappingTemplates {
        /// Where the templates are (`requestTemplates`, `responses.default.responseTemplates`).
        at: String,
    },
    /// `passthroughBehavior: NEVER` on a non-proxy integration: AWS answers 415 to bodies.
    PassthroughNever,
    /// `contentHandling: CONVERT_TO_TEXT|CONVERT_TO_BINARY` on a non-proxy integration.
    ContentHandling {
        /// The value.
        value: String,
    },
    /// A `requestParameters` entry that plain proxying does not do.
    RequestParameter {
        /// `integration.request.header.x-tenant`.
        target: String,
        /// `method.request.header.tenant`, `'static'`, `context.requestId`.
        source: String,
    },
    /// A `{x}` in the integration `uri` that no `requestParameters` entry fills.
    UnmappedUriParameter {
        /// The placeholder name.
        name: String,
    },
    /// The upstream `httpMethod` differs from the route's method.
    UpstreamMethod {
        /// The route's method (or ANY).
        route: String,
        /// The upstream method.
        upstream: String,
    },
    /// The TRACE method, which API Gateway does not have.
    TraceMethod,
}

impl Feature {
    /// Whether Portcullis serves a route with this feature today. The one switch: the serving
    /// side flips an arm here once it implements the feature.
    pub fn served(&self) -> bool {
        match self {
            // Served through the route's parameter mappings and upstream method.
            Feature::RequestParameter { .. } | Feature::UpstreamMethod { .. } => true,
            // Not served by design: AWS services, request/response transformation.
            Feature::LambdaProxy { .. }
            | Feature::AwsService { .. }
            | Feature::MappingTemplates { .. }
            | Feature::PassthroughNever
            | Feature::ContentHandling { .. }
            | Feature::UnmappedUriParameter { .. }
            | Feature::TraceMethod => false,
        }
    }

    /// A short name: `mock integration`, `authorizer`, ...
    pub fn name(&self) -> &'static str {
        match self {
            Feature::LambdaProxy { .. } => "Lambda proxy integration",
            Feature::AwsService { .. } => "AWS service integration",
            Feature::MappingTemplates { .. } => "mapping templates",
            Feature::PassthroughNever => "passthroughBehavior NEVER",
            Feature::ContentHandling { .. } => "contentHandling",
            Feature::RequestParameter { .. } => "requestParameters",
            Feature::UnmappedUriParameter { .. } => "unmapped uri parameter",
            Feature::UpstreamMethod { .. } => "upstream method",
            Feature::TraceMethod => "TRACE method",
        }
    }

    /// Why the route is not served, and what would serve it.
    pub fn reason(&self) -> String {
        match self {
            Feature::LambdaProxy { function } => format!(
                "invokes Lambda function `{function}`; Portcullis forwards HTTP only (put an HTTP \
                 endpoint in front of the function and use an http_proxy integration)"
            ),
            Feature::AwsService { action } => {
                format!("calls AWS service action `{action}`; Portcullis forwards HTTP only")
            }
            Feature::MappingTemplates { at } => format!(
                "`type: http` with mapping templates ({at}) rewrites bodies with VTL; Portcullis \
                 does not run templates"
            ),
            Feature::PassthroughNever => {
                "passthroughBehavior NEVER answers 415 to every request body (no templates); \
                 Portcullis would pass bodies through"
                    .to_owned()
            }
            Feature::ContentHandling { value } => format!(
                "contentHandling {value} converts bodies (base64); Portcullis passes bodies \
                 through unchanged"
            ),
            Feature::RequestParameter { target, source } => format!(
                "maps `{source}` to `{target}`; only `integration.request.path.X` from \
                 `method.request.path.X` (plain proxying) is served; not served yet"
            ),
            Feature::UnmappedUriParameter { name } => format!(
                "the uri has `{{{name}}}` but no requestParameters entry \
                 `integration.request.path.{name}` fills it"
            ),
            Feature::UpstreamMethod { route, upstream } => format!(
                "the upstream method {upstream} differs from the route's {route}; not served yet"
            ),
            Feature::TraceMethod => "API Gateway has no TRACE method".to_owned(),
        }
    }
}

/// The outcome of a route from what was found in it: the first problem, else the first feature
/// not served, else servable.
pub fn decide(problems: Vec<super::Problem>, features: Vec<Feature>) -> Outcome {
    if let Some(p) = problems.into_iter().next() {
        return Outcome::Error(p);
    }
    match features.into_iter().find(|f| !f.served()) {
        Some(f) => Outcome::Unsupported(f),
        None => Outcome::Servable,
    }
}

/// One segment of a path template, for overlap checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seg<'a> {
    Literal(&'a str),
    Param,
    Greedy,
}

fn segments(path: &str) -> Vec<Seg<'_>> {
    path.trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s.starts_with('{') && s.ends_with("+}") {
                Seg::Greedy
            } else if s.starts_with('{') && s.ends_with('}') {
                Seg::Param
            } else {
                Seg::Literal(s)
            }
        })
        .collect()
}

/// Whether some request for a path of template `hidden` matches template `served`.
fn paths_overlap(served: &[Seg<'_>], hidden: &[Seg<'_>]) -> bool {
    match (served.first(), hidden.first()) {
        (None, None) => true,
        (Some(Seg::Greedy), Some(_)) => true,
        (Some(_), Some(Seg::Greedy)) => true,
        (None, Some(_)) | (Some(_), None) => false,
        (Some(Seg::Literal(a)), Some(Seg::Literal(b))) if a != b => false,
        (Some(_), Some(_)) => paths_overlap(&served[1..], &hidden[1..]),
    }
}

/// For each route that is not served, the servable routes that would answer (some of) its
/// requests instead, as (route index, served route index) pairs. A route the router prefers
/// (its own, more specific template) is not served, so a broader one catches its requests.
pub fn shadowed(routes: &[ImportedRoute]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let served: Vec<(usize, Vec<Seg<'_>>)> = routes
        .iter()
        .enumerate()
        .filter(|(_, r)| r.outcome == Outcome::Servable)
        .map(|(i, r)| (i, segments(&r.path)))
        .collect();
    for (i, r) in routes.iter().enumerate() {
        if r.outcome == Outcome::Servable {
            continue;
        }
        let hidden = segments(&r.path);
        for (j, segs) in &served {
            let same_method = routes[*j].methods.iter().any(|m| r.methods.contains(m));
            if same_method && paths_overlap(segs, &hidden) {
                out.push((i, *j));
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str, outcome: Outcome) -> ImportedRoute {
        ImportedRoute {
            methods: vec![method.parse().unwrap()],
            any: false,
            path: path.to_owned(),
            pointer: String::new(),
            upstream: None,
            mock: None,
            authorization: None,
            closed: None,
            api_key_required: false,
            outcome,
            notes: vec![],
            resolved: vec![],
        }
    }

    #[test]
    fn nothing_is_served_that_the_serving_side_cannot_do_yet() {
        for f in [Feature::PassthroughNever, Feature::TraceMethod] {
            assert!(!f.served(), "{f:?}");
            assert!(decide(vec![], vec![f.clone()]) == Outcome::Unsupported(f));
        }
        assert_eq!(decide(vec![], vec![]), Outcome::Servable);
    }

    #[test]
    fn a_problem_outranks_a_feature() {
        let p = super::super::Problem {
            pointer: "/paths".into(),
            reason: "x".into(),
        };
        assert_eq!(
            decide(vec![p.clone()], vec![Feature::PassthroughNever]),
            Outcome::Error(p)
        );
    }

    #[test]
    fn a_broader_served_route_catches_an_unserved_one() {
        let unsupported = Outcome::Unsupported(Feature::PassthroughNever);
        let routes = vec![
            route("GET", "/admin", unsupported.clone()),
            route("GET", "/{proxy+}", Outcome::Servable),
            route("POST", "/orders/{id}", unsupported.clone()),
            route("GET", "/orders/{id}", Outcome::Servable),
            route("GET", "/health", unsupported.clone()),
            route("GET", "/items/{id}", Outcome::Servable),
        ];
        assert_eq!(shadowed(&routes), vec![(0, 1), (4, 1)]);
        assert!(paths_overlap(
            &segments("/items/{id}"),
            &segments("/items/42")
        ));
        assert!(!paths_overlap(
            &segments("/items/{id}"),
            &segments("/items")
        ));
        assert!(!paths_overlap(&segments("/{proxy+}"), &segments("/")));
    }
}
