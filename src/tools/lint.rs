//! `portcullis truststore lint`: the truststore findings of a PEM bundle as a table or JSON,
//! with an exit code for scripts.

use std::path::Path;

use serde::Serialize;
use time::OffsetDateTime;

pub use crate::tls::findings::{
    AWS_MAX_BYTES, AWS_MAX_CERTIFICATES, AWS_MAX_CHAIN_DEPTH, CertRow, EXPIRY_WARNING_DAYS,
    Finding, HintSummary, LintReport, MAX_CHAIN_DEPTH, Severity, lint_bytes,
};

/// The JSON shape of a report (the path as a string, plus the derived verdict).
#[derive(Serialize)]
struct JsonReport<'a> {
    file: String,
    worst: Option<Severity>,
    exit_code: u8,
    rows: &'a [CertRow],
    file_findings: &'a [Finding],
    hints: Option<&'a HintSummary>,
}

impl LintReport {
    /// Process exit code for `truststore lint`: 0 clean (or info only), 1 warnings, 2 errors.
    pub fn exit_code(&self) -> u8 {
        match self.worst() {
            Some(Severity::Error) => 2,
            Some(Severity::Warning) => 1,
            Some(Severity::Info) | None => 0,
        }
    }

    /// A readable table, one row per certificate with its findings beneath, then file findings and a summary.
    pub fn to_text(&self) -> String {
        const HEAD: [&str; 9] = [
            "#",
            "SUBJECT",
            "ISSUER",
            "SERIAL",
            "NOT AFTER",
            "KEY",
            "SIGNATURE",
            "CA",
            "PATHLEN",
        ];
        let cells: Vec<[String; 9]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.index.to_string(),
                    r.subject.clone(),
                    r.issuer.clone(),
                    r.serial.clone(),
                    r.not_after.clone(),
                    r.key.clone(),
                    r.signature.clone(),
                    if r.ca { "yes" } else { "no" }.to_owned(),
                    r.path_len.map_or("-".to_owned(), |n| n.to_string()),
                ]
            })
            .collect();
        let mut widths = HEAD.map(|h| h.chars().count());
        for row in &cells {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cols: &[String]| -> String {
            let mut s = String::new();
            for (i, (c, w)) in cols.iter().zip(widths).enumerate() {
                if i > 0 {
                    s.push_str("  ");
                }
                if i + 1 == cols.len() {
                    s.push_str(c);
                } else {
                    s.push_str(&format!("{c:<w$}"));
                }
            }
            s.push('\n');
            s
        };
        let mut out = format!(
            "{}: {} certificate{}\n",
            self.file.display(),
            self.rows.len(),
            if self.rows.len() == 1 { "" } else { "s" }
        );
        if !self.rows.is_empty() {
            out.push_str(&line(&HEAD.map(str::to_owned)));
            for (row, cols) in self.rows.iter().zip(&cells) {
                out.push_str(&line(cols));
                for f in &row.findings {
                    out.push_str(&format!("    {} {}: {}\n", f.severity, f.code, f.message));
                }
            }
        }
        if let Some(h) = &self.hints {
            out.push_str(&h.message);
            out.push('\n');
        }
        if !self.file_findings.is_empty() {
            out.push_str("file:\n");
            for f in &self.file_findings {
                out.push_str(&format!("    {} {}: {}\n", f.severity, f.code, f.message));
            }
        }
        let count = |s: Severity| self.all_findings().filter(|f| f.severity == s).count();
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        let (errors, warnings, infos) = (
            count(Severity::Error),
            count(Severity::Warning),
            count(Severity::Info),
        );
        if errors + warnings + infos == 0 {
            out.push_str("clean: no findings\n");
        } else {
            out.push_str(&format!(
                "{}, {}, {}\n",
                plural(errors, "error"),
                plural(warnings, "warning"),
                plural(infos, "note")
            ));
        }
        out
    }

    /// The report as pretty JSON: `file`, `worst`, `exit_code`, `rows` (with findings) and `file_findings`.
    pub fn to_json(&self) -> String {
        let view = JsonReport {
            file: self.file.display().to_string(),
            worst: self.worst(),
            exit_code: self.exit_code(),
            rows: &self.rows,
            file_findings: &self.file_findings,
            hints: self.hints.as_ref(),
        };
        // Only strings, numbers, booleans and options: serialization cannot fail.
        serde_json::to_string_pretty(&view).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// Lint the truststore at `path`; an unreadable file yields an `unreadable` error finding, never a panic.
pub fn lint_truststore(path: &Path, aws: bool, now: OffsetDateTime) -> LintReport {
    match crate::file_read::read_regular(path) {
        Ok(data) => lint_bytes(path, &data, aws, now),
        Err(e) => LintReport {
            file: path.to_path_buf(),
            rows: Vec::new(),
            file_findings: vec![Finding {
                severity: Severity::Error,
                code: "unreadable",
                message: format!("cannot read {e}"),
            }],
            hints: None,
        },
    }
}
