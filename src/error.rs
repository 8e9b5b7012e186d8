//! Request-path errors and the gateway responses they become: which side failed (the client,
//! the upstream, the gateway itself) decides the response, as API Gateway shapes it (same
//! status, JSON `{"message": ...}` body, `x-amzn-errortype` header), the log level and the
//! metric labels.

use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Response, StatusCode};

use std::collections::BTreeMap;

use crate::body::ResponseBody;
use crate::config::GatewayResponse;
use crate::openapi::AwsCheck;

/// `x-amzn-errortype`: the error type header API Gateway sends with gateway responses.
pub const X_AMZN_ERRORTYPE: HeaderName = HeaderName::from_static("x-amzn-errortype");

/// Which side of the proxy a failure belongs to, for responses, logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client sent something we refuse.
    Downstream,
    /// The upstream failed.
    Upstream,
    /// The gateway itself failed.
    Internal,
}

impl Side {
    /// The `side` label of logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Downstream => "downstream",
            Side::Upstream => "upstream",
            Side::Internal => "internal",
        }
    }
}

/// What the client did wrong, as far as the gateway refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// No route matches (API Gateway answers 403 here, not 404).
    #[error("no route matches")]
    NoRoute,
    /// The request is malformed: path, framing, authority.
    #[error("{0}")]
    BadRequest(&'static str),
    /// The head is over `max_header_bytes`.
    #[error("request head over max_header_bytes")]
    HeadTooLarge,
    /// The target is over `max_uri_bytes`.
    #[error("request target over max_uri_bytes")]
    UriTooLong,
    /// The body is over `max_body_bytes`.
    #[error("request body over max_body_bytes")]
    BodyTooLarge,
    /// The body did not arrive within `request_body_timeout`.
    #[error("request body not received within request_body_timeout")]
    BodyTimedOut,
    /// The body's framing broke (bad chunk line, size overflow, truncated).
    #[error("malformed request body")]
    BodyMalformed,
    /// Not served here: an API that disables the default endpoint, an unknown API or stage.
    #[error("forbidden")]
    Forbidden,
    /// An imported route AWS serves only after a check Portcullis cannot make.
    #[error("route closed: AWS makes a {0:?} check first")]
    Closed(crate::openapi::AwsCheck),
    /// A token bucket that applies is empty.
    #[error("throttled: retry after {retry_after} s")]
    Throttled {
        /// Whole seconds until the bucket has a token.
        retry_after: u32,
    },
    /// The usage plan's quota for the period is used up.
    #[error("usage plan quota exceeded")]
    QuotaExceeded,
    /// The route needs an API key: none was sent, or not one of a plan covering the stage.
    #[error("missing or unknown API key")]
    InvalidApiKey,
}

/// Why the gateway answered a request itself, by side.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The client's fault: a 4xx.
    #[error("refused: {0}")]
    Downstream(#[from] Refused),
    /// The upstream's: a 5xx (or 429 when every target is busy).
    #[error("upstream: {0}")]
    Upstream(#[from] crate::upstream::SendError),
    /// The gateway's own: a 500.
    #[error("internal: {0}")]
    Internal(&'static str),
    /// The client's certificate may not call the route: a 403, naming the deciding rule.
    #[error("access denied: {}", .0.reason)]
    AccessDenied(Box<Denial>),
}

/// An authorization refusal: the deciding rule, in words, and whether an explicit deny made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The rule, such as `partners.deny[0]` or `partners.allow`.
    pub rule: String,
    /// Why, as the access log and `explain` say it.
    pub reason: String,
    /// An explicit deny rule matched (rather than no allow rule).
    pub explicit: bool,
}

impl RequestError {
    /// Which side failed.
    pub fn side(&self) -> Side {
        match self {
            RequestError::Downstream(_) | RequestError::AccessDenied(_) => Side::Downstream,
            RequestError::Upstream(_) => Side::Upstream,
            RequestError::Internal(_) => Side::Internal,
        }
    }

    /// The gateway response the client gets.
    pub fn gateway_error(&self) -> GatewayError {
        use crate::upstream::SendError;
        match self {
            RequestError::Downstream(r) => match *r {
                Refused::NoRoute => GatewayError::MissingAuthenticationToken,
                Refused::BadRequest(m) => GatewayError::BadRequest(m),
                Refused::HeadTooLarge => GatewayError::HeadersTooLarge,
                Refused::UriTooLong => GatewayError::UriTooLong,
                Refused::BodyTooLarge => GatewayError::RequestTooLarge,
                Refused::BodyTimedOut => GatewayError::RequestTimeout,
                Refused::BodyMalformed => GatewayError::BadRequest("Malformed request body"),
                Refused::Forbidden => GatewayError::Forbidden,
                Refused::Closed(AwsCheck::Authorizer) => GatewayError::Unauthorized,
                Refused::Closed(AwsCheck::Iam) => GatewayError::MissingAuthenticationToken,
                Refused::Closed(AwsCheck::ApiKey) => GatewayError::InvalidApiKey,
                Refused::Throttled { retry_after } => GatewayError::RateLimited(retry_after),
                Refused::QuotaExceeded => GatewayError::QuotaExceeded,
                Refused::InvalidApiKey => GatewayError::InvalidApiKey,
            },
            RequestError::Upstream(e) => match e {
                SendError::AllBusy(_) => GatewayError::Throttled,
                SendError::Timeout { .. } => GatewayError::IntegrationTimeout,
                SendError::Malformed { .. } => GatewayError::BadGateway("Bad Gateway"),
                SendError::Failed { .. } => GatewayError::IntegrationFailure,
            },
            RequestError::Internal(_) => GatewayError::Internal,
            RequestError::AccessDenied(d) => GatewayError::AccessDenied {
                explicit: d.explicit,
            },
        }
    }
}

/// A response the gateway produces itself instead of forwarding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayError {
    /// No route matched (API Gateway answers 403 here, not 404).
    MissingAuthenticationToken,
    /// The path could escape its prefix, or the framing is ambiguous.
    BadRequest(&'static str),
    /// The request body is over `max_body_bytes`.
    RequestTooLarge,
    /// The request head is over `max_header_bytes`.
    HeadersTooLarge,
    /// The request target is over `max_uri_bytes`.
    UriTooLong,
    /// The upstream answered with something the gateway will not relay (an unsolicited
    /// `101`, a malformed head).
    BadGateway(&'static str),
    /// The request body did not arrive within `request_body_timeout`.
    RequestTimeout,
    /// The upstream refused or could not be reached.
    IntegrationFailure,
    /// The upstream did not answer within the route's timeout.
    IntegrationTimeout,
    /// Every target of the pool is at its `max_connections`.
    Throttled,
    /// The gateway itself failed.
    Internal,
    /// Refused outright (API Gateway's `{"message":"Forbidden"}`).
    Forbidden,
    /// No valid authorizer credential (API Gateway's `UNAUTHORIZED`).
    Unauthorized,
    /// No valid API key (API Gateway's `INVALID_API_KEY`).
    InvalidApiKey,
    /// The client's certificate may not call the route (API Gateway's `ACCESS_DENIED`, as an
    /// authorizer's refusal answers).
    AccessDenied {
        /// An explicit deny rule matched.
        explicit: bool,
    },
    /// A token bucket is empty: retry after this many seconds.
    RateLimited(u32),
    /// A usage plan's quota is used up.
    QuotaExceeded,
}

impl GatewayError {
    /// HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            GatewayError::MissingAuthenticationToken => StatusCode::FORBIDDEN,
            GatewayError::BadRequest(_) => StatusCode::BAD_REQUEST,
            GatewayError::RequestTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            GatewayError::UriTooLong => StatusCode::URI_TOO_LONG,
            GatewayError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            GatewayError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            GatewayError::IntegrationFailure | GatewayError::IntegrationTimeout => {
                StatusCode::GATEWAY_TIMEOUT
            }
            GatewayError::Throttled
            | GatewayError::RateLimited(_)
            | GatewayError::QuotaExceeded => StatusCode::TOO_MANY_REQUESTS,
            GatewayError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            GatewayError::Forbidden
            | GatewayError::InvalidApiKey
            | GatewayError::AccessDenied { .. } => StatusCode::FORBIDDEN,
            GatewayError::Unauthorized => StatusCode::UNAUTHORIZED,
        }
    }

    /// The `message` of the JSON body.
    pub fn message(self) -> &'static str {
        match self {
            GatewayError::MissingAuthenticationToken => "Missing Authentication Token",
            GatewayError::BadRequest(m) => m,
            GatewayError::RequestTooLarge => "Request Too Long",
            GatewayError::HeadersTooLarge => "Request Header Fields Too Large",
            GatewayError::UriTooLong => "Request-URI Too Long",
            GatewayError::BadGateway(m) => m,
            GatewayError::RequestTimeout => "Request Timeout",
            GatewayError::IntegrationFailure => "Network error communicating with endpoint",
            GatewayError::IntegrationTimeout => "Endpoint request timed out",
            GatewayError::Throttled | GatewayError::RateLimited(_) => "Too Many Requests",
            GatewayError::Internal => "Internal server error",
            GatewayError::Forbidden | GatewayError::InvalidApiKey => "Forbidden",
            GatewayError::Unauthorized => "Unauthorized",
            GatewayError::AccessDenied { explicit: true } => {
                "User is not authorized to access this resource with an explicit deny"
            }
            GatewayError::AccessDenied { explicit: false } => {
                "User is not authorized to access this resource"
            }
            GatewayError::QuotaExceeded => "Limit Exceeded",
        }
    }

    /// API Gateway's gateway response type, for logs.
    pub fn response_type(self) -> &'static str {
        match self {
            GatewayError::MissingAuthenticationToken => "MISSING_AUTHENTICATION_TOKEN",
            GatewayError::BadRequest(_) => "BAD_REQUEST_PARAMETERS",
            GatewayError::RequestTooLarge => "REQUEST_TOO_LARGE",
            GatewayError::HeadersTooLarge => "REQUEST_HEADER_FIELDS_TOO_LARGE",
            GatewayError::UriTooLong => "REQUEST_TOO_LARGE",
            GatewayError::BadGateway(_) => "INTEGRATION_FAILURE",
            GatewayError::RequestTimeout => "REQUEST_TIMEOUT",
            GatewayError::IntegrationFailure => "INTEGRATION_FAILURE",
            GatewayError::IntegrationTimeout => "INTEGRATION_TIMEOUT",
            GatewayError::Throttled | GatewayError::RateLimited(_) => "THROTTLED",
            GatewayError::Internal => "DEFAULT_5XX",
            GatewayError::Unauthorized => "UNAUTHORIZED",
            GatewayError::InvalidApiKey => "INVALID_API_KEY",
            GatewayError::Forbidden | GatewayError::AccessDenied { .. } => "ACCESS_DENIED",
            GatewayError::QuotaExceeded => "QUOTA_EXCEEDED",
        }
    }

    /// The `x-amzn-errortype` header value.
    pub fn error_type(self) -> &'static str {
        match self {
            GatewayError::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            GatewayError::BadRequest(_) => "BadRequestException",
            GatewayError::RequestTooLarge => "RequestTooLargeException",
            GatewayError::HeadersTooLarge => "RequestHeaderFieldsTooLargeException",
            GatewayError::UriTooLong => "RequestUriTooLongException",
            GatewayError::RequestTimeout => "RequestTimeoutException",
            GatewayError::IntegrationFailure
            | GatewayError::IntegrationTimeout
            | GatewayError::BadGateway(_)
            | GatewayError::Internal => "InternalServerErrorException",
            GatewayError::Forbidden | GatewayError::InvalidApiKey => "ForbiddenException",
            GatewayError::Unauthorized => "UnauthorizedException",
            GatewayError::AccessDenied { .. } => "AccessDeniedException",
            GatewayError::Throttled | GatewayError::RateLimited(_) => "TooManyRequestsException",
            GatewayError::QuotaExceeded => "LimitExceededException",
        }
    }

    /// The response to send.
    pub fn response(self) -> Response<ResponseBody> {
        let body = format!("{{\"message\":\"{}\"}}", self.message());
        let mut resp = Response::new(ResponseBody::full(body.clone()));
        *resp.status_mut() = self.status();
        let h = resp.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        h.insert(
            X_AMZN_ERRORTYPE,
            HeaderValue::from_static(self.error_type()),
        );
        if let GatewayError::RateLimited(secs) = self {
            h.insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if matches!(
            self,
            GatewayError::BadRequest(_)
                | GatewayError::RequestTooLarge
                | GatewayError::RequestTimeout
                | GatewayError::HeadersTooLarge
                | GatewayError::UriTooLong
        ) {
            // The rest of the request may still be on the wire: do not reuse the connection.
            h.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}

/// What a customised gateway response's template can say about the request.
#[derive(Debug, Clone, Copy, Default)]
pub struct TemplateVars<'a> {
    /// `$context.requestId` (and `extendedRequestId`).
    pub request_id: &'a str,
    /// `$context.stage`.
    pub stage: &'a str,
    /// `$context.apiId`: the API's name.
    pub api: &'a str,
    /// `$context.domainName`.
    pub domain: &'a str,
    /// `$context.httpMethod`.
    pub method: &'a str,
    /// `$context.path`.
    pub path: &'a str,
    /// `$context.resourcePath`: the matched route's template, if any.
    pub resource_path: &'a str,
    /// `$context.identity.sourceIp`.
    pub source_ip: &'a str,
    /// `$context.identity.clientCert.subjectDN`.
    pub subject: &'a str,
}

impl GatewayError {
    /// The response to send, customised by the API's `gateway_responses`: the response type's
    /// own entry, else `DEFAULT_4XX` / `DEFAULT_5XX`, else the built-in response.
    pub fn response_with(
        self,
        custom: &BTreeMap<String, GatewayResponse>,
        vars: &TemplateVars<'_>,
    ) -> Response<ResponseBody> {
        let fallback = if self.status().is_client_error() {
            "DEFAULT_4XX"
        } else {
            "DEFAULT_5XX"
        };
        let Some(c) = custom
            .get(self.response_type())
            .or_else(|| custom.get(fallback))
        else {
            return self.response();
        };
        let mut resp = match &c.template {
            Some(t) => {
                let body = render(t, self, vars);
                let mut r = self.response();
                r.headers_mut()
                    .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
                r.map(|_| ResponseBody::full(body))
            }
            None => self.response(),
        };
        if let Some(s) = c.status {
            *resp.status_mut() = s;
        }
        for (name, value) in &c.headers {
            resp.headers_mut().insert(name, value.clone());
        }
        resp
    }
}

/// Fill `$context.NAME` references in a gateway response template; an unknown one is left as
/// written, as API Gateway's template engine leaves it.
fn render(template: &str, e: GatewayError, v: &TemplateVars<'_>) -> String {
    const PREFIX: &str = "$context.";
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(at) = rest.find(PREFIX) {
        out.push_str(&rest[..at]);
        let after = &rest[at + PREFIX.len()..];
        let len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
            .unwrap_or(after.len());
        let name = after[..len].trim_end_matches('.');
        let value: Option<std::borrow::Cow<'_, str>> = match name {
            "error.message" => Some(e.message().into()),
            "error.messageString" => Some(json_string(e.message()).into()),
            "error.responseType" => Some(e.response_type().into()),
            "requestId" | "extendedRequestId" => Some(v.request_id.into()),
            "stage" => Some(v.stage.into()),
            "apiId" => Some(v.api.into()),
            "domainName" => Some(v.domain.into()),
            "httpMethod" => Some(v.method.into()),
            "path" => Some(v.path.into()),
            "resourcePath" => Some(v.resource_path.into()),
            "identity.sourceIp" => Some(v.source_ip.into()),
            "identity.clientCert.subjectDN" => Some(v.subject.into()),
            _ => None,
        };
        match value {
            Some(val) => {
                out.push_str(&val);
                rest = &after[name.len()..];
            }
            None => {
                out.push_str(PREFIX);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `s` as a JSON string literal, quotes included.
fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_context_variables_and_leave_unknown_ones() {
        let v = TemplateVars {
            request_id: "rid-1",
            stage: "prod",
            path: "/nope",
            ..Default::default()
        };
        let out = render(
            r#"{"error":$context.error.messageString,"id":"$context.requestId","t":"$context.error.responseType","s":"$context.stage.","x":"$context.nope"}"#,
            GatewayError::MissingAuthenticationToken,
            &v,
        );
        assert_eq!(
            out,
            r#"{"error":"Missing Authentication Token","id":"rid-1","t":"MISSING_AUTHENTICATION_TOKEN","s":"prod.","x":"$context.nope"}"#
        );
    }

    #[test]
    fn the_types_own_entry_beats_the_default_and_neither_means_built_in() {
        let mut custom = BTreeMap::new();
        custom.insert(
            "DEFAULT_4XX".to_owned(),
            GatewayResponse {
                status: None,
                headers: http::HeaderMap::new(),
                template: Some("4xx".into()),
            },
        );
        custom.insert(
            "MISSING_AUTHENTICATION_TOKEN".to_owned(),
            GatewayResponse {
                status: Some(StatusCode::NOT_FOUND),
                headers: http::HeaderMap::new(),
                template: None,
            },
        );
        let v = TemplateVars::default();
        let r = GatewayError::MissingAuthenticationToken.response_with(&custom, &v);
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = GatewayError::UriTooLong.response_with(&custom, &v);
        assert_eq!(r.status(), StatusCode::URI_TOO_LONG);
        assert_eq!(r.headers()[CONTENT_LENGTH], "3");
        let r = GatewayError::IntegrationTimeout.response_with(&custom, &v);
        assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
    }
}
