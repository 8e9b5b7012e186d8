//! Gateway responses: the errors the gateway itself answers with, as API Gateway shapes them
//! (same status, JSON `{"message": ...}` body, `x-amzn-errortype` header).

use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Response, StatusCode};

use crate::body::ResponseBody;

/// `x-amzn-errortype`: the error type header API Gateway sends with gateway responses.
pub const X_AMZN_ERRORTYPE: HeaderName = HeaderName::from_static("x-amzn-errortype");

/// Which side of the proxy a failure belongs to, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client sent something we refuse.
    Downstream,
    /// The upstream failed.
    Upstream,
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
            GatewayError::Throttled => StatusCode::TOO_MANY_REQUESTS,
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
            GatewayError::Throttled => "Too Many Requests",
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
            GatewayError::Throttled => "THROTTLED",
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
            | GatewayError::BadGateway(_) => "InternalServerErrorException",
            GatewayError::Throttled => "TooManyRequestsException",
        }
    }

    /// Which side failed.
    pub fn side(self) -> Side {
        match self {
            GatewayError::IntegrationFailure
            | GatewayError::IntegrationTimeout
            | GatewayError::BadGateway(_)
            | GatewayError::Throttled => Side::Upstream,
            _ => Side::Downstream,
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
