//! Code blobs: the uploaded wasm bytes, stored once under their blake3 hash.

use super::{files::write_atomic, layout::DataDir};
use crate::model::CodeHash;
use anyhow::{bail, Context};

/// Writes the blob unless an identical one is already there (same name = same bytes).
pub fn put(dir: &DataDir, hash: &CodeHash, bytes: &[u8]) -> anyhow::Result<()> {
    let path = dir.blob(hash);
    if path.exists() && verify(dir, hash).is_ok() {
        return Ok(());
    }
    write_atomic(&dir.tmp_dir(), &path, bytes)
}

/// Reads a blob and checks it still hashes to its name.
pub fn read_verified(dir: &DataDir, hash: &CodeHash) -> anyhow::Result<Vec<u8>> {
    let path = dir.blob(hash);
    // The message reaches API clients (502 bodies): it names the code, never the path.
    let bytes = std::fs::read(&path).with_context(|| format!("reading code blob {hash}"))?;
    let actual = CodeHash::of(&bytes);
    if actual != *hash {
        bail!("code blob {hash} failed its integrity check (its bytes hash to {actual}); refusing to run it");
    }
    Ok(bytes)
}

/// A blob from its local file, or — when there is no local file — from `fetch` (the
/// shared store, which keeps every blob's bytes; `None` from the embedded store), checked
/// against its hash and written locally, a cache for the next load. Verified either way.
pub fn read_or_fetch(
    dir: &DataDir,
    hash: &CodeHash,
    fetch: impl FnOnce() -> anyhow::Result<Option<Vec<u8>>>,
) -> anyhow::Result<Vec<u8>> {
    if dir.blob(hash).exists() {
        return read_verified(dir, hash);
    }
    let Some(bytes) = fetch().with_context(|| format!("fetching code blob {hash} from the store"))? else {
        return read_verified(dir, hash);
    };
    let actual = CodeHash::of(&bytes);
    if actual != *hash {
        bail!("code blob {hash} failed its integrity check (its bytes hash to {actual}); refusing to run it");
    }
    put(dir, hash, &bytes)?;
    Ok(bytes)
}

pub fn verify(dir: &DataDir, hash: &CodeHash) -> anyhow::Result<()> {
    read_verified(dir, hash).map(drop)
}
