//! A function's resource policy: which APIs (and stages, methods, paths) may invoke it.
//! Policies are per qualifier, as in Lambda: the unqualified function (covering
//! `$LATEST`), each version, each alias.

use super::body::JsonBody;
use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::model::{FunctionName, Qualifier, VersionId};
use crate::store::PermissionRecord;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddPermission {
    statement_id: String,
    principal: String,
    source: String,
    qualifier: Option<String>,
}

#[derive(Deserialize)]
pub struct QualifierParam {
    qualifier: Option<String>,
}

/// `None` for the unqualified policy; `$LATEST` can't have one of its own.
fn policy_qualifier(q: Option<&str>) -> ApiResult<Option<String>> {
    match Qualifier::parse(q)? {
        Qualifier::Version(VersionId::Latest) if q.is_some_and(|q| !q.is_empty()) => {
            Err(ApiError::BadRequest("We currently do not support adding policies for $LATEST.".into()))
        }
        Qualifier::Version(VersionId::Latest) => Ok(None),
        other => Ok(Some(other.to_string())),
    }
}

pub async fn add(
    State(p): State<AppState>,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<AddPermission>,
) -> ApiResult<(StatusCode, Json<PermissionRecord>)> {
    let function = FunctionName::parse(&name)?;
    let sid = &req.statement_id;
    if sid.is_empty() || sid.len() > 100 || !sid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(ApiError::BadRequest(format!(
            "Invalid statement_id '{sid}': it must match [a-zA-Z0-9-_]{{1,100}}"
        )));
    }
    let principal_ok = req.principal == "*"
        || req.principal.strip_prefix("api:").is_some_and(|id| crate::model::api::ApiId::parse(id).is_ok());
    if !principal_ok {
        return Err(ApiError::BadRequest(format!(
            "Invalid principal '{}': expected \"api:API_ID\" or \"*\"",
            req.principal
        )));
    }
    let parts: Vec<&str> = req.source.splitn(4, '/').collect();
    if parts.len() != 4 || parts.iter().take(3).any(|p| p.is_empty()) || req.source.len() > 1024 {
        return Err(ApiError::BadRequest(format!(
            "Invalid source '{}': expected API_ID/STAGE/METHOD/PATH, with * as a wildcard (e.g. abc123defg/*/GET/orders/*)",
            req.source
        )));
    }
    let rec = PermissionRecord {
        function,
        qualifier: policy_qualifier(req.qualifier.as_deref())?,
        statement_id: req.statement_id,
        principal: req.principal,
        source: req.source,
        created_at: crate::store::now_rfc3339(),
    };
    let rec = p.db(move |s| s.add_permission(&rec)).await?;
    p.refresh().await?;
    Ok((StatusCode::CREATED, Json(rec)))
}

pub async fn list(
    State(p): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<QualifierParam>,
) -> ApiResult<Json<Value>> {
    let function = FunctionName::parse(&name)?;
    let qualifier = policy_qualifier(q.qualifier.as_deref())?;
    let statements = p.db(move |s| s.list_permissions(&function, qualifier.as_deref())).await?;
    Ok(Json(json!({ "statements": statements })))
}

pub async fn remove(
    State(p): State<AppState>,
    Path((name, sid)): Path<(String, String)>,
    Query(q): Query<QualifierParam>,
) -> ApiResult<StatusCode> {
    let function = FunctionName::parse(&name)?;
    let qualifier = policy_qualifier(q.qualifier.as_deref())?;
    p.db(move |s| s.remove_permission(&function, qualifier.as_deref(), &sid)).await?;
    p.refresh().await?;
    Ok(StatusCode::NO_CONTENT)
}
