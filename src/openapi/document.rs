//! Reading a definition file: JSON or YAML into one JSON value, and telling an API Gateway REST
//! export apart from the files people confuse with one (HTTP API exports, CloudFormation
//! templates, OpenAPI 3.1).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::LoadError;

/// The syntax a definition is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Syntax {
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

impl Syntax {
    /// `"JSON"` or `"YAML"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Syntax::Json => "JSON",
            Syntax::Yaml => "YAML",
        }
    }
}

/// The specification a definition follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spec {
    /// OpenAPI 3.0.x (`aws apigateway get-export --export-type oas30`).
    OpenApi30,
    /// Swagger 2.0 (`--export-type swagger`).
    Swagger20,
}

/// An API Gateway REST export, parsed.
#[derive(Debug, Clone)]
pub struct Definition {
    /// The file it was read from.
    pub file: PathBuf,
    /// JSON or YAML.
    pub syntax: Syntax,
    /// OpenAPI 3.0 or Swagger 2.0.
    pub spec: Spec,
    /// The version string as written (`3.0.1`, `2.0`).
    pub version: String,
    /// The whole document.
    pub root: Value,
}

impl Definition {
    /// `OpenAPI 3.0.1 (YAML)` style description.
    pub fn describe(&self) -> String {
        let spec = match self.spec {
            Spec::OpenApi30 => "OpenAPI",
            Spec::Swagger20 => "Swagger",
        };
        format!("{spec} {} ({})", self.version, self.syntax.as_str())
    }
}

/// Read and recognise the definition at `path`.
pub fn read(path: &Path) -> Result<Definition, LoadError> {
    let data = crate::file_read::read_regular(path).map_err(|reason| LoadError::Unreadable {
        file: path.to_path_buf(),
        reason,
    })?;
    let text = String::from_utf8(data).map_err(|e| LoadError::Unreadable {
        file: path.to_path_buf(),
        reason: format!("not UTF-8: {e}"),
    })?;
    parse(path, &text)
}

/// Recognise definition `text` as if read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<Definition, LoadError> {
    let (syntax, root) = parse_value(path, text)?;
    let diagnose = |diagnosis: String| LoadError::NotRestExport {
        file: path.to_path_buf(),
        diagnosis,
    };
    let Some(obj) = root.as_object() else {
        return Err(diagnose(format!(
            "not an API definition: the document is {}, not a mapping with `openapi` or `swagger`",
            kind_of(&root)
        )));
    };
    if obj.contains_key("AWSTemplateFormatVersion")
        || obj.contains_key("Resources")
        || obj.contains_key("Transform")
    {
        return Err(diagnose(
            "a CloudFormation template, not an API definition: copy the `Body` of the \
             AWS::ApiGateway::RestApi (or the `DefinitionBody` of the AWS::Serverless::Api) \
             into its own file, or run `aws apigateway get-export` on the deployed API"
                .to_owned(),
        ));
    }
    if obj.contains_key("x-amazon-apigateway-importexport-version") || has_payload_format(obj) {
        return Err(diagnose(
            "an HTTP API (API Gateway v2) export (it has `x-amazon-apigateway-importexport-version` \
             or `payloadFormatVersion`): Portcullis serves REST APIs; export a REST API with \
             `aws apigateway get-export --export-type oas30 --parameters extensions=integrations`"
                .to_owned(),
        ));
    }
    let version = |key: &str| obj.get(key).map(scalar_text);
    let (spec, version) = match (version("openapi"), version("swagger")) {
        (Some(v), _) if v.starts_with("3.0") => (Spec::OpenApi30, v),
        (Some(v), _) if v.starts_with("3.1") => {
            return Err(diagnose(format!(
                "OpenAPI {v}: API Gateway REST APIs export OpenAPI 3.0 (`--export-type oas30`) \
                 or Swagger 2.0; 3.1 is not an API Gateway export"
            )));
        }
        (Some(v), _) => {
            return Err(diagnose(format!(
                "OpenAPI {v} is not supported: expected 3.0.x or Swagger 2.0"
            )));
        }
        (None, Some(v)) if v == "2.0" => (Spec::Swagger20, v),
        (None, Some(v)) => {
            return Err(diagnose(format!(
                "Swagger {v} is not supported: expected 2.0"
            )));
        }
        (None, None) => {
            return Err(diagnose(
                "not an OpenAPI or Swagger document: no `openapi` or `swagger` key at the top"
                    .to_owned(),
            ));
        }
    };
    Ok(Definition {
        file: path.to_path_buf(),
        syntax,
        spec,
        version,
        root,
    })
}

/// Whether any integration of the document has `payloadFormatVersion` (HTTP APIs only).
fn has_payload_format(root: &Map<String, Value>) -> bool {
    let Some(paths) = root.get("paths").and_then(Value::as_object) else {
        return false;
    };
    paths
        .values()
        .filter_map(Value::as_object)
        .flat_map(|item| item.values())
        .filter_map(|op| op.get("x-amazon-apigateway-integration"))
        .any(|i| i.get("payloadFormatVersion").is_some())
}

/// `"3.0.1"` for a string, the number's text for `3.0` written unquoted.
fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// "a list", "a string", ... for messages.
pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// JSON when the file says so (by extension or a leading `{`), YAML otherwise.
fn parse_value(path: &Path, text: &str) -> Result<(Syntax, Value), LoadError> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let json = match ext.as_deref() {
        Some("json") => true,
        Some("yaml" | "yml") => false,
        _ => text.trim_start().starts_with('{'),
    };
    let malformed =
        |syntax: Syntax, line: usize, column: usize, reason: String| LoadError::Malformed {
            file: path.to_path_buf(),
            syntax,
            line,
            column,
            reason,
        };
    if json {
        return serde_json::from_str(text)
            .map(|v| (Syntax::Json, v))
            .map_err(|e| {
                let reason = e.to_string();
                let reason = reason
                    .split(" at line ")
                    .next()
                    .unwrap_or(&reason)
                    .to_owned();
                malformed(Syntax::Json, e.line(), e.column(), reason)
            });
    }
    let yaml: serde_norway::Value = serde_norway::from_str(text).map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        // The position leads the message already; keep the parser's context after it.
        let reason = e
            .to_string()
            .replacen(&format!(" at line {line} column {column}"), "", 1);
        malformed(Syntax::Yaml, line, column, reason)
    })?;
    Ok((Syntax::Yaml, yaml_to_json(yaml)))
}

/// A YAML value as JSON: keys become strings (`200:` is `"200"`), tags (`!Ref`) are dropped.
fn yaml_to_json(v: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::Null, Value::Number)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (key_text(k), yaml_to_json(v)))
                .collect(),
        ),
        Y::Tagged(t) => yaml_to_json(t.value),
    }
}

fn key_text(k: serde_norway::Value) -> String {
    match yaml_to_json(k) {
        Value::String(s) => s,
        Value::Null => "null".to_owned(),
        other => other.to_string(),
    }
}

/// RFC 6901 escaping of one reference token.
pub fn pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diagnosis(name: &str, text: &str) -> String {
        parse(Path::new(name), text).unwrap_err().to_string()
    }

    #[test]
    fn json_and_yaml_are_read_alike() {
        let j = parse(
            Path::new("a.json"),
            r#"{"openapi":"3.0.1","paths":{"/a":{"get":{}}}}"#,
        )
        .unwrap();
        let y = parse(
            Path::new("a.yaml"),
            "openapi: 3.0.1\npaths:\n  /a:\n    get: {}\n",
        )
        .unwrap();
        assert_eq!(j.root, y.root);
        assert_eq!((j.syntax, y.syntax), (Syntax::Json, Syntax::Yaml));
        assert_eq!(y.describe(), "OpenAPI 3.0.1 (YAML)");
    }

    #[test]
    fn yaml_integer_keys_become_strings() {
        let y = parse(
            Path::new("a.yaml"),
            "swagger: '2.0'\npaths:\n  /a:\n    get:\n      responses:\n        200: {}\n",
        )
        .unwrap();
        assert!(y.root.pointer("/paths/~1a/get/responses/200").is_some());
        assert_eq!(y.spec, Spec::Swagger20);
    }

    #[test]
    fn malformed_files_name_line_and_column() {
        let e = diagnosis(
            "a.json",
            "{\n  \"openapi\": \"3.0.1\",\n  \"paths\": {,}\n}",
        );
        assert!(e.starts_with("a.json:3:"), "{e}");
        assert!(e.contains("malformed JSON"), "{e}");
        let e = diagnosis("a.yaml", "openapi: 3.0.1\npaths:\n  /a: [\n");
        assert!(e.starts_with("a.yaml:"), "{e}");
        assert!(e.contains("malformed YAML"), "{e}");
    }

    #[test]
    fn look_alikes_get_a_diagnosis() {
        let e = diagnosis(
            "v2.yaml",
            "openapi: 3.0.1\nx-amazon-apigateway-importexport-version: '1.0'\npaths: {}\n",
        );
        assert!(e.contains("HTTP API"), "{e}");
        let e = diagnosis(
            "v2.yaml",
            "openapi: 3.0.1\npaths:\n  /a:\n    get:\n      x-amazon-apigateway-integration:\n        payloadFormatVersion: '2.0'\n",
        );
        assert!(e.contains("payloadFormatVersion"), "{e}");
        let e = diagnosis(
            "cfn.yaml",
            "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Api:\n    Type: AWS::ApiGateway::RestApi\n    Properties:\n      Body: !Ref X\n",
        );
        assert!(e.contains("CloudFormation") && e.contains("Body"), "{e}");
        let e = diagnosis("a.yaml", "openapi: 3.1.0\npaths: {}\n");
        assert!(e.contains("OpenAPI 3.1.0"), "{e}");
        let e = diagnosis("a.yaml", "- 1\n");
        assert!(e.contains("a list"), "{e}");
        let e = diagnosis("a.yaml", "info: {}\n");
        assert!(e.contains("no `openapi` or `swagger`"), "{e}");
    }
}
