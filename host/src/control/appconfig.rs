//! Configuration per environment (AppConfig): `/v1/applications/{application}` with its
//! `environments`, `profiles` (+ `versions`, raw bodies by `Content-Type`) and an
//! environment's `deployments`; `/v1/deployment-strategies`.

use super::body::{read_limited, JsonBody};
use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::model::appconfig::{self, ContentType, GrowthType, Strategy, Validator};
use crate::ops::appconfig as ops;
use crate::store::appconfig::{ApplicationRecord, ConfigVersionMeta, EnvironmentRecord, ProfileRecord};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApplication {
    name: String,
    #[serde(default)]
    description: String,
}

#[derive(Serialize)]
struct ApplicationView {
    name: String,
    description: String,
    created_at: String,
}

impl From<ApplicationRecord> for ApplicationView {
    fn from(a: ApplicationRecord) -> Self {
        ApplicationView { name: a.name, description: a.description, created_at: a.created_at }
    }
}

#[derive(Serialize)]
struct EnvironmentView {
    application: String,
    name: String,
    monitors: Vec<appconfig::Monitor>,
    created_at: String,
}

impl From<EnvironmentRecord> for EnvironmentView {
    fn from(e: EnvironmentRecord) -> Self {
        EnvironmentView { application: e.application, name: e.name, monitors: e.monitors, created_at: e.created_at }
    }
}

#[derive(Serialize)]
struct ProfileView {
    application: String,
    name: String,
    validators: Vec<Validator>,
    /// Where a function that lists it reads it: `/config/APP/PROFILE`.
    path: String,
    created_at: String,
}

impl From<ProfileRecord> for ProfileView {
    fn from(p: ProfileRecord) -> Self {
        ProfileView {
            path: format!("{}/{}/{}", appconfig::CONFIG_DIR, p.application, p.name),
            application: p.application,
            name: p.name,
            validators: p.validators,
            created_at: p.created_at,
        }
    }
}

#[derive(Serialize)]
struct VersionView {
    application: String,
    profile: String,
    version: u32,
    content_type: String,
    content_hash: String,
    size: u64,
    created_at: String,
}

impl From<ConfigVersionMeta> for VersionView {
    fn from(v: ConfigVersionMeta) -> Self {
        VersionView {
            application: v.application,
            profile: v.profile,
            version: v.number,
            content_type: v.content_type,
            content_hash: v.content_hash,
            size: v.size,
            created_at: v.created_at,
        }
    }
}

pub async fn create_application(
    State(p): State<AppState>,
    JsonBody(req): JsonBody<CreateApplication>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let a = ops::create_application(&p, req.name, req.description).await?;
    Ok((StatusCode::CREATED, Json(json!(ApplicationView::from(a)))))
}

pub async fn list_applications(State(p): State<AppState>) -> ApiResult<Json<Value>> {
    let apps: Vec<ApplicationView> = ops::list_applications(&p).await?.into_iter().map(Into::into).collect();
    Ok(Json(json!({ "applications": apps })))
}

pub async fn get_application(State(p): State<AppState>, Path(app): Path<String>) -> ApiResult<Json<Value>> {
    let (a, envs, profiles) = ops::get_application(&p, app).await?;
    let mut v = json!(ApplicationView::from(a));
    v["environments"] = json!(envs.into_iter().map(EnvironmentView::from).collect::<Vec<_>>());
    v["profiles"] = json!(profiles.into_iter().map(ProfileView::from).collect::<Vec<_>>());
    Ok(Json(v))
}

pub async fn delete_application(State(p): State<AppState>, Path(app): Path<String>) -> ApiResult<StatusCode> {
    ops::delete_application(&p, app).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateEnvironment {
    name: String,
    #[serde(default)]
    monitors: Vec<appconfig::Monitor>,
}

pub async fn create_environment(
    State(p): State<AppState>,
    Path(app): Path<String>,
    JsonBody(req): JsonBody<CreateEnvironment>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let e = ops::create_environment(&p, app, req.name, req.monitors).await?;
    Ok((StatusCode::CREATED, Json(json!(EnvironmentView::from(e)))))
}

pub async fn list_environments(State(p): State<AppState>, Path(app): Path<String>) -> ApiResult<Json<Value>> {
    let envs: Vec<EnvironmentView> = ops::list_environments(&p, app).await?.into_iter().map(Into::into).collect();
    Ok(Json(json!({ "environments": envs })))
}

pub async fn get_environment(
    State(p): State<AppState>,
    Path((app, env)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(EnvironmentView::from(ops::get_environment(&p, app, env).await?))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateEnvironment {
    monitors: Vec<appconfig::Monitor>,
}

/// `PATCH …/environments/{environment}` `{monitors}`: replaces the monitors.
pub async fn update_environment(
    State(p): State<AppState>,
    Path((app, env)): Path<(String, String)>,
    JsonBody(req): JsonBody<UpdateEnvironment>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(EnvironmentView::from(ops::set_monitors(&p, app, env, req.monitors).await?))))
}

pub async fn delete_environment(
    State(p): State<AppState>,
    Path((app, env)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    ops::delete_environment(&p, app, env).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateProfile {
    name: String,
    #[serde(default)]
    validators: Vec<Validator>,
}

pub async fn create_profile(
    State(p): State<AppState>,
    Path(app): Path<String>,
    JsonBody(req): JsonBody<CreateProfile>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let r = ops::create_profile(&p, app, req.name, req.validators).await?;
    Ok((StatusCode::CREATED, Json(json!(ProfileView::from(r)))))
}

pub async fn list_profiles(State(p): State<AppState>, Path(app): Path<String>) -> ApiResult<Json<Value>> {
    let profiles: Vec<ProfileView> = ops::list_profiles(&p, app).await?.into_iter().map(Into::into).collect();
    Ok(Json(json!({ "profiles": profiles })))
}

pub async fn get_profile(
    State(p): State<AppState>,
    Path((app, profile)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(ProfileView::from(ops::get_profile(&p, app, profile).await?))))
}

pub async fn delete_profile(
    State(p): State<AppState>,
    Path((app, profile)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    ops::delete_profile(&p, app, profile).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST …/versions`: the body is the content, its `Content-Type` says how to read it.
pub async fn create_version(
    State(p): State<AppState>,
    Path((app, profile)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let given = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let content_type = ContentType::from_header(given).ok_or_else(|| {
        ApiError::UnsupportedMediaType(format!(
            "Content-Type '{}' is not supported for configuration: use application/json, application/yaml or text/plain",
            given.chars().take(80).collect::<String>()
        ))
    })?;
    let content = read_limited(body, appconfig::MAX_CONTENT_BYTES, "Configuration content").await?;
    let (meta, created) = ops::create_version(&p, app, profile, content_type, content.to_vec()).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(json!(VersionView::from(meta)))))
}

pub async fn list_versions(
    State(p): State<AppState>,
    Path((app, profile)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let versions: Vec<VersionView> = ops::list_versions(&p, app, profile).await?.into_iter().map(Into::into).collect();
    Ok(Json(json!({ "versions": versions })))
}

fn version_number(s: &str) -> Result<u32, ApiError> {
    s.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "Invalid version '{}': a configuration version is a number from 1",
            s.chars().take(40).collect::<String>()
        ))
    })
}

/// `GET …/versions/{version}`: the content as stored, with its `Content-Type`.
pub async fn get_version(
    State(p): State<AppState>,
    Path((app, profile, version)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let n = version_number(&version)?;
    let v = ops::get_version(&p, app, profile, n).await?;
    let mut resp = (StatusCode::OK, v.content).into_response();
    let h = resp.headers_mut();
    for (k, val) in [
        (header::CONTENT_TYPE.as_str(), v.meta.content_type),
        ("x-waygate-config-version", v.meta.number.to_string()),
        ("x-waygate-content-hash", v.meta.content_hash),
    ] {
        if let Ok(val) = HeaderValue::from_str(&val) {
            h.insert(k, val);
        }
    }
    Ok(resp)
}

pub async fn delete_version(
    State(p): State<AppState>,
    Path((app, profile, version)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    ops::delete_version(&p, app, profile, version_number(&version)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateStrategy {
    name: String,
    #[serde(default)]
    description: String,
    growth_type: GrowthType,
    growth_factor: f64,
    duration_s: u64,
    #[serde(default)]
    final_bake_time_s: u64,
}

pub async fn create_strategy(
    State(p): State<AppState>,
    JsonBody(req): JsonBody<CreateStrategy>,
) -> ApiResult<(StatusCode, Json<Strategy>)> {
    let s = Strategy {
        name: req.name,
        description: req.description,
        growth_type: req.growth_type,
        growth_factor: req.growth_factor,
        duration_s: req.duration_s,
        final_bake_time_s: req.final_bake_time_s,
    };
    Ok((StatusCode::CREATED, Json(ops::create_strategy(&p, s).await?)))
}

pub async fn list_strategies(State(p): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "strategies": ops::list_strategies(&p).await? })))
}

pub async fn get_strategy(State(p): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<Strategy>> {
    Ok(Json(ops::get_strategy(&p, name).await?))
}

pub async fn delete_strategy(State(p): State<AppState>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    ops::delete_strategy(&p, name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartDeployment {
    profile: String,
    version: u32,
    strategy: String,
    #[serde(default)]
    description: String,
}

#[derive(Serialize)]
struct EventView {
    event_type: &'static str,
    at: String,
    description: String,
}

pub(super) fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

fn deployment_view(s: ops::DeploymentStatus) -> Value {
    let d = s.record;
    let events: Vec<EventView> = s
        .events
        .into_iter()
        .map(|e| EventView { event_type: e.event_type, at: rfc3339(e.at_ms), description: e.description })
        .collect();
    json!({
        "application": d.application,
        "environment": d.environment,
        "number": d.number,
        "profile": d.profile,
        "version": d.version,
        "strategy": d.strategy,
        "description": d.description,
        "state": s.state,
        "percentage_complete": s.percentage_complete,
        "started_at": rfc3339(d.started_at_ms),
        "ended_at": d.ended_at_ms.map(rfc3339),
        "events": events,
    })
}

fn deployment_number(s: &str) -> Result<u32, ApiError> {
    s.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "Invalid deployment number '{}': deployments are numbered from 1",
            s.chars().take(40).collect::<String>()
        ))
    })
}

pub async fn start_deployment(
    State(p): State<AppState>,
    Path((app, env)): Path<(String, String)>,
    JsonBody(req): JsonBody<StartDeployment>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let req = ops::StartDeployment {
        profile: req.profile,
        version: req.version,
        strategy: req.strategy,
        description: req.description,
    };
    let s = ops::start_deployment(&p, app, env, req).await?;
    Ok((StatusCode::CREATED, Json(deployment_view(s))))
}

pub async fn list_deployments(
    State(p): State<AppState>,
    Path((app, env)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let all: Vec<Value> = ops::list_deployments(&p, app, env).await?.into_iter().map(deployment_view).collect();
    Ok(Json(json!({ "deployments": all })))
}

pub async fn get_deployment(
    State(p): State<AppState>,
    Path((app, env, n)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    Ok(Json(deployment_view(ops::get_deployment(&p, app, env, deployment_number(&n)?).await?)))
}

/// `DELETE …/deployments/{n}`: stops it; the environment serves the previous version.
pub async fn stop_deployment(
    State(p): State<AppState>,
    Path((app, env, n)): Path<(String, String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let s =
        ops::stop_deployment(&p, app, env, deployment_number(&n)?, "Stopped by a StopDeployment call".into()).await?;
    Ok((StatusCode::ACCEPTED, Json(deployment_view(s))))
}
