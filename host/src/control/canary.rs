//! A stage's canary: promote it (the stage takes its deployment and merged variables, the
//! canary stays at 0 %) or remove it. Creating and changing it goes through deployments
//! (`{stage, canary}`) and stage PATCH.

use super::error::ApiResult;
use super::stages::StageView;
use super::AppState;
use crate::model::api::{ApiId, StageName};
use axum::extract::{Path, State};
use axum::Json;

fn names(api: &str, stage: &str) -> ApiResult<(ApiId, StageName)> {
    Ok((super::apis::api_id(api)?, StageName::parse(stage)?))
}

pub async fn promote(
    State(p): State<AppState>,
    Path((api, stage)): Path<(String, String)>,
) -> ApiResult<Json<StageView>> {
    let (api, stage) = names(&api, &stage)?;
    let rec = crate::ops::stages::promote_canary(&p, api, stage).await?;
    Ok(Json(StageView::changed(&p, rec)))
}

pub async fn remove(
    State(p): State<AppState>,
    Path((api, stage)): Path<(String, String)>,
) -> ApiResult<Json<StageView>> {
    let (api, stage) = names(&api, &stage)?;
    let rec = crate::ops::stages::remove_canary(&p, api, stage).await?;
    Ok(Json(StageView::new(&p, rec)))
}
