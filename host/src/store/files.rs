//! Atomic file writes: temp file in the same filesystem, fsync, rename, fsync the directory.

use anyhow::Context;
use std::io::Write;
use std::path::Path;

pub fn write_atomic(tmp_dir: &Path, target: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let parent = target.parent().context("target has no parent directory")?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(tmp_dir).context("creating temp file")?;
    tmp.write_all(bytes).context("writing temp file")?;
    tmp.as_file().sync_all().context("fsync temp file")?;
    tmp.persist(target).with_context(|| format!("renaming into {}", target.display()))?;
    std::fs::File::open(parent).and_then(|d| d.sync_all()).with_context(|| format!("fsync {}", parent.display()))?;
    Ok(())
}
