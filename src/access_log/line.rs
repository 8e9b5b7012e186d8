//! The access line written without the tracing formatter: the same bytes its `fmt` layer
//! writes for the access event (text or JSON), at a fraction of the cost, since this line is
//! written once per request.

use std::cell::RefCell;
use std::fmt::Write as _;

/// One value of the line, typed as the tracing event records it.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    /// A `&str` field: quoted (Rust's `Debug`) in text, a JSON string in JSON.
    Str(&'a str),
    /// A `%` field: as it displays in text, a JSON string in JSON.
    Shown(&'a str),
    /// A number.
    Num(u64),
    /// A boolean.
    Bool(bool),
}

/// Write `{timestamp}  INFO access: {message} key=value ...` (text) or the flattened JSON
/// object (JSON), with a newline, into `out`.
pub fn write(out: &mut String, json: bool, message: &str, fields: &[(&str, Value<'_>)]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    if json {
        out.push_str("{\"timestamp\":\"");
        timestamp(out, now);
        out.push_str("\",\"level\":\"INFO\",\"message\":");
        json_str(out, message);
        for (key, value) in fields {
            out.push_str(",\"");
            out.push_str(key);
            out.push_str("\":");
            match value {
                Value::Str(s) | Value::Shown(s) => json_str(out, s),
                Value::Num(n) => push_num(out, *n),
                Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            }
        }
        out.push_str(",\"target\":\"access\"}\n");
        return;
    }
    timestamp(out, now);
    out.push_str("  INFO access: ");
    out.push_str(message);
    for (key, value) in fields {
        out.push(' ');
        out.push_str(key);
        out.push('=');
        match value {
            Value::Str(s) => debug_str(out, s),
            Value::Shown(s) => out.push_str(s),
            Value::Num(n) => push_num(out, *n),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        }
    }
    out.push('\n');
}

/// `2026-12-03T14:56:27.116453Z`, as tracing-subscriber's default timer writes it; the part
/// up to the second is kept per thread, since it changes once a second.
fn timestamp(out: &mut String, since_epoch: std::time::Duration) {
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let secs = since_epoch.as_secs();
    SECOND.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != secs {
            cached.1.clear();
            if let Ok(t) = time::OffsetDateTime::from_unix_timestamp(secs as i64) {
                let _ = write!(
                    cached.1,
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                    t.year(),
                    t.month() as u8,
                    t.day(),
                    t.hour(),
                    t.minute(),
                    t.second()
                );
            }
            cached.0 = secs;
        }
        out.push_str(&cached.1);
    });
    let micros = since_epoch.subsec_micros();
    out.push('.');
    let mut digits = [b'0'; 6];
    let mut n = micros;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.push_str(std::str::from_utf8(&digits).unwrap_or("000000"));
    out.push('Z');
}

fn push_num(out: &mut String, n: u64) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// Bytes `<str as Debug>` writes as they are: printable ASCII but `"` and `\` (a table: this
/// runs over every byte of every quoted field).
const PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = b' ';
    while b <= b'~' {
        t[b as usize] = !matches!(b, b'"' | b'\\');
        b += 1;
    }
    t
};

/// `"..."` as `<str as Debug>` writes it; the plain case without the formatting machinery.
fn debug_str(out: &mut String, s: &str) {
    if s.bytes().all(|b| PLAIN[b as usize]) {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        let _ = write!(out, "{s:?}");
    }
}

/// A JSON string, escaped as serde_json escapes it.
fn json_str(out: &mut String, s: &str) {
    if s.bytes()
        .all(|b| b >= b' ' && b != b'"' && b != b'\\' && b != 0x7f)
    {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::Value::from(s).to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_timestamps_are_written_in_full() {
        let mut out = String::new();
        push_num(&mut out, 0);
        out.push(' ');
        push_num(&mut out, u64::MAX);
        assert_eq!(out, "0 18446744073709551615");
        let mut ts = String::new();
        timestamp(
            &mut ts,
            std::time::Duration::from_micros(1_559_046_602_000_042),
        );
        assert_eq!(ts, "2019-05-28T12:30:02.000042Z");
    }

    #[test]
    fn every_ascii_byte_is_quoted_as_debug_quotes_it() {
        for b in 0u8..128 {
            let s = format!("a{}b", b as char);
            let mut out = String::new();
            debug_str(&mut out, &s);
            assert_eq!(out, format!("{s:?}"), "byte {b}");
        }
    }

    #[test]
    fn strings_needing_escapes_are_escaped_as_debug_and_json_escape_them() {
        let mut out = String::new();
        debug_str(&mut out, "a\"b\\c\n\u{7}é'");
        assert_eq!(out, format!("{:?}", "a\"b\\c\n\u{7}é'"));
        let mut out = String::new();
        json_str(&mut out, "a\"b\\c\n\u{7}é\u{7f}");
        assert_eq!(out, serde_json::to_string("a\"b\\c\n\u{7}é\u{7f}").unwrap());
    }
}
