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
    /// Records a blob (once) and its artifact (both already on disk). A store shared by
    /// several hosts keeps the blob's bytes too (`wasm`), so any host can load the code.
    fn record_code(&self, artifact: &ArtifactRecord, wasm: &[u8]) -> StoreResult<()>;
    /// A blob's bytes from the store itself: `None` when the store does not keep bytes
    /// (the embedded store: they are files) or has none for `hash`. Not verified here.
    fn blob_bytes(&self, hash: &CodeHash) -> StoreResult<Option<Vec<u8>>>;
    /// Records (or replaces) an artifact of a recorded blob.
    fn add_artifact(&self, artifact: &ArtifactRecord) -> StoreResult<()>;
    fn artifacts(&self, fingerprint: &str) -> StoreResult<Vec<ArtifactRecord>>;
    /// The artifact of one blob for `fingerprint`, if recorded.
    fn find_artifact(&self, hash: &CodeHash, fingerprint: &str) -> StoreResult<Option<ArtifactRecord>>;
    fn blobs(&self) -> StoreResult<Vec<(CodeHash, u64)>>;
}
