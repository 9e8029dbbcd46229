//! Code upload: validate and compile (off the reactor) → write blob and artifact
//! atomically → one transaction records them and points `$LATEST` at them. Any failure
//! before the transaction leaves no row behind (files without rows are swept at start).

use super::functions::function;
use super::{Error, Platform, Result};
use crate::model::{CodeHash, FunctionName};
use crate::runtime::compile::CompileError;
use crate::store::{artifacts, blobs, FunctionRecord, Tx, VersionRecord};
use std::sync::Arc;

/// Why code was refused: invalid wasm (the compiler's message), or a store failure.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{0}")]
    Invalid(#[from] CompileError),
    #[error(transparent)]
    Store(#[from] Error),
}

/// Code validated, compiled and written to disk (blob and artifact), not yet recorded: what
/// [`record_in`] points `$LATEST` at inside a transaction. Files without rows (a failed
/// or refused transaction) are swept at the next start.
pub struct Prepared {
    hash: CodeHash,
    /// The module (shared, not copied): a shared store keeps its bytes too.
    wasm: bytes::Bytes,
    /// SHA-256 of the package, base64 (Lambda's `CodeSha256`).
    package_sha256: String,
    artifact: crate::store::ArtifactRecord,
    pub outgoing_http: bool,
}

impl Prepared {
    pub fn hash(&self) -> CodeHash {
        self.hash
    }
}

/// SHA-256 of `bytes`, base64: how Lambda shows a package's hash (`CodeSha256`).
pub fn package_sha256(bytes: &[u8]) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(bytes))
}

/// Validates and compiles `wasm` (off the reactor) and writes its blob and artifact; the
/// compiled code is loaded, so the first request does not pay the load. `package` is
/// what the module came in (the module itself, or a zip holding it): its SHA-256 is kept.
pub async fn prepare(
    p: &Arc<Platform>,
    wasm: bytes::Bytes,
    package: Option<&[u8]>,
) -> std::result::Result<Prepared, UploadError> {
    if wasm.is_empty() {
        return Err(Error::Invalid("Code is empty: send the wasm module as the request body".into()).into());
    }
    let hash = CodeHash::of(&wasm);
    let package_sha256 = package_sha256(package.unwrap_or(&wasm));
    let this = p.clone();
    let module = wasm.clone();
    let (artifact, outgoing_http) = tokio::task::spawn_blocking(move || -> std::result::Result<_, UploadError> {
        let compiled = this.runtime.compile(&wasm)?;
        blobs::put(&this.data, &hash, &wasm).map_err(Error::from)?;
        let artifact = artifacts::put(&this.data, &hash, this.runtime.fingerprint(), compiled.kind, &compiled.artifact)
            .map_err(Error::from)?;
        // Loaded now, so the first request to this code (on $LATEST or a version
        // published from it) does not pay the load. A failure here only costs that
        // request the load (which reports its own error).
        if let Err(e) = this.runtime.loader().insert_compiled(&hash, &compiled) {
            tracing::warn!(code_hash = %hash, error = %e, "could not preload uploaded code");
        }
        Ok((artifact, compiled.outgoing_http))
    })
    .await
    .map_err(|e| Error::internal(format!("compile task failed: {e}")))??;
    Ok(Prepared { hash, wasm: module, package_sha256, artifact, outgoing_http })
}

/// Records prepared code and points `$LATEST` (of a function that exists) at it.
pub fn record_in(tx: &dyn Tx, name: &FunctionName, code: &Prepared) -> Result<()> {
    tx.record_code(&code.artifact, &code.wasm)?;
    tx.set_code(name, &code.hash, &code.package_sha256)?;
    Ok(())
}

/// Warms the instance pool for code just recorded.
pub async fn warm(p: &Arc<Platform>, code: &Prepared) {
    let code = crate::runtime::CodeRef {
        code_hash: code.hash,
        kind: code.artifact.kind,
        artifact: Ok(code.artifact.artifact_hash.clone()),
    };
    p.runtime.warm(&code).await;
}

/// Validates, compiles and stores `wasm` as `$LATEST`'s code; returns its hash and the
/// function.
pub async fn upload(
    p: &Arc<Platform>,
    name: FunctionName,
    wasm: bytes::Bytes,
) -> std::result::Result<(CodeHash, FunctionRecord, bool), UploadError> {
    let (rec, code, _) = update(p, name, wasm, None, UpdateCode::default()).await?;
    Ok((code.hash, rec, code.outgoing_http))
}

/// Lambda's UpdateFunctionCode options.
#[derive(Default)]
pub struct UpdateCode {
    /// Refuse unless `$LATEST`'s revision is this (`RevisionId`).
    pub expected_revision: Option<String>,
    /// Publish a version of the new `$LATEST` in the same transaction (`Publish`).
    pub publish: bool,
}

/// Stores `wasm` (which came in `package`) as `$LATEST`'s code and, when asked, publishes
/// it, in one transaction: the function, and the version published (if any).
pub async fn update(
    p: &Arc<Platform>,
    name: FunctionName,
    wasm: bytes::Bytes,
    package: Option<&[u8]>,
    opts: UpdateCode,
) -> std::result::Result<(FunctionRecord, Prepared, Option<VersionRecord>), UploadError> {
    // Checked before compiling too, so a missing function costs no compilation.
    p.read({
        let name = name.clone();
        move |tx| function(tx, &name).map(|_| ())
    })
    .await?;
    let code = prepare(p, wasm, package).await?;
    let (rec, version, code) = p
        .commit(move |tx| {
            let f = function(tx, &name)?;
            if opts.expected_revision.as_ref().is_some_and(|r| *r != f.revision_id) {
                return Err(super::versions::revision_mismatch());
            }
            record_in(tx, &name, &code)?;
            let version = match opts.publish {
                true => Some(super::versions::publish_in(tx, &name, &Default::default())?.0),
                false => None,
            };
            Ok((function(tx, &name)?, version, code))
        })
        .await?;
    warm(p, &code).await;
    Ok((rec, code, version))
}

/// The code of `$LATEST` (`version` `None`) or of a version, as uploaded: its hash and
/// bytes, read from the local blob or (shared store) fetched, checked against the hash
/// either way. For `waygate export` and anyone who wants the wasm back.
pub async fn download(p: &Arc<Platform>, name: FunctionName, version: Option<u32>) -> Result<(CodeHash, Vec<u8>)> {
    let hash = match version {
        None => {
            let f = super::functions::get(p, name.clone()).await?;
            f.code_hash.ok_or_else(|| {
                Error::Invalid(format!("Function {name} has no code yet: upload it with PUT /v1/functions/{name}/code"))
            })?
        }
        Some(n) => super::versions::get(p, name, n).await?.code_hash,
    };
    let this = p.clone();
    let read = tokio::task::spawn_blocking(move || {
        let fetch = || this.blob_bytes(&hash);
        blobs::read_or_fetch(&this.data, &hash, fetch)
    })
    .await
    .map_err(|e| Error::Internal(anyhow::anyhow!("reading code {hash}: {e}")))?;
    let bytes = read?;
    Ok((hash, bytes))
}
