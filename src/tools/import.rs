//! `portcullis import FILE`: what an API Gateway export becomes, route by route, as text, JSON
//! or Portcullis TOML. Exit 0 when every route is servable, 1 when something is unsupported or
//! in error, 2 when the file (or the configuration) cannot be used at all.

use std::path::{Path, PathBuf};

use crate::config::{ImportSetup, import_setup};
use crate::openapi::{self, report};

/// What to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The human report.
    Text,
    /// The report as JSON.
    Json,
    /// `[[api.NAME.routes]]` tables.
    Toml,
}

/// The options of `portcullis import`.
#[derive(Debug, Clone)]
pub struct Options {
    /// The export.
    pub file: PathBuf,
    /// Resolve for this stage of the configuration's API.
    pub stage: Option<String>,
    /// The configuration whose stages, VPC links and pools apply.
    pub config: Option<PathBuf>,
    /// Output format.
    pub format: Format,
}

/// What `import` prints and how it exits.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Standard output.
    pub stdout: String,
    /// Standard error (the summary line under `--emit-toml`).
    pub stderr: String,
    /// 0, 1 or 2.
    pub code: u8,
}

/// Run `import`; an `Err` is a one-line reason for exit 2.
pub fn run(opts: &Options) -> Result<Outcome, String> {
    let def = openapi::read(&opts.file).map_err(|e| e.to_string())?;
    let setup = match &opts.config {
        Some(c) => Some(import_setup(c, &opts.file)?),
        None if opts.stage.is_some() => {
            return Err("--stage needs --config: stage variables live in the configuration".into());
        }
        None => None,
    };
    let import = match &setup {
        Some(s) => s.analyse(&def, opts.stage.as_deref())?,
        None => openapi::analyse(&def, &openapi::Context::default()),
    };
    let file = opts.file.display().to_string();
    let summary = import.summary();
    let code = if summary.unsupported == 0 && summary.errors == 0 {
        0
    } else {
        1
    };
    let (stdout, stderr) = match opts.format {
        Format::Text => (
            report::to_text(&import, &file, opts.stage.as_deref()),
            String::new(),
        ),
        Format::Json => (
            format!(
                "{:#}\n",
                report::to_json(&import, &file, opts.stage.as_deref())
            ),
            String::new(),
        ),
        Format::Toml => {
            let api = setup.as_ref().map_or_else(
                || api_name(import.title.as_deref(), &opts.file),
                |s| s.api.clone(),
            );
            let fallback = ImportSetup::default();
            let s = setup.as_ref().unwrap_or(&fallback);
            (
                report::to_toml(&import, &file, &api, &|r| s.integration(r)),
                format!("{}\n", report::summary_line(&import)),
            )
        }
    };
    Ok(Outcome {
        stdout,
        stderr,
        code,
    })
}

/// An `[api.NAME]` name from the definition's title, else the file's stem.
fn api_name(title: Option<&str>, file: &Path) -> String {
    let stem = file
        .file_name()
        .map(|f| {
            f.to_string_lossy()
                .split('.')
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_default();
    let raw = title.unwrap_or(&stem).to_ascii_lowercase();
    let name: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let name = name.trim_matches('-').to_owned();
    if name.is_empty() {
        "api".to_owned()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_names_are_toml_keys() {
        assert_eq!(
            api_name(Some("Ledger API (prod)"), Path::new("x.yaml")),
            "ledger-api--prod"
        );
        assert_eq!(
            api_name(None, Path::new("apis/ledger.oas30.yaml")),
            "ledger"
        );
        assert_eq!(api_name(Some("***"), Path::new("x.yaml")), "api");
    }
}
