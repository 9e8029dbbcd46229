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
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An API as the management API shows it.
#[derive(Serialize)]
pub struct ApiView {
    id: ApiId,
    name: String,
    description: String,
    created_at: String,
}

impl From<ApiRecord> for ApiView {
    fn from(a: ApiRecord) -> Self {
        ApiView { id: a.id, name: a.name, description: a.description, created_at: a.created_at }
    }
}

/// A draft route (or a deployment's frozen one) as the API shows it.
#[derive(Serialize)]
pub struct RouteView {
    id: String,
    method: Method,
    path: RoutePath,
    integration: Integration,
    created_at: String,
    updated_at: String,
}

impl From<RouteRecord> for RouteView {
    fn from(r: RouteRecord) -> Self {
        RouteView {
            id: r.id,
            method: r.method,
            path: r.path,
            integration: r.integration,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

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
) -> ApiResult<(StatusCode, Json<ApiView>)> {
    let rec = ops::apis::create(&p, req.name, req.description).await?;
    Ok((StatusCode::CREATED, Json(rec.into())))
}

pub async fn list(State(p): State<AppState>, page: super::paging::Page) -> ApiResult<Json<Value>> {
    let apis: Vec<ApiView> = ops::apis::list(&p).await?.into_iter().map(Into::into).collect();
    Ok(Json(page.render("apis", apis, |a| a.id.to_string())))
}

pub async fn get(State(p): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<ApiView>> {
    let id = api_id(&id)?;
    Ok(Json(ops::apis::get(&p, id).await?.into()))
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
) -> ApiResult<(StatusCode, Json<RouteView>)> {
    let id = api_id(&id)?;
    let method = Method::parse(&req.method)?;
    let path = RoutePath::parse(&req.path)?;
    let (rec, created) = ops::apis::put_route(&p, id, method, path, req.integration).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(rec.into())))
}

pub async fn list_routes(
    State(p): State<AppState>,
    Path(id): Path<String>,
    page: super::paging::Page,
) -> ApiResult<Json<Value>> {
    let id = api_id(&id)?;
    let routes: Vec<RouteView> = ops::apis::list_routes(&p, id).await?.into_iter().map(Into::into).collect();
    Ok(Json(page.render("routes", routes, |r| format!("{} {}", r.path.as_str(), r.method.as_str()))))
}

pub async fn get_route(
    State(p): State<AppState>,
    Path((id, route)): Path<(String, String)>,
) -> ApiResult<Json<RouteView>> {
    let id = api_id(&id)?;
    Ok(Json(ops::apis::get_route(&p, id, route).await?.into()))
}

pub async fn delete_route(
    State(p): State<AppState>,
    Path((id, route)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id = api_id(&id)?;
    ops::apis::delete_route(&p, id, route).await?;
    Ok(StatusCode::NO_CONTENT)
}
