//! Secrets per environment: `PUT /v1/secrets/{environment}/{name}` `{"value"}` (write
//! only), `GET /v1/secrets/{environment}` (names only), `DELETE`. Values are sealed with
//! the master key before they reach the store and are never returned.

use super::body::JsonBody;
use super::error::ApiResult;
use super::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The value is zeroized when the request is done with it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutSecret {
    value: zeroize::Zeroizing<String>,
}

/// A secret as listed: names and dates — its value is never returned.
#[derive(Serialize)]
pub struct SecretView {
    environment: String,
    name: String,
    created_at: String,
    updated_at: String,
}

impl From<crate::store::SecretMeta> for SecretView {
    fn from(s: crate::store::SecretMeta) -> Self {
        SecretView { environment: s.environment, name: s.name, created_at: s.created_at, updated_at: s.updated_at }
    }
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

pub async fn list(
    State(p): State<AppState>,
    Path(environment): Path<String>,
    page: super::paging::Page,
) -> ApiResult<Json<Value>> {
    let secrets: Vec<SecretView> =
        crate::ops::secrets::list(&p, environment).await?.into_iter().map(Into::into).collect();
    Ok(Json(page.render("secrets", secrets, |s| s.name.clone())))
}

pub async fn delete(
    State(p): State<AppState>,
    Path((environment, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    crate::ops::secrets::delete(&p, environment, name).await?;
    Ok(StatusCode::NO_CONTENT)
}
