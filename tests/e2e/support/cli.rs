//! The `portcullis` binary and other tools run to completion under a deadline, output read back.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::bin;

/// Upper bound for one run of a command-line tool (RSA key generation is slow unoptimised).
pub const RUN_LIMIT: Duration = Duration::from_secs(120);

/// How a finished command went.
#[derive(Debug, Clone)]
pub struct Out {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Out {
    /// Exit code 0.
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// Panic with everything the command said unless it exited 0.
    pub fn expect_ok(self, what: &str) -> Out {
        assert!(self.ok(), "{what} failed: {self:#?}");
        self
    }
}

/// Run `program args` in `cwd` (or the current directory), killing it after `RUN_LIMIT`.
pub fn run_in(program: &Path, args: &[OsString], cwd: Option<&Path>) -> Out {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    let read = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out = read(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = read(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + RUN_LIMIT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} {args:?} did not finish within {RUN_LIMIT:?}",
                program.display()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Out {
        code: status.code(),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Turn anything path- or string-like into arguments.
pub fn args<I, S>(items: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    items.into_iter().map(Into::into).collect()
}

/// Run the `portcullis` binary.
pub fn portcullis(a: Vec<OsString>) -> Out {
    run_in(bin(), &a, None)
}

/// Run a tool found on `PATH` (openssl, curl).
pub fn tool(name: &str, a: Vec<OsString>, cwd: Option<&Path>) -> Out {
    run_in(Path::new(name), &a, cwd)
}

/// Whether `name --version`/`version` runs.
pub fn installed(name: &str, version_arg: &str) -> bool {
    Command::new(name)
        .arg(version_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `curl` with the flags every test uses (silent, errors shown, bounded), off the runtime.
pub async fn curl(a: Vec<OsString>, cwd: Option<PathBuf>) -> Out {
    tokio::task::spawn_blocking(move || {
        let mut all = args(["--silent", "--show-error", "--max-time", "10"]);
        all.extend(a);
        tool("curl", all, cwd.as_deref())
    })
    .await
    .unwrap()
}

/// Run a blocking closure off the async runtime.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// `portcullis pki init --dir DIR extra...`, which must succeed.
pub fn pki_init(dir: &Path, extra: &[&str]) -> Out {
    let mut a = args(["pki", "init", "--dir"]);
    a.push(dir.into());
    a.extend(args(extra.iter().copied()));
    portcullis(a).expect_ok("pki init")
}

/// `portcullis pki issue KIND --dir DIR extra...`, which must succeed.
pub fn pki_issue(kind: &str, dir: &Path, extra: &[&str]) -> Out {
    let mut a = args(["pki", "issue", kind, "--dir"]);
    a.push(dir.into());
    a.extend(args(extra.iter().copied()));
    portcullis(a).expect_ok(&format!("pki issue {kind}"))
}

/// The paths of the `wrote PATH` lines of a command's output.
pub fn wrote(out: &Out) -> Vec<PathBuf> {
    out.stdout
        .lines()
        .filter_map(|l| l.strip_prefix("wrote "))
        .map(|p| PathBuf::from(p.trim()))
        .collect()
}

/// The `serial HEX` a `pki issue` printed.
pub fn printed_serial(out: &Out) -> String {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix("serial "))
        .unwrap_or_else(|| panic!("no `serial` line in {out:#?}"))
        .trim()
        .to_owned()
}

/// Name and bytes of every regular file in a directory, sorted by name.
pub fn snapshot_dir(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Unix permission bits of a file.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `text` without its `(checked at ...)` part, which names the moment of the check.
pub fn strip_checked_at(text: &str) -> String {
    let Some(start) = text.find(" (checked at ") else {
        return text.to_owned();
    };
    match text[start..].find(')') {
        Some(end) => format!("{}{}", &text[..start], &text[start + end + 1..]),
        None => text[..start].to_owned(),
    }
}

/// `portcullis explain --config CONFIG --domain DOMAIN CLIENT extra...`.
pub fn explain(config: &Path, domain: &str, client: &Path, extra: &[&str]) -> Out {
    let mut a = args(["explain", "--config"]);
    a.push(config.into());
    a.extend(args(["--domain", domain]));
    a.push(client.into());
    a.extend(args(extra.iter().copied()));
    portcullis(a)
}

/// `explain ... --json`, parsed; also returns the exit code.
pub fn explain_json(
    config: &Path,
    domain: &str,
    client: &Path,
    extra: &[&str],
) -> (Option<i32>, serde_json::Value) {
    let mut e = extra.to_vec();
    e.push("--json");
    let out = explain(config, domain, client, &e);
    let v: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|err| panic!("explain --json printed no JSON ({err}): {out:#?}"));
    (out.code, v)
}

/// The `reason:` line of explain's text output.
pub fn text_reason(out: &Out) -> Option<String> {
    out.stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("reason:"))
        .map(|r| r.trim().to_owned())
}

/// The time in explain's first line, `RESULT by domain NAME (checked at TIME)`.
pub fn header_checked_at(out: &Out) -> String {
    let first = out.stdout.lines().next().unwrap_or_default();
    first
        .split_once("(checked at ")
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("no `(checked at ...)` in the first line: {out:#?}"))
        .to_owned()
}

/// Assert explain refused: exit 1, `REJECTED by domain DOMAIN` first; returns the reason.
pub fn assert_rejected(out: &Out, domain: &str) -> String {
    assert_eq!(
        out.code,
        Some(1),
        "explain must exit 1 for a rejected client: {out:#?}"
    );
    assert!(
        out.stdout
            .starts_with(&format!("REJECTED by domain {domain} ")),
        "{out:#?}"
    );
    text_reason(out).unwrap_or_else(|| panic!("no `reason:` line: {out:#?}"))
}

/// Assert explain accepted: exit 0, `ACCEPTED by domain DOMAIN` first, no reason.
pub fn assert_accepted(out: &Out, domain: &str) {
    assert_eq!(
        out.code,
        Some(0),
        "explain must exit 0 for an accepted client: {out:#?}"
    );
    assert!(
        out.stdout
            .starts_with(&format!("ACCEPTED by domain {domain} ")),
        "{out:#?}"
    );
    assert!(text_reason(out).is_none(), "{out:#?}");
}
