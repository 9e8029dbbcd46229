//! A stage's response cache from the management side: flush it (FlushStageCache) and issue
//! the invalidation key that lets a client refresh an entry with `Cache-Control: max-age=0`.

use super::error::ApiResult;
use super::AppState;
use crate::model::api::StageName;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

/// `DELETE /v1/apis/{id}/stages/{stage}/cache` → 202. The cache is live state beside the
/// snapshot, not stored: nothing to commit.
pub async fn flush(
    State(p): State<AppState>,
    Path((api, stage)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (api, stage) = (super::apis::api_id(&api)?, StageName::parse(&stage)?);
    let rec = crate::ops::stages::flush_cache(&p, api, stage).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "api_id": rec.api_id, "stage": rec.name, "flushed": true }))))
}

/// `POST /v1/apis/{id}/stages/{stage}/invalidation-keys` → 201 `{key}`. The key is shown
/// once; only its hash is stored. A new key replaces the previous one.
pub async fn issue_key(
    State(p): State<AppState>,
    Path((api, stage)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (api, stage) = (super::apis::api_id(&api)?, StageName::parse(&stage)?);
    let key = crate::ops::stages::issue_invalidation_key(&p, api.clone(), stage.clone()).await?;
    Ok((StatusCode::CREATED, Json(json!({ "api_id": api.as_str(), "stage": stage.as_str(), "key": key }))))
}
