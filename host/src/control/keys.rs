//! API keys: `POST /v1/keys {name, policy}` returns the key once (only its hash is kept),
//! `GET /v1/keys` lists names and policies, `DELETE /v1/keys/{name}` revokes at once (the
//! control plane looks keys up per request; the data plane's snapshot is rebuilt).

use super::body::JsonBody;
use super::error::ApiResult;
use super::AppState;
use crate::model::policy::Policy;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    name: String,
    policy: Policy,
}

/// A key as listed: name, policy, date — never its hash.
#[derive(Serialize)]
pub struct KeyView {
    name: String,
    policy: Policy,
    created_at: String,
}

impl From<crate::store::KeyRecord> for KeyView {
    fn from(k: crate::store::KeyRecord) -> Self {
        KeyView { name: k.name, policy: k.policy, created_at: k.created_at }
    }
}

pub async fn create(
    State(p): State<AppState>,
    JsonBody(req): JsonBody<CreateKey>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (rec, key) = crate::ops::keys::create(&p, req.name, req.policy).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "name": rec.name, "key": key, "policy": rec.policy, "created_at": rec.created_at })),
    ))
}

pub async fn list(State(p): State<AppState>) -> ApiResult<Json<Value>> {
    let keys: Vec<KeyView> = crate::ops::keys::list(&p).await?.into_iter().map(Into::into).collect();
    Ok(Json(json!({ "keys": keys })))
}

pub async fn delete(State(p): State<AppState>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    crate::ops::keys::delete(&p, name).await?;
    Ok(StatusCode::NO_CONTENT)
}
