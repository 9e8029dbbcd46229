//! Compiled artifacts (`.cwasm`): native code, keyed by (code hash, engine fingerprint).
//! An artifact is machine code that will be mapped executable, so it is only ever handed
//! to wasmtime after its bytes match the hash recorded when it was compiled.

use super::{files::write_atomic, layout::DataDir, ArtifactRecord};
use crate::model::{hash::blake3_hex, CodeHash};
use anyhow::{bail, Context};

pub fn put(dir: &DataDir, code_hash: &CodeHash, fingerprint: &str, bytes: &[u8]) -> anyhow::Result<ArtifactRecord> {
    write_atomic(&dir.tmp_dir(), &dir.artifact(code_hash, fingerprint), bytes)?;
    Ok(ArtifactRecord {
        code_hash: *code_hash,
        fingerprint: fingerprint.to_string(),
        artifact_hash: blake3_hex(bytes),
        size: bytes.len() as u64,
    })
}

/// Reads the artifact and checks it against its recorded hash. The caller deserializes
/// these exact bytes (not the file again), so nothing can change between check and use.
pub fn read_verified(
    dir: &DataDir,
    code_hash: &CodeHash,
    fingerprint: &str,
    expected: &str,
) -> anyhow::Result<Vec<u8>> {
    let path = dir.artifact(code_hash, fingerprint);
    let bytes = std::fs::read(&path).with_context(|| format!("reading artifact {}", path.display()))?;
    let actual = blake3_hex(&bytes);
    if actual != expected {
        bail!("compiled artifact for code {code_hash} is corrupt on disk (hash {actual}, recorded {expected}); refusing to load it");
    }
    Ok(bytes)
}
