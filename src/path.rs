//! Request path hygiene: refuse any path that some origin server could read as leaving its prefix.
//!
//! The router and the rewrite never see dot segments, encoded slashes or backslashes, so a
//! rewrite such as `/items/{proxy}` -> `/rest-service/items/{proxy}` cannot escape its prefix,
//! whatever the upstream's path parser does with `%2e`, `;params` or double encoding.

use std::fmt;

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/`.
    NotAbsolute,
    /// A `.` or `..` segment, possibly encoded or with `;parameters`.
    DotSegment,
    /// An encoded `/` or `\`, or a literal `\`.
    EncodedSeparator,
    /// `//`: an empty segment inside the path.
    EmptySegment,
    /// A control character or an encoded NUL.
    ControlCharacter,
    /// A `%` not followed by two hex digits.
    BadPercentEncoding,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotAbsolute => "path must start with `/`",
            PathError::DotSegment => "path has a `.` or `..` segment",
            PathError::EncodedSeparator => "path has an encoded slash or a backslash",
            PathError::EmptySegment => "path has an empty segment (`//`)",
            PathError::ControlCharacter => "path has a control character",
            PathError::BadPercentEncoding => "path has malformed percent-encoding",
        })
    }
}

impl std::error::Error for PathError {}

/// How many rounds of percent-decoding are inspected (catches `%252e%252e`).
const DECODE_ROUNDS: usize = 3;

/// Accept `path` (without query) only if no common origin could read it as leaving its prefix.
pub fn check_path(path: &[u8]) -> Result<(), PathError> {
    if path.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    let body = &path[1..];
    let count = body.split(|&b| b == b'/').count();
    for (i, seg) in body.split(|&b| b == b'/').enumerate() {
        if seg.is_empty() {
            // A trailing slash is harmless; `//` inside the path is not.
            if i + 1 == count {
                continue;
            }
            return Err(PathError::EmptySegment);
        }
        check_segment(seg)?;
    }
    Ok(())
}

fn check_segment(seg: &[u8]) -> Result<(), PathError> {
    if seg
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || b"-_~".contains(b))
    {
        return Ok(()); // the common case: nothing to decode, no dots
    }
    let mut current = seg.to_vec();
    for _ in 0..DECODE_ROUNDS {
        if current.iter().any(|&b| b < 0x20 || b == 0x7f) {
            return Err(PathError::ControlCharacter);
        }
        if current.contains(&b'\\') {
            return Err(PathError::EncodedSeparator);
        }
        // `..;jsessionid=x` is `..` to Tomcat and friends.
        let before_params = current.split(|&b| b == b';').next().unwrap_or(&[]);
        if before_params == b"." || before_params == b".." {
            return Err(PathError::DotSegment);
        }
        if !current.contains(&b'%') {
            return Ok(());
        }
        let decoded = percent_decode(&current)?;
        if decoded.contains(&b'/') {
            return Err(PathError::EncodedSeparator);
        }
        current = decoded;
    }
    if current.contains(&b'%') {
        // Still encoded after several rounds: nobody legitimate needs this.
        return Err(PathError::BadPercentEncoding);
    }
    Ok(())
}

fn percent_decode(input: &[u8]) -> Result<Vec<u8>, PathError> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' {
            let hex = input
                .get(i + 1..i + 3)
                .ok_or(PathError::BadPercentEncoding)?;
            let hi = crate::percent::hex_digit(hex[0]).ok_or(PathError::BadPercentEncoding)?;
            let lo = crate::percent::hex_digit(hex[1]).ok_or(PathError::BadPercentEncoding)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_paths_pass() {
        for p in [
            "/",
            "/inventory",
            "/items/a-b_c~d",
            "/items/x%20y",
            "/a/b/",
            "/a.b/c.json",
        ] {
            assert_eq!(check_path(p.as_bytes()), Ok(()), "{p}");
        }
    }

    #[test]
    fn escapes_are_refused() {
        let cases = [
            ("/items/../admin", PathError::DotSegment),
            ("/items/./x", PathError::DotSegment),
            ("/items/%2e%2e/admin", PathError::DotSegment),
            ("/items/%2E./admin", PathError::DotSegment),
            ("/items/..;x=1/admin", PathError::DotSegment),
            ("/items/%252e%252e/admin", PathError::DotSegment),
            ("/items/a%2fb", PathError::EncodedSeparator),
            ("/items/a%5Cb", PathError::EncodedSeparator),
            ("/items/a\\b", PathError::EncodedSeparator),
            ("/items/a%252fb", PathError::EncodedSeparator),
            ("/items//x", PathError::EmptySegment),
            ("/items/%00", PathError::ControlCharacter),
            ("/items/%zz", PathError::BadPercentEncoding),
            ("items", PathError::NotAbsolute),
            ("/..", PathError::DotSegment),
        ];
        for (p, want) in cases {
            assert_eq!(check_path(p.as_bytes()), Err(want), "{p}");
        }
    }
}
