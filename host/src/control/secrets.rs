//! Secrets per environment: `PUT /v1/secrets/{environment}/{name}` `{"value"}` (write
//! only), `GET /v1/secrets/{environment}` (names only), `DELETE`. Values are sealed with
//! the master key before they reach the store and are never returned.

use super::body::JsonBody;
use super::error::ApiResult;
use super::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

/// The value is zeroized when the request is done with it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutSecret {
    value: zeroize::Zeroizing<String>,
}

pub async fn put(
    State(p): State<AppState>,
    Path((environment, name)): Path<(String, String)>,
    JsonBody(req): JsonBody<PutSecret>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let created = crate::ops::secrets::put(&p, &environment, &name, req.value.as_bytes()).await?;
    drop(req);
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(json!({ "environment": environment, "name": name }))))
}

pub async fn list(State(p): State<AppState>, Path(environment): Path<String>) -> ApiResult<Json<Value>> {
    let secrets = crate::ops::secrets::list(&p, environment).await?;
    Ok(Json(json!({ "secrets": secrets })))
}

pub async fn delete(
    State(p): State<AppState>,
    Path((environment, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    crate::ops::secrets::delete(&p, environment, name).await?;
    Ok(StatusCode::NO_CONTENT)
}
