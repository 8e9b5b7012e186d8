//! Reading the files a configuration names (config, certificates, keys, truststores, CRLs):
//! only regular files, and only up to a size cap, so a FIFO, `/dev/zero`, a directory or a
//! symlink loop is an error naming the file instead of a hang or an exhausted memory.

use std::io::Read;
use std::path::Path;

/// Largest file Portcullis reads: far above any real config, truststore or CRL.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The contents of `path`, refused unless it is a regular file of at most [`MAX_FILE_BYTES`].
/// The error names the file and says what it is instead.
pub fn read_regular(path: &Path) -> Result<Vec<u8>, String> {
    let shown = path.display();
    // metadata() follows symlinks (a Kubernetes Secret is a symlink); a loop is an error here.
    let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown}: not a regular file ({})", kind(&meta)));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "{shown}: {} bytes is over the {MAX_FILE_BYTES}-byte limit for files Portcullis reads",
            meta.len()
        ));
    }
    let file = std::fs::File::open(path).map_err(|e| format!("{shown}: {e}"))?;
    let mut data = Vec::with_capacity(meta.len() as usize);
    // The file may grow between the check and the read: never read past the cap.
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(|e| format!("{shown}: {e}"))?;
    if data.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "{shown}: over the {MAX_FILE_BYTES}-byte limit for files Portcullis reads"
        ));
    }
    Ok(data)
}

fn kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_directories_and_loops_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::os::unix::fs::symlink(&b, &a).unwrap();
        std::os::unix::fs::symlink(&a, &b).unwrap();
        for (p, want) in [
            (Path::new("/dev/zero"), "a character device"),
            (dir.path(), "a directory"),
            (a.as_path(), "a"),
        ] {
            let e = read_regular(p).unwrap_err();
            assert!(
                e.starts_with(&p.display().to_string()) && e.contains(want),
                "{e}"
            );
        }
        let ok = dir.path().join("ok");
        std::fs::write(&ok, b"x").unwrap();
        assert_eq!(read_regular(&ok).unwrap(), b"x");
    }
}
