//! API keys: `POST /v1/keys {name, policy}` returns the key once (only its hash is kept),
//! with `"aws": true` also an access key id and secret access key for SigV4-signed
//! (AWS-style) calls under the same policy; `GET /v1/keys` lists names and policies, `DELETE /v1/keys/{name}` revokes at once (the
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
    /// Also issue an AWS access key id and secret access key (SigV4) under the policy.
    #[serde(default)]
    aws: bool,
}

/// A key as listed: name, policy, date — never its hash.
#[derive(Serialize)]
pub struct KeyView {
    name: String,
    policy: Policy,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<String>,
}

impl From<crate::store::KeyRecord> for KeyView {
    fn from(k: crate::store::KeyRecord) -> Self {
        KeyView {
            name: k.name,
            policy: k.policy,
            created_at: k.created_at,
            access_key_id: k.aws.map(|a| a.access_key_id),
        }
    }
}

pub async fn create(
    State(p): State<AppState>,
    JsonBody(req): JsonBody<CreateKey>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (rec, key) = crate::ops::keys::create(&p, req.name, req.policy, req.aws).await?;
    let mut body = json!({ "name": rec.name, "key": key.bearer, "policy": rec.policy, "created_at": rec.created_at });
    if let Some((id, secret)) = &key.aws {
        body["access_key_id"] = json!(id);
        body["secret_access_key"] = json!(secret.as_str());
    }
    Ok((StatusCode::CREATED, Json(body)))
}

pub async fn list(State(p): State<AppState>, page: super::paging::Page) -> ApiResult<Json<Value>> {
    let keys: Vec<KeyView> = crate::ops::keys::list(&p).await?.into_iter().map(Into::into).collect();
    Ok(Json(page.render("keys", keys, |k| k.name.clone())))
}

pub async fn delete(State(p): State<AppState>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    crate::ops::keys::delete(&p, name).await?;
    Ok(StatusCode::NO_CONTENT)
}
