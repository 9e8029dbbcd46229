//! Metadata of the content-addressed code: blob rows (one per uploaded module) and
//! artifact rows (one per blob and engine fingerprint). The bytes are files
//! ([`super::blobs`], [`super::artifacts`]), written before the rows that name them.

use super::StoreResult;
use crate::model::{CodeHash, GuestKind};

/// A compiled artifact: native code for one blob under one engine configuration.
#[derive(Debug, Clone)]
pub struct ArtifactRecord {
    pub code_hash: CodeHash,
    pub fingerprint: String,
    pub artifact_hash: String,
    pub size: u64,
    /// The guest ABI the compiler found (column `kind`, 'stdio' for rows older than it).
    pub kind: GuestKind,
}

pub trait CodeStore {
    /// Records a blob of `size` bytes (once) and its artifact (both already on disk).
    fn record_code(&self, artifact: &ArtifactRecord, size: u64) -> StoreResult<()>;
    /// Records (or replaces) an artifact of a recorded blob.
    fn add_artifact(&self, artifact: &ArtifactRecord) -> StoreResult<()>;
    fn artifacts(&self, fingerprint: &str) -> StoreResult<Vec<ArtifactRecord>>;
    fn blobs(&self) -> StoreResult<Vec<(CodeHash, u64)>>;
}
