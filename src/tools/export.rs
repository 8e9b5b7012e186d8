//! `portcullis export`: an API of the configuration written as an API Gateway importable
//! definition (OpenAPI 3.0 or Swagger 2.0, JSON), with an `x-amazon-apigateway-integration` for
//! every route, so the API a team runs here can go to AWS and come back through `import`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::config::{Api, Config, Route, RouteMethod};
use crate::openapi::AwsCheck;

/// The definition's flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenAPI 3.0.1 (`--export-type oas30`).
    Oas30,
    /// Swagger 2.0 (`--export-type swagger`).
    Swagger,
}

impl Format {
    /// `oas30` or `swagger`.
    pub fn parse(s: &str) -> Result<Format, String> {
        match s {
            "oas30" => Ok(Format::Oas30),
            "swagger" => Ok(Format::Swagger),
            _ => Err(format!("`{s}` is not a format: oas30 or swagger")),
        }
    }
}

/// Why an API cannot be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// No such API in the configuration.
    #[error("no API `{api}` in the configuration (it has: {known})")]
    UnknownApi {
        /// The API asked for.
        api: String,
        /// The APIs there are.
        known: String,
    },
    /// No such stage of the API.
    #[error("API `{api}` has no stage `{stage}` (it has: {known})")]
    UnknownStage {
        /// The API.
        api: String,
        /// The stage asked for.
        stage: String,
        /// The stages there are.
        known: String,
    },
}

/// The definition of API `name`, and notes on what AWS will need besides it. With `stage`,
/// stage variables in integration URLs are replaced by that stage's values.
pub fn export(
    config: &Config,
    name: &str,
    stage: Option<&str>,
    format: Format,
) -> Result<(Value, Vec<String>), ExportError> {
    let api = config
        .apis
        .get(name)
        .ok_or_else(|| ExportError::UnknownApi {
            api: name.to_owned(),
            known: config.apis.keys().cloned().collect::<Vec<_>>().join(", "),
        })?;
    let variables = match stage {
        None => None,
        Some(s) => Some(
            &api.stages
                .get(s)
                .ok_or_else(|| ExportError::UnknownStage {
                    api: name.to_owned(),
                    stage: s.to_owned(),
                    known: api.stages.keys().cloned().collect::<Vec<_>>().join(", "),
                })?
                .variables,
        ),
    };
    let mut notes = Vec::new();
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut schemes: BTreeMap<&'static str, Value> = BTreeMap::new();
    for route in &api.routes {
        let key = match &route.method {
            RouteMethod::Any => "x-amazon-apigateway-any-method".to_owned(),
            RouteMethod::Exact(m) => m.as_str().to_ascii_lowercase(),
        };
        let op = operation(route, variables, format, &mut schemes, &mut notes);
        let host = crate::openapi::operations::uri_host(&route.integration);
        if route.mock.is_none() && config.upstreams.contains_key(host) {
            notes.push(format!(
                "{} {}: pool `{host}` is exported as the uri host; on AWS, reach it through a \
                 VPC link (connectionType VPC_LINK) to the load balancer in front of its targets",
                route.method, route.path.raw
            ));
        }
        paths
            .entry(route.path.raw.clone())
            .or_default()
            .insert(key, op);
    }
    let mut root = match format {
        Format::Oas30 => json!({"openapi": "3.0.1", "info": {"title": name, "version": "1"}}),
        Format::Swagger => {
            json!({"swagger": "2.0", "info": {"title": name, "version": "1"}, "basePath": "/"})
        }
    };
    root["paths"] = json!(paths);
    if !schemes.is_empty() {
        match format {
            Format::Oas30 => root["components"] = json!({"securitySchemes": schemes}),
            Format::Swagger => root["securityDefinitions"] = json!(schemes),
        }
    }
    if !api.gateway_responses.is_empty() {
        root["x-amazon-apigateway-gateway-responses"] = gateway_responses(api);
    }
    if api.disable_execute_api_endpoint {
        let flag = json!({"disableExecuteApiEndpoint": true});
        match format {
            Format::Oas30 => {
                root["servers"] =
                    json!([{"url": "/", "x-amazon-apigateway-endpoint-configuration": flag}])
            }
            Format::Swagger => root["x-amazon-apigateway-endpoint-configuration"] = flag,
        }
    }
    Ok((root, notes))
}

/// One route as an operation with its integration.
fn operation(
    route: &Route,
    variables: Option<&BTreeMap<String, String>>,
    format: Format,
    schemes: &mut BTreeMap<&'static str, Value>,
    notes: &mut Vec<String>,
) -> Value {
    let name = format!("{} {}", route.method, route.path.raw);
    let mut op = Map::new();
    let params: Vec<Value> = route
        .path
        .params
        .iter()
        .map(|p| match format {
            Format::Oas30 => {
                json!({"name": p, "in": "path", "required": true, "schema": {"type": "string"}})
            }
            Format::Swagger => json!({"name": p, "in": "path", "required": true, "type": "string"}),
        })
        .collect();
    if !params.is_empty() {
        op.insert("parameters".into(), Value::Array(params));
    }
    let guard = match (route.closed, route.api_key_required) {
        (Some(c), _) => Some(c),
        (None, true) => Some(AwsCheck::ApiKey),
        (None, false) => None,
    };
    if let Some(check) = guard {
        let (scheme, def) = scheme(check);
        if check == AwsCheck::Authorizer {
            notes.push(format!(
                "{name}: closed behind an authorizer; give `{scheme}` its authorizerUri on AWS"
            ));
        }
        schemes.insert(scheme, def);
        op.insert("security".into(), json!([{ scheme: [] }]));
    }
    let integration = match &route.mock {
        Some(m) => {
            let headers: Map<String, Value> = m
                .headers
                .iter()
                .filter_map(|(n, v)| {
                    let v = v.to_str().ok()?;
                    Some((
                        format!("method.response.header.{n}"),
                        json!(format!("'{v}'")),
                    ))
                })
                .collect();
            if !m.body.is_empty() {
                notes.push(format!(
                    "{name}: the mock's body is not exported (AWS writes it as a response template)"
                ));
            }
            json!({
                "type": "mock",
                "requestTemplates": {"application/json": format!("{{\"statusCode\": {}}}", m.status.as_u16())},
                "responses": {"default": {"statusCode": m.status.as_str(), "responseParameters": headers}},
                "passthroughBehavior": "when_no_match",
            })
        }
        None => {
            let uri = match variables {
                Some(v) => crate::config::substitute_stage_variables(&route.integration, v)
                    .unwrap_or_else(|_| route.integration.clone()),
                None => route.integration.clone(),
            };
            let method = match (&route.upstream_method, &route.method) {
                (Some(m), _) | (None, RouteMethod::Exact(m)) => m.as_str().to_owned(),
                (None, RouteMethod::Any) => "ANY".to_owned(),
            };
            let mut mappings: Map<String, Value> = route
                .parameters
                .iter()
                .map(|m| {
                    let (t, s) = m.to_aws();
                    (t, Value::String(s))
                })
                .collect();
            // A `{name}` of the uri that no mapping fills takes the route's own parameter, as
            // AWS needs it written.
            for p in &route.path.params {
                let target = format!("integration.request.path.{p}");
                if uri.contains(&format!("{{{p}}}")) && !mappings.contains_key(&target) {
                    mappings.insert(target, json!(format!("method.request.path.{p}")));
                }
            }
            let mut i = json!({
                "type": "http_proxy",
                "httpMethod": method,
                "uri": uri,
                "passthroughBehavior": "when_no_match",
                "timeoutInMillis": u64::try_from(route.timeout.as_millis()).unwrap_or(u64::MAX),
            });
            if !mappings.is_empty() {
                i["requestParameters"] = Value::Object(mappings);
            }
            i
        }
    };
    op.insert("x-amazon-apigateway-integration".into(), integration);
    Value::Object(op)
}

/// The security scheme a guarded route names, as API Gateway defines it.
fn scheme(check: AwsCheck) -> (&'static str, Value) {
    match check {
        AwsCheck::ApiKey => (
            "api_key",
            json!({"type": "apiKey", "name": "x-api-key", "in": "header"}),
        ),
        AwsCheck::Iam => (
            "sigv4",
            json!({"type": "apiKey", "name": "Authorization", "in": "header",
                   "x-amazon-apigateway-authtype": "awsSigv4"}),
        ),
        AwsCheck::Authorizer => (
            "authorizer",
            json!({"type": "apiKey", "name": "Authorization", "in": "header",
                   "x-amazon-apigateway-authtype": "custom",
                   "x-amazon-apigateway-authorizer": {"type": "token"}}),
        ),
    }
}

/// `x-amazon-apigateway-gateway-responses` from the API's customised responses.
fn gateway_responses(api: &Api) -> Value {
    let mut out = Map::new();
    for (kind, r) in &api.gateway_responses {
        let mut v = Map::new();
        if let Some(s) = r.status {
            v.insert("statusCode".into(), json!(s.as_str()));
        }
        let headers: Map<String, Value> = r
            .headers
            .iter()
            .filter_map(|(n, val)| {
                let val = val.to_str().ok()?;
                Some((
                    format!("gatewayresponse.header.{n}"),
                    json!(format!("'{val}'")),
                ))
            })
            .collect();
        if !headers.is_empty() {
            v.insert("responseParameters".into(), Value::Object(headers));
        }
        if let Some(t) = &r.template {
            v.insert("responseTemplates".into(), json!({"application/json": t}));
        }
        out.insert(kind.clone(), Value::Object(v));
    }
    Value::Object(out)
}
