//! Gradual alias traffic shifting: `POST /v1/functions/{name}/aliases/{alias}/shift`
//! `{to_version, strategy, monitors?}` starts one, `GET` shows the newest, `DELETE` stops
//! the one in progress (the alias keeps its version).

use super::body::JsonBody;
use super::error::ApiResult;
use super::AppState;
use crate::model::appconfig::Monitor;
use crate::model::{AliasName, FunctionName};
use crate::ops::alias_shifts::{self as ops, ShiftStatus};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartShift {
    to_version: u32,
    strategy: String,
    #[serde(default)]
    monitors: Vec<Monitor>,
}

fn view(s: ShiftStatus) -> Value {
    let x = s.record;
    let events: Vec<Value> = s
        .events
        .into_iter()
        .map(|e| json!({"event_type": e.event_type, "at": super::appconfig::rfc3339(e.at_ms), "description": e.description}))
        .collect();
    json!({
        "function": x.function,
        "alias": x.alias,
        "number": x.number,
        "from_version": x.from_version.to_string(),
        "to_version": x.to_version.to_string(),
        "strategy": x.strategy,
        "monitors": x.monitors,
        "state": s.state,
        "percentage_complete": s.percentage_complete,
        "started_at": super::appconfig::rfc3339(x.started_at_ms),
        "ended_at": x.ended_at_ms.map(super::appconfig::rfc3339),
        "events": events,
    })
}

pub async fn start(
    State(p): State<AppState>,
    Path((name, alias)): Path<(String, String)>,
    JsonBody(req): JsonBody<StartShift>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (name, alias) = (FunctionName::parse(&name)?, AliasName::parse(&alias)?);
    let req = ops::StartShift { to_version: req.to_version, strategy: req.strategy, monitors: req.monitors };
    Ok((StatusCode::CREATED, Json(view(ops::start(&p, name, alias, req).await?))))
}

pub async fn get(State(p): State<AppState>, Path((name, alias)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    let (name, alias) = (FunctionName::parse(&name)?, AliasName::parse(&alias)?);
    Ok(Json(view(ops::get(&p, name, alias).await?)))
}

pub async fn stop(
    State(p): State<AppState>,
    Path((name, alias)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (name, alias) = (FunctionName::parse(&name)?, AliasName::parse(&alias)?);
    let s = ops::stop(&p, name, alias, "Stopped by a call to DELETE …/shift".into()).await?;
    Ok((StatusCode::ACCEPTED, Json(view(s))))
}
