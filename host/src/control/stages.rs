//! Stages: named environments of an API (dev, test, prod), each pinned to a deployment
//! with its own variables and invoke URL. Stage settings apply immediately.

use super::apis::api_id;
use super::body::JsonBody;
use super::error::ApiResult;
use super::AppState;
use crate::model::api::StageName;
use crate::model::stage::{CacheSettings, CanaryPatch, CapacitySettings, PriorityClass, ThrottleSettings};
use crate::ops;
use crate::store::StageRecord;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A stage as the API shows it: its settings, invoke URL, and whether an invalidation key
/// was issued (the key itself, or its hash, is never shown).
#[derive(Serialize)]
pub struct StageView {
    api_id: crate::model::api::ApiId,
    name: StageName,
    deployment_id: String,
    variables: BTreeMap<String, String>,
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    canary: Option<crate::model::stage::CanarySettings>,
    cache: CacheSettings,
    throttle: ThrottleSettings,
    /// As set (absent fields: defaults).
    capacity: CapacitySettings,
    /// The class the stage runs in: `capacity.class`, or the default for its name.
    priority_class: PriorityClass,
    created_at: String,
    updated_at: String,
    secret_environment: Option<String>,
    /// The environment the stage runs in — whose secrets, environment values and
    /// configuration its functions see: `secret_environment`, or the stage's name.
    environment: String,
    invoke_url: String,
    has_invalidation_key: bool,
    /// What would fail as the stage is served now (`ops::stages::warnings`): absent when
    /// nothing would.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

impl StageView {
    /// The view after a change: its warnings also go to the server log.
    pub fn changed(p: &AppState, s: StageRecord) -> Self {
        let v = Self::new(p, s);
        for w in &v.warnings {
            tracing::warn!(api = %v.api_id, stage = %v.name, "{w}");
        }
        v
    }

    pub fn new(p: &AppState, s: StageRecord) -> Self {
        StageView {
            warnings: ops::stages::warnings(p, s.api_id.as_str(), s.name.as_str()),
            invoke_url: p.invoke_url(s.api_id.as_str(), s.name.as_str()),
            has_invalidation_key: s.invalidation_key_hash.is_some(),
            priority_class: s.capacity.class_for(s.name.as_str()),
            environment: s.secret_environment.clone().unwrap_or_else(|| s.name.to_string()),
            api_id: s.api_id,
            name: s.name,
            deployment_id: s.deployment_id,
            variables: s.variables,
            description: s.description,
            canary: s.canary,
            cache: s.cache,
            throttle: s.throttle,
            capacity: s.capacity,
            created_at: s.created_at,
            updated_at: s.updated_at,
            secret_environment: s.secret_environment,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutStage {
    deployment_id: String,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    description: String,
    /// The environment the stage's functions run in — their secrets, environment values
    /// and configuration (default: the stage's name). `environment` is the same field.
    #[serde(alias = "environment")]
    secret_environment: Option<String>,
}

/// `variables` maps a name to a new value, or to `null` to remove it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchStage {
    deployment_id: Option<String>,
    #[serde(default)]
    variables: BTreeMap<String, Option<String>>,
    description: Option<String>,
    /// Creates or changes the canary (absent fields keep their value).
    canary: Option<CanaryPatch>,
    /// Replaces the cache settings.
    cache: Option<CacheSettings>,
    /// Replaces the throttle settings.
    throttle: Option<ThrottleSettings>,
    /// Replaces the priority class and stage concurrency limit.
    capacity: Option<CapacitySettings>,
    /// A name, or `null` to go back to the default (the stage's name). `environment` is
    /// the same field.
    #[serde(default, deserialize_with = "present", alias = "environment")]
    secret_environment: Option<Option<String>>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

fn names(api: &str, stage: &str) -> ApiResult<(crate::model::api::ApiId, StageName)> {
    Ok((api_id(api)?, StageName::parse(stage)?))
}

pub async fn put(
    State(p): State<AppState>,
    Path((api, stage)): Path<(String, String)>,
    JsonBody(req): JsonBody<PutStage>,
) -> ApiResult<(StatusCode, Json<StageView>)> {
    let (api, stage) = names(&api, &stage)?;
    let input = ops::stages::PutStage {
        deployment_id: req.deployment_id,
        variables: req.variables,
        description: req.description,
        secret_environment: req.secret_environment,
    };
    let (rec, created) = ops::stages::put(&p, api, stage, input).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(StageView::changed(&p, rec))))
}

pub async fn patch(
    State(p): State<AppState>,
    Path((api, stage)): Path<(String, String)>,
    JsonBody(req): JsonBody<PatchStage>,
) -> ApiResult<Json<StageView>> {
    let (api, stage) = names(&api, &stage)?;
    let patch = ops::stages::StagePatch {
        deployment_id: req.deployment_id,
        variables: req.variables,
        description: req.description,
        secret_environment: req.secret_environment,
        canary: req.canary,
        cache: req.cache,
        throttle: req.throttle,
        capacity: req.capacity,
    };
    let rec = ops::stages::patch(&p, api, stage, patch).await?;
    Ok(Json(StageView::changed(&p, rec)))
}

pub async fn list(
    State(p): State<AppState>,
    Path(api): Path<String>,
    page: super::paging::Page,
) -> ApiResult<Json<Value>> {
    let api = api_id(&api)?;
    let stages: Vec<StageView> = ops::stages::list(&p, api).await?.into_iter().map(|s| StageView::new(&p, s)).collect();
    Ok(Json(page.render("stages", stages, |s| s.name.to_string())))
}

pub async fn get(State(p): State<AppState>, Path((api, stage)): Path<(String, String)>) -> ApiResult<Json<StageView>> {
    let (api, stage) = names(&api, &stage)?;
    let rec = ops::stages::get(&p, api, stage).await?;
    Ok(Json(StageView::new(&p, rec)))
}

pub async fn delete(State(p): State<AppState>, Path((api, stage)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let (api, stage) = names(&api, &stage)?;
    ops::stages::delete(&p, api, stage).await?;
    Ok(StatusCode::NO_CONTENT)
}
