//! API Gateway's resource model over an API's draft routes: a tree of resources (paths),
//! methods declared on them, and integrations that make a method a route. A route
//! (`GET /orders/{id}` → integration) is a method with its integration; the resources
//! above it exist implicitly. Resources and methods declared before their integration
//! (CreateResource, PutMethod) are kept as declarations beside the routes; a deployment
//! snapshots routes only, and refuses a declared method that has no integration yet, as
//! API Gateway refuses it.

use super::apis::{api, list_routes_in, put_route_in};
use super::{Error, Platform, Result};
use crate::model::api::{check_siblings, ApiId, Integration, Method, RoutePath};
use crate::store::{RouteRecord, Tx};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// One resource: its path and the methods on it, with the route when integrated.
#[derive(Debug, Clone)]
pub struct Resource {
    pub path: String,
    pub methods: BTreeMap<Method, Option<RouteRecord>>,
}

/// `/a/b/c` → `/`, `/a`, `/a/b`, `/a/b/c`.
fn with_ancestors(path: &str) -> Vec<String> {
    let mut out = vec!["/".to_string()];
    let mut cur = String::new();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        cur.push('/');
        cur.push_str(seg);
        out.push(cur.clone());
    }
    out
}

/// The parent of a non-root path.
pub fn parent(path: &str) -> String {
    match path.rfind('/') {
        Some(0) | None => "/".into(),
        Some(i) => path[..i].into(),
    }
}

fn resources_in(tx: &dyn Tx, id: &ApiId) -> Result<BTreeMap<String, Resource>> {
    let routes = list_routes_in(tx, id)?;
    let declared = tx.list_declared(id)?;
    let mut out: BTreeMap<String, Resource> = BTreeMap::new();
    let mut add = |path: &str| {
        for p in with_ancestors(path) {
            out.entry(p.clone()).or_insert_with(|| Resource { path: p, methods: BTreeMap::new() });
        }
    };
    add("/");
    for (path, _) in &declared {
        add(path);
    }
    for r in &routes {
        add(r.path.as_str());
    }
    for (path, method) in declared {
        if let (Some(m), Some(res)) = (method, out.get_mut(&path)) {
            res.methods.entry(m).or_insert(None);
        }
    }
    for r in routes {
        if let Some(res) = out.get_mut(r.path.as_str()) {
            res.methods.insert(r.method, Some(r));
        }
    }
    Ok(out)
}

/// Every resource of the API's draft, by path.
pub async fn list(p: &Arc<Platform>, id: ApiId) -> Result<BTreeMap<String, Resource>> {
    p.read(move |tx| resources_in(tx, &id)).await
}

fn resource_in(tx: &dyn Tx, id: &ApiId, path: &str) -> Result<Resource> {
    resources_in(tx, id)?.remove(path).ok_or_else(|| Error::not_found(super::Kind::Resource, path))
}

/// CreateResource: `path_part` under `parent`; the path's syntax and the one-variable-per-
/// level rule are the routes' own.
pub async fn create(p: &Arc<Platform>, id: ApiId, parent_path: String, path_part: String) -> Result<Resource> {
    p.commit(move |tx| {
        let all = resources_in(tx, &id)?;
        if !all.contains_key(&parent_path) {
            return Err(Error::not_found(super::Kind::Resource, parent_path.as_str()));
        }
        if path_part.is_empty() || path_part.contains('/') {
            return Err(Error::Invalid(format!(
                "Resource's path part only allow a-zA-Z0-9._- and curly braces at the beginning and the end and an \
                 optional plus sign before the closing brace, not '{}'",
                crate::model::names::truncate(&path_part)
            )));
        }
        let path = match parent_path.as_str() {
            "/" => format!("/{path_part}"),
            parent => format!("{parent}/{path_part}"),
        };
        let parsed = RoutePath::parse(&path)?;
        if all.contains_key(&path) {
            return Err(Error::Conflict(format!(
                "Another resource with the same parent already has this name: {path_part}"
            )));
        }
        let existing: Vec<RoutePath> = all.keys().filter_map(|p| RoutePath::parse(p).ok()).collect();
        check_siblings(existing.iter().chain(std::iter::once(&parsed)))?;
        if parent_path != "/"
            && RoutePath::parse(&parent_path)?
                .segments()
                .last()
                .is_some_and(|s| matches!(s, crate::model::api::Segment::Greedy(_)))
        {
            return Err(Error::Invalid("A greedy path variable ({name+}) must be the last part of a path".into()));
        }
        tx.declare(&id, &path, None)?;
        resource_in(tx, &id, &path)
    })
    .await
}

/// PutMethod: declares `method` on the resource (replacing its integration is
/// PutIntegration's job; an integrated method stays as it is).
pub async fn put_method(p: &Arc<Platform>, id: ApiId, path: String, method: Method) -> Result<Resource> {
    p.commit(move |tx| {
        resource_in(tx, &id, &path)?;
        tx.declare(&id, &path, Some(method))?;
        resource_in(tx, &id, &path)
    })
    .await
}

/// PutIntegration: the declared method becomes (or stays) a route with this integration.
pub async fn put_integration(
    p: &Arc<Platform>,
    id: ApiId,
    path: String,
    method: Method,
    integration: Integration,
) -> Result<RouteRecord> {
    p.commit(move |tx| {
        let res = resource_in(tx, &id, &path)?;
        if !res.methods.contains_key(&method) {
            return Err(Error::not_found(super::Kind::Method, format!("{} {path}", method.as_str())));
        }
        let (route, _) = put_route_in(tx, &id, method, RoutePath::parse(&path)?, integration)?;
        Ok(route)
    })
    .await
}

/// DeleteResource: the resource, every resource below it and their methods and routes.
pub async fn delete(p: &Arc<Platform>, id: ApiId, path: String) -> Result<()> {
    p.commit(move |tx| {
        if path == "/" {
            return Err(Error::Invalid("The root resource cannot be deleted".into()));
        }
        resource_in(tx, &id, &path)?;
        let below = format!("{path}/");
        for r in tx.list_routes(&id)? {
            if r.path.as_str() == path || r.path.as_str().starts_with(&below) {
                tx.delete_route(&id, &r.id)?;
            }
        }
        tx.delete_declared_under(&id, &path)?;
        Ok(())
    })
    .await
}

/// Declared methods without an integration: a deployment refuses them.
pub fn unintegrated(tx: &dyn Tx, id: &ApiId) -> Result<Vec<String>> {
    api(tx, id)?;
    let routes: BTreeSet<(String, Method)> =
        tx.list_routes(id)?.into_iter().map(|r| (r.path.as_str().to_string(), r.method)).collect();
    Ok(tx
        .list_declared(id)?
        .into_iter()
        .filter_map(|(path, m)| {
            m.filter(|m| !routes.contains(&(path.clone(), *m))).map(|m| format!("{} {path}", m.as_str()))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_have_ancestors_and_parents() {
        assert_eq!(with_ancestors("/a/{b}"), ["/", "/a", "/a/{b}"]);
        assert_eq!(with_ancestors("/"), ["/"]);
        assert_eq!(parent("/a/b"), "/a");
        assert_eq!(parent("/a"), "/");
    }
}
