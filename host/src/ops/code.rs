//! Code upload: validate and compile (off the reactor) → write blob and artifact
//! atomically → one transaction records them and points `$LATEST` at them. Any failure
//! before the transaction leaves no row behind (files without rows are swept at start).

use super::functions::function;
use super::{Error, Platform};
use crate::model::{CodeHash, FunctionName};
use crate::runtime::compile::CompileError;
use crate::store::{artifacts, blobs, FunctionRecord};
use std::sync::Arc;

/// Why code was refused: invalid wasm (the compiler's message), or a store failure.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{0}")]
    Invalid(#[from] CompileError),
    #[error(transparent)]
    Store(#[from] Error),
}

/// Validates, compiles and stores `wasm` as `$LATEST`'s code; returns its hash and the
/// function. The compiled code is loaded and warmed, so the first request does not pay
/// the load.
pub async fn upload(
    p: &Arc<Platform>,
    name: FunctionName,
    wasm: bytes::Bytes,
) -> std::result::Result<(CodeHash, FunctionRecord, bool), UploadError> {
    if wasm.is_empty() {
        return Err(Error::Invalid("Code is empty: send the wasm module as the request body".into()).into());
    }
    let hash = CodeHash::of(&wasm);
    let size = wasm.len() as u64;
    let this = p.clone();
    let artifact = tokio::task::spawn_blocking(move || -> std::result::Result<_, UploadError> {
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
    let (artifact, outgoing_http) = artifact;
    let code =
        crate::runtime::CodeRef { code_hash: hash, kind: artifact.kind, artifact: Ok(artifact.artifact_hash.clone()) };
    let rec = p
        .commit(move |tx| {
            function(tx, &name)?;
            tx.record_code(&artifact, size)?;
            tx.set_code(&name, &hash)?;
            function(tx, &name)
        })
        .await?;
    p.runtime.warm(&code).await;
    Ok((hash, rec, outgoing_http))
}
