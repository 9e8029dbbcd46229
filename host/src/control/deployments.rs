//! Deployments: immutable snapshots of an API's draft routes. Deploying with a stage
//! name points that stage at the new snapshot (creating the stage if needed).

use super::apis::api_id;
use super::body::OptionalJson;
use super::error::{ApiError, ApiResult};
use super::stages::StageView;
use super::AppState;
use crate::model::api::StageName;
use crate::model::stage::CanaryPatch;
use crate::store::DeploymentRecord;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateDeployment {
    #[serde(default)]
    description: String,
    stage: Option<String>,
    /// With `stage`: deploy as that stage's canary (the stage keeps its deployment).
    canary: Option<CanaryPatch>,
}

#[derive(Serialize)]
pub struct Created {
    #[serde(flatten)]
    deployment: DeploymentRecord,
    #[serde(skip_serializing_if = "Option::is_none")]
    stage: Option<StageView>,
}

pub async fn create(
    State(p): State<AppState>,
    Path(id): Path<String>,
    OptionalJson(req): OptionalJson<CreateDeployment>,
) -> ApiResult<(StatusCode, Json<Created>)> {
    let id = api_id(&id)?;
    if req.description.chars().count() > 1024 {
        return Err(ApiError::BadRequest("description is too long: at most 1024 characters".into()));
    }
    let stage = req.stage.as_deref().map(StageName::parse).transpose()?;
    crate::model::validate_text("description", &req.description)?;
    // A route whose literal target's function was deleted since the route was put can't
    // be deployed (see `apis::check_target_exists`).
    let routes = {
        let id = id.clone();
        p.db(move |s| s.list_routes(&id)).await?
    };
    for r in &routes {
        super::apis::check_target_exists(&p, &r.integration)
            .map_err(|e| ApiError::BadRequest(format!("Route {} {}: {e}", r.method.as_str(), r.path.as_str())))?;
    }
    if let Some(c) = &req.canary {
        if c.deployment_id.is_some() {
            return Err(ApiError::BadRequest("canary.deployment_id is the new deployment: leave it out".into()));
        }
        super::stages::validate_canary_patch(c)?;
    }
    let (deployment, stage) =
        p.db(move |s| s.create_deployment(&id, &req.description, stage.as_ref(), req.canary.as_ref())).await?;
    p.refresh().await?;
    let stage = stage.map(|s| StageView::new(&p, s));
    Ok((StatusCode::CREATED, Json(Created { deployment, stage })))
}

pub async fn list(State(p): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = api_id(&id)?;
    let deployments = p.db(move |s| s.list_deployments(&id)).await?;
    Ok(Json(json!({ "deployments": deployments })))
}

pub async fn get(
    State(p): State<AppState>,
    Path((id, dep)): Path<(String, String)>,
) -> ApiResult<Json<DeploymentRecord>> {
    let id = api_id(&id)?;
    Ok(Json(p.db(move |s| s.get_deployment(&id, &dep)).await?))
}

pub async fn delete(State(p): State<AppState>, Path((id, dep)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let id = api_id(&id)?;
    p.db(move |s| s.delete_deployment(&id, &dep)).await?;
    p.refresh().await?;
    Ok(StatusCode::NO_CONTENT)
}
