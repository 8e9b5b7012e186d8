//! API Gateway REST exports (`aws apigateway get-export`, OpenAPI 3.0 or Swagger 2.0, JSON or
//! YAML) read into Portcullis routes: every operation is servable, unsupported (which feature,
//! why) or an error (which key, as a JSON pointer).
//!
//! This module knows nothing of the configuration: the configuration passes a `compile` hook
//! down (see [`Context`]) that resolves a route for every stage the way TOML routes are, so the
//! import report and the served configuration agree. What is served or not is decided in one
//! place, [`classify::Feature::served`].

pub mod classify;
pub mod document;
pub mod operations;
pub mod report;

use std::path::PathBuf;

pub use classify::Feature;
pub use document::{Definition, Spec, Syntax, parse, read};
pub use operations::{ANY_METHODS, analyse};

/// API Gateway's default integration timeout, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 29_000;
/// API Gateway's lowest integration timeout, in milliseconds.
pub const MIN_TIMEOUT_MS: u64 = 50;
/// Highest integration timeout accepted, in milliseconds: 30 days, as every `*_ms` key.
pub const MAX_TIMEOUT_MS: u64 = 30 * 24 * 3600 * 1000;

/// Why a file could not be read as an API Gateway REST export at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The file cannot be read.
    #[error("{}: cannot read the API definition: {reason}", file.display())]
    Unreadable {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// Not valid JSON or YAML.
    #[error("{}:{line}:{column}: malformed {}: {reason}", file.display(), syntax.as_str())]
    Malformed {
        /// The file.
        file: PathBuf,
        /// The syntax it was read as.
        syntax: Syntax,
        /// Line, from 1 (0 when unknown).
        line: usize,
        /// Column, from 1 (0 when unknown).
        column: usize,
        /// What the parser said.
        reason: String,
    },
    /// Valid JSON or YAML, but not an API Gateway REST export.
    #[error("{}: {diagnosis}", file.display())]
    NotRestExport {
        /// The file.
        file: PathBuf,
        /// What the file is, and what to do.
        diagnosis: String,
    },
}

/// A problem at one place of the definition.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// JSON pointer (RFC 6901) of the offending key.
    pub pointer: String,
    /// What is wrong.
    pub reason: String,
}

/// Where the upstream is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// The `uri` host is dialled (or the pool named like it).
    Internet,
    /// `connectionType: VPC_LINK`: the pool that `vpc_links` maps this id (or
    /// `${stageVariables.x}`) to.
    VpcLink(String),
}

/// The upstream side of a route: an `http` or `http_proxy` integration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSpec {
    /// Upstream method; `None` for `ANY` (the client's method).
    pub method: Option<http::Method>,
    /// `uri` as written, `${stageVariables.x}` kept.
    pub uri: String,
    /// Internet or VPC link.
    pub connection: Connection,
    /// `timeoutInMillis` (default 29000).
    pub timeout_ms: u64,
    /// `integration.request.path.X` <- source mappings, as (X, source name or expression).
    pub path_mappings: Vec<(String, String)>,
    /// Every `requestParameters` entry as (target, source), served by the gateway's parameter
    /// mappings.
    pub parameters: Vec<(String, String)>,
}

/// A `mock` integration's static answer: the status its request template names, and the
/// static headers of its default integration response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockSpec {
    /// `statusCode` of the `application/json` request template (200 when none).
    pub status: u16,
    /// `method.response.header.X` = `'value'` of the default integration response.
    pub headers: Vec<(String, String)>,
}

/// A check AWS makes before a route's integration that Portcullis cannot make (it has no Lambda,
/// Cognito or IAM): the route is served closed, answering as AWS answers a request that fails it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AwsCheck {
    /// A Lambda or Cognito authorizer: 401 `Unauthorized` (`UNAUTHORIZED`).
    Authorizer,
    /// IAM (SigV4): 403 `Missing Authentication Token` (`MISSING_AUTHENTICATION_TOKEN`).
    Iam,
    /// An API key: 403 `Forbidden` (`INVALID_API_KEY`).
    ApiKey,
}

impl AwsCheck {
    /// The name the configuration's `closed` key takes.
    pub fn as_str(self) -> &'static str {
        match self {
            AwsCheck::Authorizer => "authorizer",
            AwsCheck::Iam => "iam",
            AwsCheck::ApiKey => "api_key",
        }
    }

    /// The check a configuration's `closed` value names.
    pub fn parse(s: &str) -> Result<AwsCheck, String> {
        [AwsCheck::Authorizer, AwsCheck::Iam, AwsCheck::ApiKey]
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not one of \"authorizer\", \"iam\", \"api_key\""))
    }

    /// What a request gets, as AWS answers one without the credential.
    pub fn answer(self) -> &'static str {
        match self {
            AwsCheck::Authorizer => "401 Unauthorized",
            AwsCheck::Iam => "403 Missing Authentication Token",
            AwsCheck::ApiKey => "403 Forbidden",
        }
    }
}

/// What becomes of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Served as AWS would serve it (apart from its notes).
    Servable,
    /// Not served: a feature Portcullis does not serve (yet).
    Unsupported(Feature),
    /// The definition is wrong here.
    Error(Problem),
}

impl Outcome {
    /// `"servable"`, `"unsupported"` or `"error"`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Servable => "servable",
            Outcome::Unsupported(_) => "unsupported",
            Outcome::Error(_) => "error",
        }
    }
}

/// One operation of the definition: a method (or `ANY`) on a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedRoute {
    /// The methods it answers: one, or the `ANY` expansion.
    pub methods: Vec<http::Method>,
    /// Whether it is `x-amazon-apigateway-any-method`.
    pub any: bool,
    /// Path template, `/items/{id}`.
    pub path: String,
    /// JSON pointer of the operation.
    pub pointer: String,
    /// The integration, when it is `http` or `http_proxy`.
    pub upstream: Option<UpstreamSpec>,
    /// The static answer, when the integration is `mock`.
    pub mock: Option<MockSpec>,
    /// What AWS would check first (authorizer, API key, IAM), when anything.
    pub authorization: Option<String>,
    /// The check that keeps the route closed: AWS makes it, Portcullis cannot, and the
    /// configuration does not open the route. The first check AWS makes decides the answer.
    pub closed: Option<AwsCheck>,
    /// An API key in `x-api-key` is all AWS checks: usage plans check it
    /// (`api_key_required`).
    pub api_key_required: bool,
    /// Servable, unsupported or error.
    pub outcome: Outcome,
    /// Differences from AWS worth knowing about a servable route.
    pub notes: Vec<String>,
    /// The integration URL resolved per stage (stage, URL), filled by the `compile` hook.
    pub resolved: Vec<(String, String)>,
}

impl ImportedRoute {
    /// `GET /items` or `ANY /{proxy+}`.
    pub fn name(&self) -> String {
        if self.any {
            format!("ANY {}", self.path)
        } else {
            let m = self.methods.first().map_or("?", http::Method::as_str);
            format!("{m} {}", self.path)
        }
    }
}

/// Which part of a route the `compile` hook found wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The path template.
    Path,
    /// The integration `uri`.
    Uri,
    /// The integration `connectionId`.
    ConnectionId,
}

/// Resolves a servable route for each stage as the configuration would: the resolved URL per
/// stage, or the field at fault and why.
pub type CompileHook<'a> =
    dyn Fn(&ImportedRoute) -> Result<Vec<(String, String)>, (Field, String)> + 'a;

/// What the caller knows beyond the file.
#[derive(Default)]
pub struct Context<'a> {
    /// Routes (`GET /admin`, `ANY /x`) the operator serves without the authorizer or API key
    /// check AWS would make.
    pub open_routes: &'a [String],
    /// Resolves routes per stage; without it, stage variables and VPC links are not checked.
    pub compile: Option<&'a CompileHook<'a>>,
}

/// Everything a definition becomes.
#[derive(Debug, Clone)]
pub struct Import {
    /// `OpenAPI 3.0.1 (YAML)` style description.
    pub describe: String,
    /// The definition's title (`info.title`), when it has one.
    pub title: Option<String>,
    /// One entry per operation, in path order.
    pub routes: Vec<ImportedRoute>,
    /// API-wide features recognised and not applied (resource policy, binary media types...).
    pub api_notes: Vec<String>,
    /// Problems that belong to no single route.
    pub api_errors: Vec<Problem>,
}

/// Counts for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Operations.
    pub routes: usize,
    /// Servable ones.
    pub servable: usize,
    /// Unsupported ones.
    pub unsupported: usize,
    /// Ones in error, plus API-wide errors.
    pub errors: usize,
}

impl Import {
    /// Counts by outcome.
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            routes: self.routes.len(),
            errors: self.api_errors.len(),
            ..Summary::default()
        };
        for r in &self.routes {
            match r.outcome {
                Outcome::Servable => s.servable += 1,
                Outcome::Unsupported(_) => s.unsupported += 1,
                Outcome::Error(_) => s.errors += 1,
            }
        }
        s
    }
}
