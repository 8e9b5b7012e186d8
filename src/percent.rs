//! Percent-encoding (RFC 3986) for the values the gateway writes into URLs and headers: request
//! parameters mapped into a path or query, and the PEM certificates in `x-forwarded-client-cert`;
//! and the hex digits of the `%XX` escapes it reads in paths and parameters.

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Append `s` to `out` with every byte but ASCII letters, digits and those in `keep` written as
/// `%XX` (upper-case hex).
pub fn push_encoded(out: &mut String, s: &str, keep: &[u8]) {
    out.reserve(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
}

/// The value of one hex digit of a `%XX` escape (either case), `None` for any other byte.
pub fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `s` percent-encoded, keeping ASCII letters, digits and the bytes in `keep`.
pub fn encoded(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    push_encoded(&mut out, s, keep);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digits_of_either_case_and_nothing_else_have_a_value() {
        for b in 0u8..=255 {
            let want = char::from(b).to_digit(16).map(|d| d as u8);
            assert_eq!(hex_digit(b), want, "byte {b}");
        }
    }

    #[test]
    fn every_byte_outside_the_kept_set_is_percent_encoded_as_upper_case_hex() {
        assert_eq!(encoded("a b/c", b"-"), "a%20b%2Fc");
        assert_eq!(encoded("x=1&y-z", b"-="), "x=1%26y-z");
        assert_eq!(encoded("é\n", b""), "%C3%A9%0A");
        for b in 0u8..=127 {
            let s = char::from(b).to_string();
            let expected = if b.is_ascii_alphanumeric() {
                s.clone()
            } else {
                format!("%{b:02X}")
            };
            assert_eq!(encoded(&s, b""), expected);
        }
    }
}
