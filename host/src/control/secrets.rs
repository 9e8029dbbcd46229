//! Secrets per environment: `PUT /v1/secrets/{environment}/{name}` `{"value"}` (write
//! only), `GET /v1/secrets/{environment}` (names only), `DELETE`. Values are sealed with
//! the master key before they reach the store and are never returned.

use super::body::JsonBody;
use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::secrets::MAX_SECRET_BYTES;
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

/// Environment and secret names: `[A-Za-z0-9_.-]{1,64}`, not made of dots only (they
/// appear in resources `secret/ENV/NAME`, in `secret:NAME` references and in URL paths,
/// where `.` and `..` are path navigation, not names).
pub fn validate_name(what: &str, s: &str) -> ApiResult<()> {
    if s.is_empty()
        || s.len() > 64
        || !s.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        || s.chars().all(|c| c == '.')
    {
        return Err(ApiError::BadRequest(format!(
            "Invalid {what} '{}': use 1 to 64 of A-Z a-z 0-9 _ . -, not only dots",
            s.chars().take(80).collect::<String>()
        )));
    }
    Ok(())
}

pub async fn put(
    State(p): State<AppState>,
    Path((environment, name)): Path<(String, String)>,
    JsonBody(req): JsonBody<PutSecret>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    validate_name("environment", &environment)?;
    validate_name("secret name", &name)?;
    if req.value.len() > MAX_SECRET_BYTES {
        return Err(ApiError::BadRequest(format!("secret value is too long: at most {MAX_SECRET_BYTES} bytes")));
    }
    let row = p.master_key.seal(&environment, &name, req.value.as_bytes())?;
    drop(req);
    let created = p.db(move |s| s.put_secret(&row)).await?;
    p.refresh().await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(json!({ "environment": environment, "name": name }))))
}

pub async fn list(State(p): State<AppState>, Path(environment): Path<String>) -> ApiResult<Json<Value>> {
    validate_name("environment", &environment)?;
    let secrets = p.db(move |s| s.list_secrets(&environment)).await?;
    Ok(Json(json!({ "secrets": secrets })))
}

pub async fn delete(
    State(p): State<AppState>,
    Path((environment, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    validate_name("environment", &environment)?;
    validate_name("secret name", &name)?;
    p.db(move |s| s.delete_secret(&environment, &name)).await?;
    p.refresh().await?;
    Ok(StatusCode::NO_CONTENT)
}
