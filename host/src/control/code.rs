//! Code upload: `PUT /v1/functions/{name}/code` with the raw wasm as the body.
//! Order: stream the body under the size limit → hash → validate and compile (off the
//! reactor) → write blob and artifact atomically → one transaction points `$LATEST` at
//! them. Any failure before the transaction leaves no row behind.

use super::body::read_limited;
use super::error::{ApiError, ApiResult};
use super::functions::FunctionView;
use super::AppState;
use crate::model::{CodeHash, FunctionName};
use crate::store::{artifacts, blobs};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::Json;
use serde::Serialize;

#[derive(Serialize)]
pub struct UploadResult {
    code_hash: CodeHash,
    size: u64,
    function: FunctionView,
}

pub async fn upload(
    State(p): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<UploadResult>> {
    let name = FunctionName::parse(&name)?;
    super::body::check_media_type(headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes()), &["application/wasm"])?;
    let limit = p.config.max_upload_bytes;
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    // Fail fast on an unknown function before spending a compile on it.
    let n = name.clone();
    p.db(move |s| s.get_function(&n)).await?;
    let wasm = read_limited(body, limit, "Code").await.map_err(|e| match e {
        ApiError::PayloadTooLarge(_) => too_large(limit),
        other => other,
    })?;
    if wasm.is_empty() {
        return Err(ApiError::BadRequest("Code is empty: send the wasm module as the request body".into()));
    }
    let size = wasm.len() as u64;
    let (hash, rec) = store_code(&p, name, wasm).await?;
    Ok(Json(UploadResult { code_hash: hash, size, function: rec.into() }))
}

/// Validates, compiles and stores `wasm` as `$LATEST`'s code. Shared by the upload
/// handler and the bundled-examples setup of `waygate up`.
pub async fn store_code(
    p: &AppState,
    name: FunctionName,
    wasm: bytes::Bytes,
) -> ApiResult<(CodeHash, crate::store::FunctionRecord)> {
    let hash = CodeHash::of(&wasm);
    let size = wasm.len() as u64;
    let this = p.clone();
    let artifact = tokio::task::spawn_blocking(move || -> ApiResult<_> {
        let compiled = this.runtime.compile(&wasm)?;
        blobs::put(&this.data, &hash, &wasm)?;
        let artifact =
            artifacts::put(&this.data, &hash, this.runtime.fingerprint(), compiled.kind, &compiled.artifact)?;
        // Loaded now, so the first request to this code (on $LATEST or a version
        // published from it) does not pay the load. A failure here only costs that
        // request the load (which reports its own error).
        if let Err(e) = this.runtime.loader().insert_compiled(&hash, &compiled) {
            tracing::warn!(code_hash = %hash, error = %e, "could not preload uploaded code");
        }
        Ok(artifact)
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("compile task failed: {e}")))??;
    let code =
        crate::runtime::CodeRef { code_hash: hash, kind: artifact.kind, artifact: Ok(artifact.artifact_hash.clone()) };
    let rec = p.db(move |s| s.set_code(&name, &artifact, size)).await?;
    p.refresh().await?;
    p.runtime.warm(&code).await;
    Ok((hash, rec))
}

fn too_large(limit: usize) -> ApiError {
    ApiError::PayloadTooLarge(format!("Code is larger than the upload limit of {limit} bytes"))
}
