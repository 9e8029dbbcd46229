//! Functions: create, read, list, delete, and `$LATEST`'s configuration.

use super::body::JsonBody;
use super::error::ApiResult;
use super::AppState;
use crate::model::{FunctionConfig, FunctionConfigPatch, FunctionName};
use crate::store::FunctionRecord;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateFunction {
    name: String,
    env: Option<BTreeMap<String, String>>,
    memory_mb: Option<u32>,
    timeout_ms: Option<u32>,
    description: Option<String>,
}

/// `$LATEST` as the API shows it.
#[derive(Serialize)]
pub struct FunctionView {
    #[serde(flatten)]
    record: FunctionRecord,
    version: &'static str,
}

impl From<FunctionRecord> for FunctionView {
    fn from(record: FunctionRecord) -> Self {
        FunctionView { record, version: "$LATEST" }
    }
}

pub async fn create(
    State(p): State<AppState>,
    JsonBody(req): JsonBody<CreateFunction>,
) -> ApiResult<(StatusCode, Json<FunctionView>)> {
    let name = FunctionName::parse(&req.name)?;
    let patch = FunctionConfigPatch {
        env: req.env,
        memory_mb: req.memory_mb,
        timeout_ms: req.timeout_ms,
        description: req.description,
    };
    let config = FunctionConfig::default().apply(patch, &p.config.limits)?;
    let rec = p.db(move |s| s.create_function(&name, &config)).await?;
    p.refresh().await?;
    Ok((StatusCode::CREATED, Json(rec.into())))
}

pub async fn list(State(p): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    let functions: Vec<FunctionView> = p.db(|s| s.list_functions()).await?.into_iter().map(Into::into).collect();
    Ok(Json(serde_json::json!({ "functions": functions })))
}

pub async fn get(State(p): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<FunctionView>> {
    let name = FunctionName::parse(&name)?;
    Ok(Json(p.db(move |s| s.get_function(&name)).await?.into()))
}

pub async fn delete(State(p): State<AppState>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    let name = FunctionName::parse(&name)?;
    let deleted = name.clone();
    p.db(move |s| s.delete_function(&name)).await?;
    p.refresh().await?;
    // A function created later under the same name starts with empty logs.
    p.observe.logs.forget(&deleted);
    Ok(StatusCode::NO_CONTENT)
}

pub async fn update_config(
    State(p): State<AppState>,
    Path(name): Path<String>,
    JsonBody(patch): JsonBody<FunctionConfigPatch>,
) -> ApiResult<Json<FunctionView>> {
    let name = FunctionName::parse(&name)?;
    let limits = p.config.limits.clone();
    let rec = p
        .db(move |s| {
            // Read-validate-write: the store's update is a single transaction; a concurrent
            // config change between the read and the write is last-writer-wins, as in Lambda.
            let current = s.get_function(&name)?;
            let next = current.config.apply(patch, &limits).map_err(|e| crate::store::StoreError::Invalid(e.0))?;
            s.update_config(&name, &next)
        })
        .await?;
    p.refresh().await?;
    Ok(Json(rec.into()))
}
