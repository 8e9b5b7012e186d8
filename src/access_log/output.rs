//! Where access lines end up: stderr or a file opened for appending; opening, writing whole
//! chunks, and counting the lines a failed write lost.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Permissions of a log file the gateway creates: client subjects and addresses are not for
/// every local user.
const FILE_MODE: u32 = 0o640;

/// The destination the configuration names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    /// The process's stderr, shared with the other logs (no `access_log.path`).
    Stderr,
    /// A file, FIFO or device, opened for appending (`access_log.path`).
    File(PathBuf),
}

impl Target {
    /// The target for an optional `access_log.path`.
    pub(super) fn of(path: Option<&Path>) -> Target {
        path.map_or(Target::Stderr, |p| Target::File(p.to_path_buf()))
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Stderr => f.write_str("stderr"),
            Target::File(p) => write!(f, "`{}`", p.display()),
        }
    }
}

/// An open destination.
#[derive(Debug)]
pub(super) enum Output {
    /// Stderr, written under its process-wide lock so a chunk never interleaves with another
    /// thread's log line.
    Stderr,
    /// A file opened for appending.
    File(File),
}

/// A chunk that was not written whole.
#[derive(Debug)]
pub(super) struct Lost {
    /// Why.
    pub(super) error: io::Error,
    /// Lines not written whole (a line cut by the failure counts as lost).
    pub(super) lines: u64,
}

impl Output {
    /// Open `target`; a file is created (mode 0640) when absent, and appended to. A FIFO
    /// blocks here until a reader opens it: only the writer thread opens.
    pub(super) fn open(target: &Target) -> io::Result<Output> {
        match target {
            Target::Stderr => Ok(Output::Stderr),
            Target::File(path) => open_append(path).map(Output::File),
        }
    }

    /// Write `chunk` (whole lines) entirely, or say how many of its lines were lost.
    pub(super) fn write_chunk(&mut self, chunk: &[u8]) -> Result<(), Lost> {
        let result = match self {
            Output::Stderr => write_fully(&mut io::stderr().lock(), chunk),
            Output::File(f) => write_fully(f, chunk),
        };
        result.map_err(|(error, written)| Lost {
            error,
            lines: count_lines(&chunk[written..]),
        })
    }
}

/// Open `path` for appending, creating it (mode 0640) when absent.
fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(FILE_MODE)
        .open(path)
}

/// Write all of `data`, retrying short writes and interrupts; on error, how much was written.
fn write_fully(out: &mut impl Write, data: &[u8]) -> Result<(), (io::Error, usize)> {
    let mut written = 0;
    while written < data.len() {
        match out.write(&data[written..]) {
            Ok(0) => return Err((io::ErrorKind::WriteZero.into(), written)),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((e, written)),
        }
    }
    Ok(())
}

/// Lines in `rest`: each ends with a newline, and the first may be the tail of a cut line.
fn count_lines(rest: &[u8]) -> u64 {
    rest.iter().filter(|&&b| b == b'\n').count() as u64
}

/// Why `path` cannot be the access log, checked at load so `check`, `serve` and a reload name
/// the key: a directory, a missing directory, or a file that cannot be opened for appending
/// (it is created when absent, as the gateway would). FIFOs and devices are not opened here,
/// since opening a FIFO waits for its reader.
pub fn check_path(path: &Path) -> Result<(), String> {
    if path.as_os_str().is_empty() {
        return Err("must name a file".into());
    }
    let shown = path.display();
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => return Err(format!("`{shown}` is a directory")),
        Ok(m) if !m.is_file() => return Ok(()),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
            if let Some(dir) = parent.filter(|d| !d.is_dir()) {
                return Err(format!(
                    "cannot create `{shown}`: the directory `{}` does not exist",
                    dir.display()
                ));
            }
        }
        Err(e) => return Err(format!("`{shown}`: {e}")),
    }
    open_append(path)
        .map(drop)
        .map_err(|e| format!("cannot open `{shown}` for appending: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes `room` bytes, then fails.
    struct Breaks {
        room: usize,
        got: Vec<u8>,
    }

    impl Write for Breaks {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::other("disk full"));
            }
            let n = buf.len().min(self.room).min(3);
            self.room -= n;
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn short_writes_are_continued() {
        let mut out = Breaks {
            room: 100,
            got: Vec::new(),
        };
        write_fully(&mut out, b"one\ntwo\n").unwrap();
        assert_eq!(out.got, b"one\ntwo\n");
    }

    #[test]
    fn a_failed_write_counts_the_cut_line_and_the_rest_as_lost() {
        let mut out = Breaks {
            room: 6,
            got: Vec::new(),
        };
        let (e, written) = write_fully(&mut out, b"one\ntwo\nthree\n").unwrap_err();
        assert_eq!(e.to_string(), "disk full");
        assert_eq!(written, 6, "`one\\ntw` went out");
        assert_eq!(count_lines(&b"one\ntwo\nthree\n"[written..]), 2);
    }

    #[test]
    fn a_file_in_a_missing_directory_is_refused_with_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope").join("access.log");
        let e = check_path(&path).unwrap_err();
        assert!(e.contains("does not exist") && e.contains("nope"), "{e}");
    }

    #[test]
    fn a_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = check_path(dir.path()).unwrap_err();
        assert!(e.contains("is a directory"), "{e}");
    }

    #[test]
    fn an_absent_file_is_created_for_appending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        check_path(&path).unwrap();
        assert!(path.is_file());
    }
}
