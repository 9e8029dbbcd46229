//! Startup sweep of crash leftovers. Runs in [`crate::platform::Platform::open`] while
//! this process holds the data-directory lock and before it serves anything, so nothing
//! else can be writing:
//!
//! - `tmp/`: everything (temp files of writes a crash interrupted).
//! - `blobs/`: blob files whose code hash has no row in the `blobs` table (written, then
//!   the process died before the transaction that records them committed).
//! - `artifacts/`: artifact files (any engine fingerprint) whose code hash has no blob row.
//!
//! Conservative by design: a blob row is never deleted by the store, so whatever a row
//! names stays, referenced by a function, version or not. Files whose names are not
//! Waygate's (`HASH.wasm` / `HASH.cwasm`) are reported, not removed.

use super::{layout::DataDir, Store};
use crate::model::CodeHash;
use anyhow::Context;
use std::collections::HashSet;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub tmp: usize,
    pub blobs: usize,
    pub artifacts: usize,
}

pub fn sweep(dir: &DataDir, store: &dyn Store) -> anyhow::Result<Swept> {
    let mut swept = Swept::default();
    for path in dir.tmp_entries().context("listing tmp/")? {
        let removed = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        match removed {
            Ok(()) => {
                tracing::info!(path = %path.display(), "removed a leftover temp file (an interrupted write)");
                swept.tmp += 1;
            }
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "could not remove a leftover temp file"),
        }
    }
    let known: HashSet<CodeHash> =
        super::read(store, |tx| tx.blobs()).map_err(|e| anyhow::anyhow!("{e}"))?.into_iter().map(|(h, _)| h).collect();
    let files = [
        (dir.blob_files().context("listing blobs/")?, "code blob", &mut swept.blobs),
        (dir.artifact_files().context("listing artifacts/")?, "compiled artifact", &mut swept.artifacts),
    ];
    for (files, what, removed) in files {
        for f in files {
            match f.code_hash {
                Some(h) if known.contains(&h) => {}
                Some(h) => match std::fs::remove_file(&f.path) {
                    Ok(()) => {
                        tracing::warn!(code_hash = %h, path = %f.path.display(), "removed an unreferenced {what} (left by an interrupted upload)");
                        *removed += 1;
                    }
                    Err(e) => {
                        tracing::warn!(path = %f.path.display(), error = %e, "could not remove an unreferenced {what}")
                    }
                },
                None => tracing::warn!(path = %f.path.display(), "unexpected file in the data directory; left alone"),
            }
        }
    }
    Ok(swept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FunctionConfig, FunctionName, GuestKind};
    use crate::store::{artifacts, blobs, sqlite::SqliteStore};

    #[test]
    fn removes_tmp_and_unrecorded_code_but_keeps_recorded_code() {
        let t = tempfile::tempdir().unwrap();
        let dir = DataDir::new(t.path());
        dir.create_dirs().unwrap();
        let store = SqliteStore::open(&dir.database()).unwrap();
        let name = FunctionName::parse("f").unwrap();
        crate::store::write(&store, |tx| tx.insert_function(&name, &FunctionConfig::default())).unwrap();
        let (kept, stray) = (CodeHash::of(b"kept"), CodeHash::of(b"stray"));
        for (h, bytes) in [(kept, &b"kept"[..]), (stray, &b"stray"[..])] {
            blobs::put(&dir, &h, bytes).unwrap();
        }
        let rec = artifacts::put(&dir, &kept, "fp", GuestKind::StdioProxy, b"native").unwrap();
        artifacts::put(&dir, &stray, "fp", GuestKind::StdioProxy, b"native2").unwrap();
        artifacts::put(&dir, &stray, "old-fp", GuestKind::StdioProxy, b"native3").unwrap();
        crate::store::write(&store, |tx| {
            tx.record_code(&rec, b"wasm")?;
            tx.set_code(&name, &kept, "sha")
        })
        .unwrap();
        std::fs::write(dir.tmp_dir().join(".tmpXYZ"), b"partial").unwrap();
        std::fs::create_dir(dir.tmp_dir().join("d")).unwrap();
        let odd = dir.blob(&kept).with_file_name("README");
        std::fs::write(&odd, b"").unwrap();

        let swept = sweep(&dir, &store).unwrap();
        assert_eq!(swept, Swept { tmp: 2, blobs: 1, artifacts: 2 });
        assert!(dir.tmp_entries().unwrap().is_empty());
        assert!(dir.blob(&kept).exists() && !dir.blob(&stray).exists());
        assert!(dir.artifact(&kept, "fp").exists() && !dir.artifact(&stray, "fp").exists());
        assert!(odd.exists(), "foreign files are left alone");
        assert_eq!(sweep(&dir, &store).unwrap(), Swept::default(), "idempotent");
    }
}
