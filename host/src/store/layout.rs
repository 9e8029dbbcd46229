//! The one place that knows the data directory's layout:
//!
//! ```text
//! DATA_DIR/
//!   waygate.db            SQLite metadata (WAL)
//!   admin.token           management API bearer token (0600)
//!   blobs/ab/abcdef….wasm code blobs, named by blake3 hash
//!   artifacts/FINGERPRINT/abcdef….cwasm  compiled code per engine fingerprint
//!   tmp/                  staging for atomic writes (same filesystem as the targets)
//! ```

use crate::model::CodeHash;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn create_dirs(&self) -> std::io::Result<()> {
        for d in [self.root.clone(), self.root.join("blobs"), self.root.join("artifacts"), self.tmp_dir()] {
            std::fs::create_dir_all(d)?;
        }
        Ok(())
    }
    pub fn database(&self) -> PathBuf {
        self.root.join("waygate.db")
    }
    pub fn admin_token(&self) -> PathBuf {
        self.root.join("admin.token")
    }
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
    pub fn blob(&self, hash: &CodeHash) -> PathBuf {
        let hex = hash.to_hex();
        self.root.join("blobs").join(&hex[..2]).join(format!("{hex}.wasm"))
    }
    pub fn artifact(&self, hash: &CodeHash, fingerprint: &str) -> PathBuf {
        self.root.join("artifacts").join(fingerprint).join(format!("{}.cwasm", hash.to_hex()))
    }
    /// True when the directory has no database yet (first start).
    pub fn is_new(&self) -> bool {
        !self.database().exists()
    }
}
