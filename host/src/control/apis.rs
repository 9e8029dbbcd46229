//! REST APIs and the routes of their draft. Route edits change only the draft: nothing is
//! live until it is deployed to a stage.

use super::body::JsonBody;
use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::model::api::{parse_target, ApiId, Integration, Method, RoutePath, Template};
use crate::store::{ApiRecord, RouteRecord};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApi {
    name: String,
    #[serde(default)]
    description: String,
}

pub fn api_id(id: &str) -> ApiResult<ApiId> {
    // An id that can't exist is "not found" (as API Gateway answers), not a 400.
    ApiId::parse(id).map_err(|_| ApiError::NotFound(format!("Invalid API identifier specified: {id}")))
}

pub async fn create(
    State(p): State<AppState>,
    JsonBody(req): JsonBody<CreateApi>,
) -> ApiResult<(StatusCode, Json<ApiRecord>)> {
    crate::model::api::validate_api_name(&req.name)?;
    crate::model::validate_text("API description", &req.description)?;
    if req.description.chars().count() > 1024 {
        return Err(ApiError::BadRequest("description is too long: at most 1024 characters".into()));
    }
    let rec = p.db(move |s| s.create_api(&req.name, &req.description)).await?;
    Ok((StatusCode::CREATED, Json(rec)))
}

pub async fn list(State(p): State<AppState>) -> ApiResult<Json<Value>> {
    let apis = p.db(|s| s.list_apis()).await?;
    Ok(Json(json!({ "apis": apis })))
}

pub async fn get(State(p): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<ApiRecord>> {
    let id = api_id(&id)?;
    Ok(Json(p.db(move |s| s.get_api(&id)).await?))
}

pub async fn delete(State(p): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id = api_id(&id)?;
    p.db(move |s| s.delete_api(&id)).await?;
    p.refresh().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutRoute {
    method: String,
    path: String,
    integration: Integration,
}

pub async fn put_route(
    State(p): State<AppState>,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<PutRoute>,
) -> ApiResult<(StatusCode, Json<RouteRecord>)> {
    let id = api_id(&id)?;
    let method = Method::parse(&req.method)?;
    let path = RoutePath::parse(&req.path)?;
    req.integration.validate()?;
    check_target_exists(&p, &req.integration)?;
    let (rec, created) = p.db(move |s| s.put_route(&id, method, &path, &req.integration)).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(rec)))
}

pub async fn list_routes(State(p): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = api_id(&id)?;
    let routes = p.db(move |s| s.list_routes(&id)).await?;
    Ok(Json(json!({ "routes": routes })))
}

pub async fn get_route(
    State(p): State<AppState>,
    Path((id, route)): Path<(String, String)>,
) -> ApiResult<Json<RouteRecord>> {
    let id = api_id(&id)?;
    Ok(Json(p.db(move |s| s.get_route(&id, &route)).await?))
}

pub async fn delete_route(
    State(p): State<AppState>,
    Path((id, route)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id = api_id(&id)?;
    p.db(move |s| s.delete_route(&id, &route)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A function target without stage variables names its function outright: that function
/// must exist when the route is put (and when it is deployed, see `deployments::create`).
/// A target with `${stageVariables.X}` can only be resolved per stage; an unresolvable one
/// is a 500 at request time with the reason in the log, as API Gateway does.
pub fn check_target_exists(p: &AppState, integration: &Integration) -> ApiResult<()> {
    let Integration::Function { target, .. } = integration else { return Ok(()) };
    if Template::parse(target)?.has_variables() {
        return Ok(());
    }
    let (function, _) = parse_target(target)?;
    if !p.snapshot().functions.contains_key(&function) {
        return Err(ApiError::BadRequest(format!(
            "Invalid integration target '{target}': function {function} does not exist"
        )));
    }
    Ok(())
}
