//! A function's resource policy: which APIs (and stages, methods, paths) may invoke it.
//! Policies are per qualifier, as in Lambda: the unqualified function (covering
//! `$LATEST`), each version, each alias.

use super::body::JsonBody;
use super::error::ApiResult;
use super::AppState;
use crate::model::FunctionName;
use crate::ops;
use crate::store::PermissionRecord;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddPermission {
    statement_id: String,
    principal: String,
    source: String,
    qualifier: Option<String>,
}

/// A resource-policy statement as the API shows it.
#[derive(Serialize)]
pub struct StatementView {
    function: FunctionName,
    qualifier: Option<String>,
    statement_id: String,
    principal: String,
    source: String,
    created_at: String,
}

impl From<PermissionRecord> for StatementView {
    fn from(p: PermissionRecord) -> Self {
        StatementView {
            function: p.function,
            qualifier: p.qualifier,
            statement_id: p.statement_id,
            principal: p.principal,
            source: p.source,
            created_at: p.created_at,
        }
    }
}

#[derive(Deserialize)]
pub struct QualifierParam {
    qualifier: Option<String>,
}

pub async fn add(
    State(p): State<AppState>,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<AddPermission>,
) -> ApiResult<(StatusCode, Json<StatementView>)> {
    let function = FunctionName::parse(&name)?;
    let input = ops::permissions::AddPermission {
        statement_id: req.statement_id,
        principal: req.principal,
        source: req.source,
        qualifier: req.qualifier,
    };
    let rec = ops::permissions::add(&p, function, input).await?;
    Ok((StatusCode::CREATED, Json(rec.into())))
}

pub async fn list(
    State(p): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<QualifierParam>,
) -> ApiResult<Json<Value>> {
    let function = FunctionName::parse(&name)?;
    let qualifier = ops::permissions::policy_qualifier(q.qualifier.as_deref())?;
    let statements: Vec<StatementView> =
        ops::permissions::list(&p, function, qualifier).await?.into_iter().map(Into::into).collect();
    Ok(Json(json!({ "statements": statements })))
}

pub async fn remove(
    State(p): State<AppState>,
    Path((name, sid)): Path<(String, String)>,
    Query(q): Query<QualifierParam>,
) -> ApiResult<StatusCode> {
    let function = FunctionName::parse(&name)?;
    let qualifier = ops::permissions::policy_qualifier(q.qualifier.as_deref())?;
    ops::permissions::remove(&p, function, qualifier, sid).await?;
    Ok(StatusCode::NO_CONTENT)
}
