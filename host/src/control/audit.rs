//! `GET /v1/audit`: the audit log of mutating management calls, newest first, with
//! filters (`principal`, `action`, `resource` prefix, `since` RFC 3339, `before` id) and a
//! bounded `limit`.

use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::store::{AuditEntry, AuditQuery};
use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    principal: Option<String>,
    action: Option<String>,
    resource: Option<String>,
    since: Option<String>,
    before: Option<i64>,
    limit: Option<u32>,
}

/// An audit entry as the API shows it.
#[derive(Serialize)]
pub struct EntryView {
    id: i64,
    at: String,
    principal: String,
    method: String,
    path: String,
    action: String,
    resource: String,
    status: u16,
}

impl From<AuditEntry> for EntryView {
    fn from(e: AuditEntry) -> Self {
        EntryView {
            id: e.id,
            at: e.at,
            principal: e.principal,
            method: e.method,
            path: e.path,
            action: e.action,
            resource: e.resource,
            status: e.status,
        }
    }
}

pub async fn list(
    State(p): State<AppState>,
    params: Result<Query<AuditParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) = params.map_err(|e| ApiError::BadRequest(format!("Invalid query: {}", e.body_text())))?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_LIMIT}")));
    }
    for v in [&q.principal, &q.action, &q.resource, &q.since].into_iter().flatten() {
        if v.len() > 1024 {
            return Err(ApiError::BadRequest("filter values are at most 1024 bytes".into()));
        }
    }
    if let Some(s) = &q.since {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map_err(|_| ApiError::BadRequest(format!("since must be an RFC 3339 time, got '{s}'")))?;
    }
    let query = AuditQuery {
        principal: q.principal,
        action: q.action,
        resource_prefix: q.resource,
        since: q.since,
        before: q.before,
        limit,
    };
    let entries = crate::ops::audit::list(&p, query).await?;
    let next_before = if entries.len() == limit as usize { entries.last().map(|e| e.id) } else { None };
    let entries: Vec<EntryView> = entries.into_iter().map(Into::into).collect();
    Ok(Json(json!({ "entries": entries, "next_before": next_before })))
}
