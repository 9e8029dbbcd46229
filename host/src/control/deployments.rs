//! Deployments: immutable snapshots of an API's draft routes. Deploying with a stage
//! name points that stage at the new snapshot (creating the stage if needed).

use super::apis::api_id;
use super::body::OptionalJson;
use super::error::ApiResult;
use super::stages::StageView;
use super::AppState;
use crate::model::api::StageName;
use crate::model::stage::CanaryPatch;
use crate::ops;
use crate::store::DeploymentRecord;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateDeployment {
    #[serde(default)]
    description: String,
    stage: Option<String>,
    /// With `stage`: deploy as that stage's canary (the stage keeps its deployment).
    canary: Option<CanaryPatch>,
}

/// A deployment as the API shows it: its frozen routes.
#[derive(Serialize)]
pub struct DeploymentView {
    api_id: crate::model::api::ApiId,
    id: String,
    description: String,
    routes: Vec<super::apis::RouteView>,
    created_at: String,
}

impl From<DeploymentRecord> for DeploymentView {
    fn from(d: DeploymentRecord) -> Self {
        DeploymentView {
            api_id: d.api_id,
            id: d.id,
            description: d.description,
            routes: d.routes.into_iter().map(Into::into).collect(),
            created_at: d.created_at,
        }
    }
}

#[derive(Serialize)]
pub struct Created {
    #[serde(flatten)]
    deployment: DeploymentView,
    #[serde(skip_serializing_if = "Option::is_none")]
    stage: Option<StageView>,
}

pub async fn create(
    State(p): State<AppState>,
    Path(id): Path<String>,
    OptionalJson(req): OptionalJson<CreateDeployment>,
) -> ApiResult<(StatusCode, Json<Created>)> {
    let id = api_id(&id)?;
    let stage = req.stage.as_deref().map(StageName::parse).transpose()?;
    let input =
        ops::deployments::Deploy { description: req.description, stage, canary: req.canary, ..Default::default() };
    let (deployment, stage) = ops::deployments::create(&p, id, input).await?;
    let stage = stage.map(|s| StageView::changed(&p, s));
    Ok((StatusCode::CREATED, Json(Created { deployment: deployment.into(), stage })))
}

pub async fn list(
    State(p): State<AppState>,
    Path(id): Path<String>,
    page: super::paging::Page,
) -> ApiResult<Json<Value>> {
    let id = api_id(&id)?;
    let deployments: Vec<DeploymentView> = ops::deployments::list(&p, id).await?.into_iter().map(Into::into).collect();
    Ok(Json(page.render("deployments", deployments, |d| format!("{} {}", d.created_at, d.id))))
}

pub async fn get(
    State(p): State<AppState>,
    Path((id, dep)): Path<(String, String)>,
) -> ApiResult<Json<DeploymentView>> {
    let id = api_id(&id)?;
    Ok(Json(ops::deployments::get(&p, id, dep).await?.into()))
}

pub async fn delete(State(p): State<AppState>, Path((id, dep)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let id = api_id(&id)?;
    ops::deployments::delete(&p, id, dep).await?;
    Ok(StatusCode::NO_CONTENT)
}
