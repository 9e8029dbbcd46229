//! Reserved concurrency: `PUT /v1/functions/{name}/concurrency {reserved_concurrency}` and
//! `DELETE` (unlimited again). A function-level setting, not versioned (as Lambda's
//! PutFunctionConcurrency); enforced in the shared invoke path.

use super::body::JsonBody;
use super::error::ApiResult;
use super::AppState;
use crate::model::FunctionName;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutConcurrency {
    reserved_concurrency: u32,
}

pub async fn put(
    State(p): State<AppState>,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<PutConcurrency>,
) -> ApiResult<Json<Value>> {
    let name = FunctionName::parse(&name)?;
    let rec = crate::ops::functions::set_reserved_concurrency(&p, name, Some(req.reserved_concurrency)).await?;
    Ok(Json(json!({ "function": rec.name, "reserved_concurrency": rec.reserved_concurrency })))
}

pub async fn delete(State(p): State<AppState>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    let name = FunctionName::parse(&name)?;
    crate::ops::functions::set_reserved_concurrency(&p, name, None).await?;
    Ok(StatusCode::NO_CONTENT)
}
