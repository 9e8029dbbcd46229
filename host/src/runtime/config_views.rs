//! `/config` for components: their WASI 0.2 host (wasmtime-wasi) preopens host
//! directories, so the files an invocation is given are materialised once per set as a
//! directory `DATA/config-views/KEY/APP/PROFILE` (KEY: blake3 of the set's paths and
//! content hashes, so a directory's content never changes) and preopened read-only
//! (`FsPerms::ReadOnly`). Modules don't need this: their preview1 host serves `/config`
//! from memory ([`super::config_fs`]). The views are rebuilt from the snapshot's bytes on
//! demand, and removed when the runtime starts (they are a cache, never a source).

use crate::model::appconfig::ConfigFile;
use parking_lot::Mutex;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

pub struct ConfigViews {
    dir: PathBuf,
    made: Mutex<HashSet<String>>,
}

impl ConfigViews {
    /// Views under `dir`, which is emptied now.
    pub fn new(dir: PathBuf) -> Self {
        let _ = std::fs::remove_dir_all(&dir);
        ConfigViews { dir, made: Mutex::new(HashSet::new()) }
    }

    /// The directory holding exactly `files` as `APP/PROFILE`, made the first time this set
    /// is asked for (written to a staging directory, then renamed into place).
    pub fn dir_for(&self, files: &[Arc<ConfigFile>]) -> std::io::Result<PathBuf> {
        let mut h = blake3::Hasher::new();
        for f in files {
            for part in [f.application.as_str(), f.profile.as_str(), f.content_hash.as_str()] {
                h.update(part.as_bytes());
                h.update(&[0]);
            }
        }
        let key = h.finalize().to_hex().to_string();
        let path = self.dir.join(&key);
        if self.made.lock().contains(&key) {
            return Ok(path);
        }
        if !path.is_dir() {
            crate::store::layout::create_dir_private(&self.dir)?;
            let staging = self.dir.join(format!(".{key}.{}", uuid::Uuid::new_v4()));
            crate::store::layout::create_dir_private(&staging)?;
            for f in files {
                let app = staging.join(&f.application);
                if !app.is_dir() {
                    crate::store::layout::create_dir_private(&app)?;
                }
                use std::io::Write;
                crate::store::layout::open_private_file(&app.join(&f.profile))?.write_all(&f.content)?;
            }
            if let Err(e) = std::fs::rename(&staging, &path) {
                // Another invocation made the same view first: use that one.
                let _ = std::fs::remove_dir_all(&staging);
                if !path.is_dir() {
                    return Err(e);
                }
            }
        }
        self.made.lock().insert(key);
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_of_files_becomes_one_directory_made_once() {
        let dir = tempfile::tempdir().unwrap();
        let views = ConfigViews::new(dir.path().join("views"));
        let f = |profile: &str, content: &str| {
            let hash = crate::model::hash::content_hash_hex(content.as_bytes());
            Arc::new(ConfigFile::new("shop", profile, 1, bytes::Bytes::from(content.to_string()), hash))
        };
        let a = views.dir_for(&[f("flags", "{}"), f("motd", "hi")]).unwrap();
        assert_eq!(std::fs::read_to_string(a.join("shop/motd")).unwrap(), "hi");
        assert_eq!(views.dir_for(&[f("flags", "{}"), f("motd", "hi")]).unwrap(), a, "the same set, the same view");
        let b = views.dir_for(&[f("flags", "{\"x\":1}")]).unwrap();
        assert_ne!(a, b);
        assert!(!b.join("shop/motd").exists());
        let empty = views.dir_for(&[]).unwrap();
        assert_eq!(std::fs::read_dir(empty).unwrap().count(), 0);
    }
}
