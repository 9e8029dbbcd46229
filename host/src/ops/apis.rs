//! REST APIs and the routes of their draft. Route edits change only the draft: nothing is
//! live until it is deployed to a stage, so they don't change the routing snapshot (they
//! still commit through [`Platform::commit`], the one write path).

use super::{found, Error, Kind, Platform, Result};
use crate::model::api::{check_siblings, parse_target, random_id, ApiId, Integration, Method, RoutePath, Template};
use crate::store::{now_rfc3339, ApiRecord, RouteRecord, Tx};
use std::sync::Arc;

/// APIs' descriptions: at most this many characters (API Gateway's limit).
pub const MAX_DESCRIPTION_CHARS: usize = 1024;

/// The API, or `NotFound`.
pub fn api(tx: &dyn Tx, id: &ApiId) -> Result<ApiRecord> {
    found(tx.find_api(id)?, Kind::Api, id.as_str())
}

pub async fn create(p: &Arc<Platform>, name: String, description: String) -> Result<ApiRecord> {
    p.commit(move |tx| create_in(tx, name, description)).await
}

/// [`create`] inside a caller's transaction (a batch of changes, one commit).
pub fn create_in(tx: &dyn Tx, name: String, description: String) -> Result<ApiRecord> {
    crate::model::api::validate_api_name(&name)?;
    crate::model::validate_text("API description", &description)?;
    super::check_description(&description, MAX_DESCRIPTION_CHARS)?;
    let rec = ApiRecord { id: ApiId::generate(), name, description, created_at: now_rfc3339() };
    tx.insert_api(&rec)?;
    Ok(rec)
}

pub async fn list(p: &Arc<Platform>) -> Result<Vec<ApiRecord>> {
    p.read(|tx| tx.list_apis()).await
}

pub async fn get(p: &Arc<Platform>, id: ApiId) -> Result<ApiRecord> {
    p.read(move |tx| api(tx, &id)).await
}

/// Deletes the API with its routes, deployments and stages.
pub async fn delete(p: &Arc<Platform>, id: ApiId) -> Result<()> {
    p.commit(move |tx| {
        api(tx, &id)?;
        tx.delete_api(&id)?;
        Ok(())
    })
    .await
}

/// Creates or replaces the draft's route with this method and path; returns it and
/// whether it was created. A path may have only one variable sibling per level.
pub async fn put_route(
    p: &Arc<Platform>,
    id: ApiId,
    method: Method,
    path: RoutePath,
    integration: Integration,
) -> Result<(RouteRecord, bool)> {
    p.commit(move |tx| put_route_in(tx, &id, method, path, integration)).await
}

/// [`put_route`] inside a caller's transaction (a batch of changes, one commit).
pub fn put_route_in(
    tx: &dyn Tx,
    id: &ApiId,
    method: Method,
    path: RoutePath,
    integration: Integration,
) -> Result<(RouteRecord, bool)> {
    integration.validate_for(&path)?;
    {
        check_target_exists(tx, &integration)?;
        let routes = list_routes_in(tx, id)?;
        check_siblings(routes.iter().map(|r| &r.path).chain(std::iter::once(&path)))?;
        let now = now_rfc3339();
        let existing = routes.iter().find(|r| r.method == method && r.path == path);
        let rec = RouteRecord {
            id: existing.map(|r| r.id.clone()).unwrap_or_else(|| random_id(6)),
            method,
            path,
            integration,
            created_at: existing.map(|r| r.created_at.clone()).unwrap_or_else(|| now.clone()),
            updated_at: now,
        };
        tx.write_route(id, &rec)?;
        Ok((rec, existing.is_none()))
    }
}

pub(super) fn list_routes_in(tx: &dyn Tx, id: &ApiId) -> Result<Vec<RouteRecord>> {
    api(tx, id)?;
    tx.list_routes(id)
}

pub async fn list_routes(p: &Arc<Platform>, id: ApiId) -> Result<Vec<RouteRecord>> {
    p.read(move |tx| list_routes_in(tx, &id)).await
}

fn route(tx: &dyn Tx, id: &ApiId, route: &str) -> Result<RouteRecord> {
    api(tx, id)?;
    found(tx.find_route(id, route)?, Kind::Route, route)
}

pub async fn get_route(p: &Arc<Platform>, id: ApiId, route_id: String) -> Result<RouteRecord> {
    p.read(move |tx| route(tx, &id, &route_id)).await
}

pub async fn delete_route(p: &Arc<Platform>, id: ApiId, route_id: String) -> Result<()> {
    p.commit(move |tx| {
        route(tx, &id, &route_id)?;
        tx.delete_route(&id, &route_id)?;
        Ok(())
    })
    .await
}

/// A function target without stage variables names its function outright: that function
/// must exist when the route is put and when it is deployed. A target with
/// `${stageVariables.X}` can only be resolved per stage; an unresolvable one is a 500 at
/// request time with the reason in the log, as API Gateway does.
pub(super) fn check_target_exists(tx: &dyn Tx, integration: &Integration) -> Result<()> {
    let Integration::Function { target, .. } = integration else { return Ok(()) };
    if Template::parse(target)?.has_variables() {
        return Ok(());
    }
    let (function, _) = parse_target(target)?;
    if tx.find_function(&function)?.is_none() {
        return Err(Error::Invalid(format!(
            "Invalid integration target '{target}': function {function} does not exist"
        )));
    }
    Ok(())
}
