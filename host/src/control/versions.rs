//! Versions: publish (immutable snapshots of `$LATEST`), list, get, delete.

use super::body::OptionalJson;
use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::model::{CodeHash, FunctionName, VersionId};
use crate::ops;
use crate::store::VersionRecord;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Publish {
    expected_code_hash: Option<String>,
    expected_revision: Option<String>,
    description: Option<String>,
}

#[derive(Serialize)]
pub struct VersionView {
    function: FunctionName,
    version: String,
    code_hash: CodeHash,
    /// The guest kind of the code (`stdio`, `wasi-http`).
    kind: Option<&'static str>,
    version_hash: String,
    config: crate::model::FunctionConfig,
    description: String,
    created_at: String,
}

impl VersionView {
    /// The record, with its code's kind read from the current snapshot.
    fn new(p: &AppState, v: VersionRecord) -> Self {
        let kind = p
            .snapshot()
            .functions
            .get(&v.function)
            .and_then(|f| f.versions.get(&v.version).map(|s| s.code.kind.as_str()));
        VersionView {
            function: v.function,
            version: v.version.to_string(),
            code_hash: v.code_hash,
            kind,
            version_hash: v.version_hash,
            config: v.config,
            description: v.description,
            created_at: v.created_at,
        }
    }
}

pub async fn publish(
    State(p): State<AppState>,
    Path(name): Path<String>,
    OptionalJson(req): OptionalJson<Publish>,
) -> ApiResult<(StatusCode, Json<VersionView>)> {
    let name = FunctionName::parse(&name)?;
    let input = ops::versions::Publish {
        expected_code_hash: req.expected_code_hash.as_deref().map(CodeHash::parse).transpose()?,
        expected_revision: req.expected_revision,
        description: req.description.unwrap_or_default(),
        ..Default::default()
    };
    let (v, created) = ops::versions::publish(&p, name, input).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(VersionView::new(&p, v))))
}

pub async fn list(
    State(p): State<AppState>,
    Path(name): Path<String>,
    page: super::paging::Page,
) -> ApiResult<Json<serde_json::Value>> {
    let name = FunctionName::parse(&name)?;
    let versions: Vec<VersionView> =
        ops::versions::list(&p, name).await?.into_iter().map(|v| VersionView::new(&p, v)).collect();
    let key = |v: &VersionView| super::paging::number_key(v.version.parse().unwrap_or(0));
    Ok(Json(page.render("versions", versions, key)))
}

fn number(version: &str) -> ApiResult<u32> {
    match VersionId::parse(version)? {
        VersionId::Number(n) => Ok(n),
        VersionId::Latest => Err(ApiError::BadRequest(
            "$LATEST is not a published version: read it with GET /v1/functions/{name}".into(),
        )),
    }
}

pub async fn get(
    State(p): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<Json<VersionView>> {
    let name = FunctionName::parse(&name)?;
    let n = number(&version)?;
    Ok(Json(VersionView::new(&p, ops::versions::get(&p, name, n).await?)))
}

pub async fn delete(State(p): State<AppState>, Path((name, version)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let name = FunctionName::parse(&name)?;
    if version == crate::model::qualifier::LATEST {
        return Err(ApiError::BadRequest("$LATEST version cannot be deleted without deleting the function.".into()));
    }
    let n = number(&version)?;
    ops::versions::delete(&p, name, n).await?;
    Ok(StatusCode::NO_CONTENT)
}
