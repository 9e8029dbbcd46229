//! Atomic file writes: temp file in the same filesystem, fsync, rename, fsync the directory.
//! A crash leaves either the old file, the new one, or a stray temp file (swept from
//! `tmp/` at the next start), never a partly written target. Files are 0600 (the temp
//! file's mode, kept by the rename) and directories created on the way 0700.

use super::layout::{create_dir_private, FILE_MODE};
use anyhow::Context;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Writes `bytes` to `target`, replacing it. `tmp_dir` must be on `target`'s filesystem.
/// Error messages name the file only by its name, never its path: some reach API clients.
pub fn write_atomic(tmp_dir: &Path, target: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let (tmp, parent) = staged(tmp_dir, target, bytes)?;
    tmp.persist(target).map_err(|e| e.error).with_context(|| format!("renaming into {}", name(target)))?;
    sync_dir(parent)
}

/// Like [`write_atomic`] but never replaces an existing `target`: the outcome is
/// `Ok(false)` and `target` is untouched (another process created it first).
pub fn write_new_atomic(tmp_dir: &Path, target: &Path, bytes: &[u8]) -> anyhow::Result<bool> {
    let (tmp, parent) = staged(tmp_dir, target, bytes)?;
    // Hard link or rename-noreplace: atomic and fails when the target exists.
    match tmp.persist_noclobber(target) {
        Ok(_) => {}
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(e.error).with_context(|| format!("creating {}", name(target))),
    }
    sync_dir(parent)?;
    Ok(true)
}

fn staged<'a>(tmp_dir: &Path, target: &'a Path, bytes: &[u8]) -> anyhow::Result<(tempfile::NamedTempFile, &'a Path)> {
    let parent = target.parent().context("target has no parent directory")?;
    create_dir_private(parent).with_context(|| format!("creating the directory of {}", name(target)))?;
    let mut tmp = tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(FILE_MODE))
        .tempfile_in(tmp_dir)
        .context("creating temp file")?;
    tmp.write_all(bytes).context("writing temp file")?;
    tmp.as_file().sync_all().context("fsync temp file")?;
    Ok((tmp, parent))
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).context("fsync of the target's directory")
}

fn name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_0600_files_and_0700_dirs_and_no_clobber_keeps_the_first() {
        let t = tempfile::tempdir().unwrap();
        let target = t.path().join("a/b/file");
        write_atomic(t.path(), &target, b"one").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"one");
        assert_eq!(std::fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(t.path().join("a")).unwrap().permissions().mode() & 0o777, 0o700);
        write_atomic(t.path(), &target, b"two").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"two");

        assert!(!write_new_atomic(t.path(), &target, b"three").unwrap());
        assert_eq!(std::fs::read(&target).unwrap(), b"two");
        let fresh = t.path().join("fresh");
        assert!(write_new_atomic(t.path(), &fresh, b"four").unwrap());
        assert_eq!(std::fs::read(&fresh).unwrap(), b"four");
        assert_eq!(std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777, 0o600);
        // Nothing left in the staging directory but what the test put there.
        let left: Vec<_> = std::fs::read_dir(t.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(left.len(), 2, "{left:?}");
    }
}
