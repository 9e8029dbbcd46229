//! Versions: publish (immutable snapshots of `$LATEST`), list, get, delete.

use super::body::OptionalJson;
use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::model::{CodeHash, FunctionName, VersionId};
use crate::store::{PublishInput, VersionRecord};
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
    version_hash: String,
    config: crate::model::FunctionConfig,
    description: String,
    created_at: String,
}

impl From<VersionRecord> for VersionView {
    fn from(v: VersionRecord) -> Self {
        VersionView {
            function: v.function,
            version: v.version.to_string(),
            code_hash: v.code_hash,
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
    let description = req.description.unwrap_or_default();
    if description.chars().count() > p.config.limits.max_description_chars {
        return Err(ApiError::BadRequest(format!(
            "description is too long: at most {} characters",
            p.config.limits.max_description_chars
        )));
    }
    let input = PublishInput {
        expected_code_hash: req.expected_code_hash.as_deref().map(CodeHash::parse).transpose()?,
        expected_revision: req.expected_revision,
        description,
    };
    let fname = name.clone();
    let (v, created) = p.db(move |s| s.publish_version(&name, &input)).await?;
    if created {
        p.refresh().await?;
        preload(&p, &fname, v.version).await;
    }
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(v.into())))
}

/// Loads the new version's code unless it is loaded (it usually is: uploads preload, and
/// the code is `$LATEST`'s), so the version's first request does not pay the load after
/// an eviction or a restart.
async fn preload(p: &AppState, function: &FunctionName, version: u32) {
    let code = p.snapshot().functions.get(function).and_then(|f| f.versions.get(&version)).map(|v| v.code.clone());
    let Some(code) = code else { return };
    let this = p.clone();
    let loaded = tokio::task::spawn_blocking(move || this.runtime.loader().preload(&code).map(|()| code)).await;
    match loaded {
        Ok(Ok(code)) => p.runtime.warm(&code).await,
        Ok(Err(e)) => tracing::warn!(%function, version, error = %e, "could not preload the published version's code"),
        Err(e) => tracing::warn!(%function, version, error = %e, "preload task failed"),
    }
}

pub async fn list(State(p): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<serde_json::Value>> {
    let name = FunctionName::parse(&name)?;
    let versions: Vec<VersionView> = p.db(move |s| s.list_versions(&name)).await?.into_iter().map(Into::into).collect();
    Ok(Json(serde_json::json!({ "versions": versions })))
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
    Ok(Json(p.db(move |s| s.get_version(&name, n)).await?.into()))
}

pub async fn delete(State(p): State<AppState>, Path((name, version)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let name = FunctionName::parse(&name)?;
    if version == crate::model::qualifier::LATEST {
        return Err(ApiError::BadRequest("$LATEST version cannot be deleted without deleting the function.".into()));
    }
    let n = number(&version)?;
    p.db(move |s| s.delete_version(&name, n)).await?;
    p.refresh().await?;
    Ok(StatusCode::NO_CONTENT)
}
