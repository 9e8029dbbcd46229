//! Code upload: `PUT /v1/functions/{name}/code` with the raw wasm as the body, streamed
//! under the size limit, then handed to `ops::code::upload` (compile, store, commit).

use super::body::read_limited;
use super::error::{ApiError, ApiResult};
use super::functions::FunctionView;
use super::AppState;
use crate::model::{CodeHash, FunctionName};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::Json;
use serde::Serialize;

#[derive(Serialize)]
pub struct UploadResult {
    code_hash: CodeHash,
    size: u64,
    /// The guest kind the upload was recognised as (`stdio`, `wasi-http`).
    kind: Option<&'static str>,
    /// Set when the code makes outbound HTTP requests (imports
    /// `wasi:http/outgoing-handler`): where `$LATEST` lets them go, and what that means.
    #[serde(skip_serializing_if = "Option::is_none")]
    outbound: Option<OutboundNote>,
    function: FunctionView,
}

#[derive(Serialize)]
pub struct OutboundNote {
    allow_list: Vec<String>,
    note: String,
}

impl OutboundNote {
    fn new(name: &FunctionName, allow_list: Vec<String>) -> Self {
        let note = if allow_list.is_empty() {
            format!(
                "This code makes outbound HTTP requests, but {name} declares no outbound hosts: every request \
                 will be refused. Set \"outbound\" in its configuration (PATCH /v1/functions/{name}/config)."
            )
        } else {
            format!(
                "Outbound HTTP requests may go to {} (placeholders filled from the invoking environment's values); \
                 any other request is refused.",
                allow_list.join(", ")
            )
        };
        OutboundNote { allow_list, note }
    }
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
    // Fail fast on an unknown function before reading and compiling the body.
    crate::ops::functions::get(&p, name.clone()).await?;
    let wasm = read_limited(body, limit, "Code").await.map_err(|e| match e {
        ApiError::PayloadTooLarge(_) => too_large(limit),
        other => other,
    })?;
    let size = wasm.len() as u64;
    let (hash, rec, outgoing_http) = crate::ops::code::upload(&p, name.clone(), wasm).await?;
    let outbound = outgoing_http.then(|| OutboundNote::new(&name, rec.config.outbound.clone()));
    let function = FunctionView::new(&p, rec);
    Ok(Json(UploadResult { code_hash: hash, size, kind: function.kind(), outbound, function }))
}

fn too_large(limit: usize) -> ApiError {
    ApiError::PayloadTooLarge(format!("Code is larger than the upload limit of {limit} bytes"))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadQuery {
    /// A version number; absent: `$LATEST`.
    version: Option<String>,
}

/// `GET /v1/functions/{name}/code[?version=N]`: the code as it was uploaded
/// (`application/wasm`), with its hash in `x-waygate-code-hash` (what `waygate export`
/// writes next to the file it makes).
pub async fn download(
    State(p): State<AppState>,
    Path(name): Path<String>,
    axum::extract::Query(q): axum::extract::Query<DownloadQuery>,
) -> ApiResult<axum::response::Response> {
    let name = FunctionName::parse(&name)?;
    let version = match q.version.as_deref() {
        None | Some("$LATEST") => None,
        Some(v) => Some(v.parse::<u32>().map_err(|_| {
            ApiError::BadRequest(format!(
                "Invalid version '{}': a version number or $LATEST",
                crate::model::names::truncate(v)
            ))
        })?),
    };
    let (hash, bytes) = crate::ops::code::download(&p, name, version).await?;
    let mut resp = axum::response::Response::new(Body::from(bytes));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/wasm"));
    if let Ok(v) = header::HeaderValue::from_str(&hash.to_string()) {
        h.insert("x-waygate-code-hash", v);
    }
    Ok(resp)
}
