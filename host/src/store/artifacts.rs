//! Compiled artifacts (`.cwasm`): native code, keyed by (code hash, engine fingerprint).
//! An artifact is machine code that will be mapped executable, so it is only ever handed
//! to wasmtime after its bytes match the hash recorded when it was compiled.

use super::{files::write_atomic, layout::DataDir, ArtifactRecord};
use crate::model::{hash::blake3_hex, CodeHash, GuestKind};
use anyhow::{bail, Context};

pub fn put(
    dir: &DataDir,
    code_hash: &CodeHash,
    fingerprint: &str,
    kind: GuestKind,
    bytes: &[u8],
) -> anyhow::Result<ArtifactRecord> {
    write_atomic(&dir.tmp_dir(), &dir.artifact(code_hash, fingerprint), bytes)?;
    Ok(ArtifactRecord {
        code_hash: *code_hash,
        fingerprint: fingerprint.to_string(),
        artifact_hash: blake3_hex(bytes),
        size: bytes.len() as u64,
        kind,
    })
}

/// Reads the artifact and checks it against its recorded hash (any of `expected`: the
/// snapshot's record and, after a repair, the newer one). The caller deserializes these
/// exact bytes (not the file again), so nothing can change between check and use.
pub fn read_verified(
    dir: &DataDir,
    code_hash: &CodeHash,
    fingerprint: &str,
    expected: &[&str],
) -> anyhow::Result<Vec<u8>> {
    let path = dir.artifact(code_hash, fingerprint);
    // The message reaches API clients (502 bodies): it names the code, never the path.
    let bytes = std::fs::read(&path).with_context(|| format!("reading the compiled artifact for code {code_hash}"))?;
    let actual = blake3_hex(&bytes);
    if !expected.contains(&actual.as_str()) {
        bail!("compiled artifact for code {code_hash} is corrupt on disk (hash {actual}, recorded {}); refusing to load it", expected.join(" or "));
    }
    Ok(bytes)
}

/// Opens the artifact and checks its contents against its recorded hash (as
/// [`read_verified`]) without copying them: the checked file is returned open, with its
/// size, for wasmtime to map (a module's load). The file is only ever replaced by a
/// rename, never written in place, so the open file keeps the contents checked here.
pub fn open_verified(
    dir: &DataDir,
    code_hash: &CodeHash,
    fingerprint: &str,
    expected: &[&str],
) -> anyhow::Result<(std::fs::File, u64)> {
    let path = dir.artifact(code_hash, fingerprint);
    let reading = || format!("reading the compiled artifact for code {code_hash}");
    let file = std::fs::File::open(&path).with_context(reading)?;
    let mut hasher = blake3::Hasher::new();
    let size = hasher.update_reader(&file).with_context(reading)?.count();
    let actual = hasher.finalize().to_hex();
    if !expected.contains(&actual.as_str()) {
        bail!("compiled artifact for code {code_hash} is corrupt on disk (hash {actual}, recorded {}); refusing to load it", expected.join(" or "));
    }
    Ok((file, size))
}

/// Whether the artifact file exists with its recorded size: the cheap startup check (the
/// hash is checked when it is loaded).
pub fn present(dir: &DataDir, record: &ArtifactRecord) -> bool {
    std::fs::metadata(dir.artifact(&record.code_hash, &record.fingerprint)).is_ok_and(|m| m.len() == record.size)
}
