//! Functions: create, read, list, delete, and `$LATEST`'s configuration.

use super::body::JsonBody;
use super::error::ApiResult;
use super::AppState;
use crate::model::{FunctionConfigPatch, FunctionName};
use crate::ops;
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
    outbound: Option<Vec<String>>,
    config: Option<Vec<String>>,
}

/// `$LATEST` as the API shows it (the API's shape, apart from the store's record).
#[derive(Serialize)]
pub struct FunctionView {
    name: FunctionName,
    code_hash: Option<crate::model::CodeHash>,
    code_size: Option<u64>,
    /// The guest kind of the code (`stdio`, `wasi-http`): how it is run.
    kind: Option<&'static str>,
    config: crate::model::FunctionConfig,
    reserved_concurrency: Option<u32>,
    revision_id: String,
    created_at: String,
    updated_at: String,
    version: &'static str,
}

impl FunctionView {
    /// The record, with its code's kind read from the current snapshot.
    pub fn new(p: &AppState, r: FunctionRecord) -> Self {
        let kind = p
            .snapshot()
            .functions
            .get(&r.name)
            .and_then(|f| f.latest.as_ref().map(|l| l.code.kind.as_str()))
            .filter(|_| r.code_hash.is_some());
        FunctionView {
            name: r.name,
            code_hash: r.code_hash,
            code_size: r.code_size,
            kind,
            config: r.config,
            reserved_concurrency: r.reserved_concurrency,
            revision_id: r.revision_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: "$LATEST",
        }
    }

    pub fn kind(&self) -> Option<&'static str> {
        self.kind
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
        outbound: req.outbound,
        config: req.config,
        lambda: None,
    };
    let rec = ops::functions::create(&p, name, patch).await?;
    Ok((StatusCode::CREATED, Json(FunctionView::new(&p, rec))))
}

pub async fn list(State(p): State<AppState>, page: super::paging::Page) -> ApiResult<Json<serde_json::Value>> {
    let functions: Vec<FunctionView> =
        ops::functions::list(&p).await?.into_iter().map(|r| FunctionView::new(&p, r)).collect();
    Ok(Json(page.render("functions", functions, |f| f.name.to_string())))
}

pub async fn get(State(p): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<FunctionView>> {
    let name = FunctionName::parse(&name)?;
    Ok(Json(FunctionView::new(&p, ops::functions::get(&p, name).await?)))
}

pub async fn delete(State(p): State<AppState>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    let name = FunctionName::parse(&name)?;
    ops::functions::delete(&p, name).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn update_config(
    State(p): State<AppState>,
    Path(name): Path<String>,
    JsonBody(patch): JsonBody<FunctionConfigPatch>,
) -> ApiResult<Json<FunctionView>> {
    let name = FunctionName::parse(&name)?;
    Ok(Json(FunctionView::new(&p, ops::functions::update_config(&p, name, patch).await?)))
}
