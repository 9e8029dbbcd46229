//! API keys: `POST /v1/keys {name, policy}` returns the key once (only its hash is kept),
//! `GET /v1/keys` lists names and policies, `DELETE /v1/keys/{name}` revokes at once (the
//! control plane looks keys up per request; the data plane's snapshot is rebuilt).

use super::body::JsonBody;
use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::model::policy::Policy;
use crate::store::{now_rfc3339, KeyRecord};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    name: String,
    policy: Policy,
}

/// Key names: `[A-Za-z0-9_.-]{1,64}`; `admin` and `unauthenticated` are reserved (they
/// name the admin token and anonymous callers in the audit log).
pub fn validate_key_name(name: &str) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && name != "admin"
        && name != "unauthenticated";
    if !ok {
        return Err(ApiError::BadRequest(format!(
            "Invalid key name '{}': use 1 to 64 of A-Z a-z 0-9 _ . - (admin and unauthenticated are reserved)",
            name.chars().take(80).collect::<String>()
        )));
    }
    Ok(())
}

pub async fn create(
    State(p): State<AppState>,
    JsonBody(req): JsonBody<CreateKey>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    validate_key_name(&req.name)?;
    req.policy.validate()?;
    let (key, key_hash) = crate::access::generate_key();
    let rec = KeyRecord { name: req.name, key_hash, policy: req.policy, created_at: now_rfc3339() };
    let stored = rec.clone();
    p.db(move |s| s.create_key(&stored)).await?;
    p.refresh().await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "name": rec.name, "key": key, "policy": rec.policy, "created_at": rec.created_at })),
    ))
}

pub async fn list(State(p): State<AppState>) -> ApiResult<Json<Value>> {
    let keys = p.db(|s| s.list_keys()).await?;
    Ok(Json(json!({ "keys": keys })))
}

pub async fn delete(State(p): State<AppState>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    validate_key_name(&name)?;
    p.db(move |s| s.delete_key(&name)).await?;
    p.refresh().await?;
    Ok(StatusCode::NO_CONTENT)
}
