//! REST APIs and the routes of their draft. Route edits change only the draft: nothing is
//! live until it is deployed to a stage.

use super::body::JsonBody;
use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::model::api::{ApiId, Integration, Method, RoutePath};
use crate::ops;
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
    let rec = ops::apis::create(&p, req.name, req.description).await?;
    Ok((StatusCode::CREATED, Json(rec)))
}

pub async fn list(State(p): State<AppState>) -> ApiResult<Json<Value>> {
    let apis = ops::apis::list(&p).await?;
    Ok(Json(json!({ "apis": apis })))
}

pub async fn get(State(p): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<ApiRecord>> {
    let id = api_id(&id)?;
    Ok(Json(ops::apis::get(&p, id).await?))
}

pub async fn delete(State(p): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id = api_id(&id)?;
    ops::apis::delete(&p, id).await?;
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
    let (rec, created) = ops::apis::put_route(&p, id, method, path, req.integration).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(rec)))
}

pub async fn list_routes(State(p): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = api_id(&id)?;
    let routes = ops::apis::list_routes(&p, id).await?;
    Ok(Json(json!({ "routes": routes })))
}

pub async fn get_route(
    State(p): State<AppState>,
    Path((id, route)): Path<(String, String)>,
) -> ApiResult<Json<RouteRecord>> {
    let id = api_id(&id)?;
    Ok(Json(ops::apis::get_route(&p, id, route).await?))
}

pub async fn delete_route(
    State(p): State<AppState>,
    Path((id, route)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id = api_id(&id)?;
    ops::apis::delete_route(&p, id, route).await?;
    Ok(StatusCode::NO_CONTENT)
}
