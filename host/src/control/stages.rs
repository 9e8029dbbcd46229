//! Stages: named environments of an API (dev, test, prod), each pinned to a deployment
//! with its own variables and invoke URL. Stage settings apply immediately.

use super::apis::api_id;
use super::body::JsonBody;
use super::error::ApiResult;
use super::AppState;
use crate::model::api::{validate_variable_name, validate_variables, StageName};
use crate::model::stage::{CacheSettings, CanaryPatch, ThrottleSettings};
use crate::store::{StagePatch, StageRecord};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Serialize)]
pub struct StageView {
    #[serde(flatten)]
    stage: StageRecord,
    invoke_url: String,
    /// Whether a cache-invalidation key was issued (the key itself is never shown again).
    has_invalidation_key: bool,
}

impl StageView {
    pub fn new(p: &AppState, stage: StageRecord) -> Self {
        let invoke_url = p.invoke_url(stage.api_id.as_str(), stage.name.as_str());
        let has_invalidation_key = stage.invalidation_key_hash.is_some();
        StageView { stage, invoke_url, has_invalidation_key }
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
    /// Whose secrets the stage's functions see (default: the stage's name).
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
    /// A name, or `null` to go back to the default (the stage's name).
    #[serde(default, deserialize_with = "present")]
    secret_environment: Option<Option<String>>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

fn names(api: &str, stage: &str) -> ApiResult<(crate::model::api::ApiId, StageName)> {
    Ok((api_id(api)?, StageName::parse(stage)?))
}

/// The parts of a canary change that can be checked without the stage.
pub fn validate_canary_patch(c: &CanaryPatch) -> ApiResult<()> {
    if let Some(p) = c.percent_traffic {
        crate::model::stage::validate_percent(p)?;
    }
    if let Some(o) = &c.stage_variable_overrides {
        validate_variables(o)?;
    }
    Ok(())
}

fn check_description(d: &str) -> ApiResult<()> {
    if d.chars().count() > 1024 {
        return Err(super::error::ApiError::BadRequest("description is too long: at most 1024 characters".into()));
    }
    Ok(())
}

pub async fn put(
    State(p): State<AppState>,
    Path((api, stage)): Path<(String, String)>,
    JsonBody(req): JsonBody<PutStage>,
) -> ApiResult<(StatusCode, Json<StageView>)> {
    let (api, stage) = names(&api, &stage)?;
    validate_variables(&req.variables)?;
    check_description(&req.description)?;
    if let Some(e) = &req.secret_environment {
        super::secrets::validate_name("secret_environment", e)?;
    }
    let (rec, created) = p
        .db(move |s| {
            let env = req.secret_environment.as_deref();
            s.put_stage(&api, &stage, &req.deployment_id, &req.variables, &req.description, env)
        })
        .await?;
    p.refresh().await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(StageView::new(&p, rec))))
}

pub async fn patch(
    State(p): State<AppState>,
    Path((api, stage)): Path<(String, String)>,
    JsonBody(req): JsonBody<PatchStage>,
) -> ApiResult<Json<StageView>> {
    let (api, stage) = names(&api, &stage)?;
    for (k, v) in &req.variables {
        validate_variable_name(k)?;
        if let Some(v) = v {
            validate_variables(&BTreeMap::from([(k.clone(), v.clone())]))?;
        }
    }
    if let Some(d) = &req.description {
        check_description(d)?;
    }
    if let Some(Some(e)) = &req.secret_environment {
        super::secrets::validate_name("secret_environment", e)?;
    }
    // Validated here too so that a bad body answers before the store is touched.
    if let Some(c) = &req.cache {
        c.clone().validated()?;
    }
    if let Some(t) = &req.throttle {
        t.clone().validated()?;
    }
    if let Some(c) = &req.canary {
        validate_canary_patch(c)?;
    }
    let patch = StagePatch {
        deployment_id: req.deployment_id,
        variables: req.variables,
        description: req.description,
        secret_environment: req.secret_environment,
        canary: req.canary,
        cache: req.cache,
        throttle: req.throttle,
    };
    let new_cache = patch.cache.is_some();
    let rec = p.db(move |s| s.patch_stage(&api, &stage, &patch)).await?;
    p.refresh().await?;
    if new_cache {
        // Entries stored under the old settings (key headers, TTL) are not reused.
        p.live.cache.flush_stage(rec.api_id.as_str(), rec.name.as_str());
    }
    Ok(Json(StageView::new(&p, rec)))
}

pub async fn list(State(p): State<AppState>, Path(api): Path<String>) -> ApiResult<Json<Value>> {
    let api = api_id(&api)?;
    let stages: Vec<StageView> =
        p.db(move |s| s.list_stages(&api)).await?.into_iter().map(|s| StageView::new(&p, s)).collect();
    Ok(Json(json!({ "stages": stages })))
}

pub async fn get(State(p): State<AppState>, Path((api, stage)): Path<(String, String)>) -> ApiResult<Json<StageView>> {
    let (api, stage) = names(&api, &stage)?;
    let rec = p.db(move |s| s.get_stage(&api, &stage)).await?;
    Ok(Json(StageView::new(&p, rec)))
}

pub async fn delete(State(p): State<AppState>, Path((api, stage)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let (api, stage) = names(&api, &stage)?;
    let (a, st) = (api.clone(), stage.clone());
    p.db(move |s| s.delete_stage(&a, &st)).await?;
    p.refresh().await?;
    p.live.cache.flush_stage(api.as_str(), stage.as_str());
    Ok(StatusCode::NO_CONTENT)
}
