//! API Gateway's access log format (`accessLogSettings.format`): a text, CLF or JSON line with
//! `$context.NAME` variables, parsed once at load time and filled for each request.

use std::fmt::Write as _;

/// The variables an access log format can use, as API Gateway names them.
pub const VARIABLES: [&str; 27] = [
    "requestId",
    "extendedRequestId",
    "requestTime",
    "requestTimeEpoch",
    "httpMethod",
    "resourcePath",
    "path",
    "protocol",
    "status",
    "responseLength",
    "responseLatency",
    "integrationLatency",
    "integration.status",
    "integrationStatus",
    "integration.latency",
    "domainName",
    "stage",
    "apiId",
    "identity.sourceIp",
    "identity.clientCert.subjectDN",
    "identity.clientCert.issuerDN",
    "identity.clientCert.serialNumber",
    "identity.clientCert.validity.notBefore",
    "identity.clientCert.validity.notAfter",
    "error.message",
    "error.responseType",
    "authorize.error",
];

/// A parsed format: literal text and variables in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessFormat {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(&'static str),
}

impl AccessFormat {
    /// Parse `format`; an unknown `$context` variable is an error naming it.
    pub fn parse(format: &str) -> Result<AccessFormat, String> {
        const PREFIX: &str = "$context.";
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = format;
        while let Some(at) = rest.find(PREFIX) {
            text.push_str(&rest[..at]);
            let after = &rest[at + PREFIX.len()..];
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
                .unwrap_or(after.len());
            let name = after[..len].trim_end_matches('.');
            let var = VARIABLES.iter().find(|v| **v == name).ok_or_else(|| {
                format!("`$context.{name}` is not an access log variable this gateway fills (it fills: {})", VARIABLES.join(", "))
            })?;
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            parts.push(Part::Var(var));
            rest = &after[name.len()..];
        }
        text.push_str(rest);
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(AccessFormat { parts })
    }

    /// The line for one request: each variable's value from `value`, `-` when it has none.
    pub fn render(&self, value: impl Fn(&str, &mut String) -> bool) -> String {
        let mut out = String::with_capacity(256);
        self.render_into(&mut out, value);
        out
    }

    /// The same, appended to `out` (a buffer the caller reuses from request to request).
    pub fn render_into(&self, out: &mut String, value: impl Fn(&str, &mut String) -> bool) {
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Var(v) => {
                    let before = out.len();
                    if !value(v, out) || out.len() == before {
                        out.truncate(before);
                        out.push('-');
                    }
                }
            }
        }
    }
}

/// The three-letter English month name API Gateway's time formats use.
pub fn month_abbrev(m: time::Month) -> &'static str {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS[usize::from(u8::from(m)) - 1]
}

/// `t` in Common Log Format time, as `$context.requestTime`: `03/Dec/2026:08:13:05 +0000`.
pub fn clf_time(t: std::time::SystemTime) -> String {
    let dt = time::OffsetDateTime::from(t);
    let mut s = String::with_capacity(26);
    let _ = write!(
        s,
        "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
        dt.day(),
        month_abbrev(dt.month()),
        dt.year(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_filled_and_missing_ones_are_dashes() {
        let f = AccessFormat::parse(
            r#"{"id":"$context.requestId","s":$context.status,"e":"$context.error.message"}"#,
        )
        .unwrap();
        let line = f.render(|v, out| match v {
            "requestId" => {
                out.push_str("r1");
                true
            }
            "status" => {
                out.push_str("200");
                true
            }
            _ => false,
        });
        assert_eq!(line, r#"{"id":"r1","s":200,"e":"-"}"#);
    }

    #[test]
    fn a_variable_followed_by_a_dot_keeps_the_dot() {
        let f = AccessFormat::parse("$context.stage.").unwrap();
        assert_eq!(
            f.render(|_, o| {
                o.push_str("prod");
                true
            }),
            "prod."
        );
    }

    #[test]
    fn unknown_variables_are_refused_by_name() {
        let e = AccessFormat::parse("$context.authorizer.claims").unwrap_err();
        assert!(e.contains("$context.authorizer.claims"), "{e}");
    }

    #[test]
    fn request_time_is_common_log_format() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_559_046_602);
        assert_eq!(clf_time(t), "28/May/2019:12:30:02 +0000");
    }
}
