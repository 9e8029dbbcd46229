//! The API Gateway half of the SQLite store: APIs, draft routes, deployments (immutable
//! route snapshots), stages, and functions' resource policies. Called from
//! `sqlite.rs`'s `Store` impl, each inside that call's transaction.

use super::*;
use crate::model::api::{check_siblings, random_id, validate_variables};
use crate::model::function_arn;
use rusqlite::{params, OptionalExtension, Transaction};

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS apis (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS routes (
    api_id      TEXT NOT NULL REFERENCES apis(id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    method      TEXT NOT NULL,
    path        TEXT NOT NULL,
    integration TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (api_id, id),
    UNIQUE (api_id, method, path)
);
-- Deployment rows are inserted and deleted, never updated.
CREATE TABLE IF NOT EXISTS deployments (
    api_id      TEXT NOT NULL REFERENCES apis(id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    description TEXT NOT NULL,
    routes      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (api_id, id)
);
CREATE TABLE IF NOT EXISTS stages (
    api_id        TEXT NOT NULL REFERENCES apis(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    deployment_id TEXT NOT NULL,
    variables     TEXT NOT NULL,
    description   TEXT NOT NULL,
    -- JSON settings (model/stage.rs); canary is NULL when the stage has none.
    canary        TEXT,
    cache         TEXT NOT NULL,
    throttle      TEXT NOT NULL,
    invalidation_key_hash TEXT,
    -- Environment whose secrets the stage's functions see; NULL: the stage's name.
    secret_environment TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (api_id, name),
    FOREIGN KEY (api_id, deployment_id) REFERENCES deployments(api_id, id)
);
-- qualifier '' is the unqualified function (which covers $LATEST).
CREATE TABLE IF NOT EXISTS permissions (
    function     TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
    qualifier    TEXT NOT NULL,
    statement_id TEXT NOT NULL,
    principal    TEXT NOT NULL,
    source       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (function, qualifier, statement_id)
);
"#;

/// Lambda's resource-policy size limit.
pub const MAX_POLICY_BYTES: usize = 20 * 1024;

fn conv<T, E: std::error::Error + Send + Sync + 'static>(r: Result<T, E>) -> rusqlite::Result<T> {
    r.map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

fn api_not_found(id: &ApiId) -> StoreError {
    StoreError::NotFound(format!("Invalid API identifier specified: {id}"))
}

fn api_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiRecord> {
    Ok(ApiRecord {
        id: conv(ApiId::parse(&r.get::<_, String>(0)?))?,
        name: r.get(1)?,
        description: r.get(2)?,
        created_at: r.get(3)?,
    })
}

pub fn get_api(tx: &Transaction<'_>, id: &ApiId) -> StoreResult<ApiRecord> {
    tx.query_row("SELECT id, name, description, created_at FROM apis WHERE id = ?1", [id.as_str()], api_row)
        .optional()?
        .ok_or_else(|| api_not_found(id))
}

pub fn create_api(tx: &Transaction<'_>, name: &str, description: &str) -> StoreResult<ApiRecord> {
    let id = ApiId::generate();
    tx.execute(
        "INSERT INTO apis (id, name, description, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![id.as_str(), name, description, now_rfc3339()],
    )?;
    get_api(tx, &id)
}

pub fn list_apis(tx: &Transaction<'_>) -> StoreResult<Vec<ApiRecord>> {
    let mut stmt = tx.prepare("SELECT id, name, description, created_at FROM apis ORDER BY created_at, id")?;
    let rows = stmt.query_map([], api_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn delete_api(tx: &Transaction<'_>, id: &ApiId) -> StoreResult<()> {
    get_api(tx, id)?;
    // Stages reference deployments; remove them first so the cascade order doesn't matter.
    tx.execute("DELETE FROM stages WHERE api_id = ?1", [id.as_str()])?;
    tx.execute("DELETE FROM apis WHERE id = ?1", [id.as_str()])?;
    Ok(())
}

const ROUTE_COLS: &str = "id, method, path, integration, created_at, updated_at";

fn route_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RouteRecord> {
    Ok(RouteRecord {
        id: r.get(0)?,
        method: conv(Method::parse(&r.get::<_, String>(1)?))?,
        path: conv(RoutePath::parse(&r.get::<_, String>(2)?))?,
        integration: conv(serde_json::from_str(&r.get::<_, String>(3)?))?,
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
    })
}

pub fn list_routes(tx: &Transaction<'_>, api: &ApiId) -> StoreResult<Vec<RouteRecord>> {
    get_api(tx, api)?;
    let mut stmt = tx.prepare(&format!("SELECT {ROUTE_COLS} FROM routes WHERE api_id = ?1 ORDER BY path, method"))?;
    let rows = stmt.query_map([api.as_str()], route_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn get_route(tx: &Transaction<'_>, api: &ApiId, id: &str) -> StoreResult<RouteRecord> {
    get_api(tx, api)?;
    tx.query_row(
        &format!("SELECT {ROUTE_COLS} FROM routes WHERE api_id = ?1 AND id = ?2"),
        params![api.as_str(), id],
        route_row,
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("Invalid route identifier specified: {id}")))
}

/// Upserts by (method, path), checking the one-variable-sibling rule against the draft.
pub fn put_route(
    tx: &Transaction<'_>,
    api: &ApiId,
    method: Method,
    path: &RoutePath,
    integration: &Integration,
) -> StoreResult<(RouteRecord, bool)> {
    let routes = list_routes(tx, api)?;
    check_siblings(routes.iter().map(|r| &r.path).chain(std::iter::once(path)))
        .map_err(|e| StoreError::Invalid(e.0))?;
    let now = now_rfc3339();
    let integration_json = serde_json::to_string(integration).map_err(|e| StoreError::Internal(e.into()))?;
    let existing = routes.iter().find(|r| r.method == method && r.path == *path);
    let id = match existing {
        Some(r) => {
            tx.execute(
                "UPDATE routes SET integration = ?3, updated_at = ?4 WHERE api_id = ?1 AND id = ?2",
                params![api.as_str(), r.id, integration_json, now],
            )?;
            r.id.clone()
        }
        None => {
            let id = random_id(6);
            tx.execute(
                &format!("INSERT INTO routes (api_id, {ROUTE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)"),
                params![api.as_str(), id, method.as_str(), path.as_str(), integration_json, now],
            )?;
            id
        }
    };
    Ok((get_route(tx, api, &id)?, existing.is_none()))
}

pub fn delete_route(tx: &Transaction<'_>, api: &ApiId, id: &str) -> StoreResult<()> {
    get_route(tx, api, id)?;
    tx.execute("DELETE FROM routes WHERE api_id = ?1 AND id = ?2", params![api.as_str(), id])?;
    Ok(())
}

const DEPLOYMENT_COLS: &str = "api_id, id, description, routes, created_at";

fn deployment_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeploymentRecord> {
    Ok(DeploymentRecord {
        api_id: conv(ApiId::parse(&r.get::<_, String>(0)?))?,
        id: r.get(1)?,
        description: r.get(2)?,
        routes: conv(serde_json::from_str(&r.get::<_, String>(3)?))?,
        created_at: r.get(4)?,
    })
}

pub fn get_deployment(tx: &Transaction<'_>, api: &ApiId, id: &str) -> StoreResult<DeploymentRecord> {
    get_api(tx, api)?;
    tx.query_row(
        &format!("SELECT {DEPLOYMENT_COLS} FROM deployments WHERE api_id = ?1 AND id = ?2"),
        params![api.as_str(), id],
        deployment_row,
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("Invalid Deployment identifier specified: {id}")))
}

pub fn create_deployment(
    tx: &Transaction<'_>,
    api: &ApiId,
    description: &str,
    stage: Option<&StageName>,
    canary: Option<&CanaryPatch>,
) -> StoreResult<(DeploymentRecord, Option<StageRecord>)> {
    let routes = list_routes(tx, api)?;
    if routes.is_empty() {
        return Err(StoreError::Invalid("The REST API doesn't contain any methods".into()));
    }
    let id = random_id(8);
    let routes_json = serde_json::to_string(&routes).map_err(|e| StoreError::Internal(e.into()))?;
    tx.execute(
        &format!("INSERT INTO deployments ({DEPLOYMENT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5)"),
        params![api.as_str(), id, description, routes_json, now_rfc3339()],
    )?;
    let stage = match (stage, canary) {
        (None, Some(_)) => return Err(StoreError::Invalid("A canary deployment needs a stage".into())),
        (None, None) => None,
        // As API Gateway: the stage keeps its deployment, the new one becomes its canary.
        (Some(name), Some(c)) => {
            if find_stage(tx, api, name)?.is_none() {
                return Err(StoreError::NotFound(format!(
                    "Invalid stage identifier specified: {name} (a canary is deployed to an existing stage)"
                )));
            }
            let canary = CanaryPatch { deployment_id: Some(id.clone()), ..c.clone() };
            Some(patch_stage(tx, api, name, &StagePatch { canary: Some(canary), ..StagePatch::default() })?)
        }
        (Some(name), None) => {
            let patch = StagePatch { deployment_id: Some(id.clone()), ..StagePatch::default() };
            Some(match find_stage(tx, api, name)? {
                Some(_) => patch_stage(tx, api, name, &patch)?,
                None => put_stage(tx, api, name, &id, &BTreeMap::new(), "", None)?.0,
            })
        }
    };
    Ok((get_deployment(tx, api, &id)?, stage))
}

pub fn list_deployments(tx: &Transaction<'_>, api: &ApiId) -> StoreResult<Vec<DeploymentRecord>> {
    get_api(tx, api)?;
    let mut stmt =
        tx.prepare(&format!("SELECT {DEPLOYMENT_COLS} FROM deployments WHERE api_id = ?1 ORDER BY created_at, id"))?;
    let rows = stmt.query_map([api.as_str()], deployment_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn delete_deployment(tx: &Transaction<'_>, api: &ApiId, id: &str) -> StoreResult<()> {
    get_deployment(tx, api, id)?;
    let users: Vec<String> = {
        let mut stmt = tx.prepare(
            "SELECT name FROM stages WHERE api_id = ?1 AND (deployment_id = ?2 OR json_extract(canary, '$.deployment_id') = ?2) ORDER BY name",
        )?;
        let rows = stmt.query_map(params![api.as_str(), id], |r| r.get(0))?.collect::<Result<Vec<_>, _>>()?;
        rows
    };
    if !users.is_empty() {
        return Err(StoreError::Conflict(format!(
            "Active stages pointing to this deployment must be moved or deleted (stages: {})",
            users.join(", ")
        )));
    }
    tx.execute("DELETE FROM deployments WHERE api_id = ?1 AND id = ?2", params![api.as_str(), id])?;
    Ok(())
}

const STAGE_COLS: &str = "api_id, name, deployment_id, variables, description, canary, cache, throttle, \
     invalidation_key_hash, created_at, updated_at, secret_environment";

fn stage_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StageRecord> {
    Ok(StageRecord {
        api_id: conv(ApiId::parse(&r.get::<_, String>(0)?))?,
        name: conv(StageName::parse(&r.get::<_, String>(1)?))?,
        deployment_id: r.get(2)?,
        variables: conv(serde_json::from_str(&r.get::<_, String>(3)?))?,
        description: r.get(4)?,
        canary: r.get::<_, Option<String>>(5)?.map(|c| conv(serde_json::from_str(&c))).transpose()?,
        cache: conv(serde_json::from_str(&r.get::<_, String>(6)?))?,
        throttle: conv(serde_json::from_str(&r.get::<_, String>(7)?))?,
        invalidation_key_hash: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
        secret_environment: r.get(11)?,
    })
}

/// Writes every column of a stage (after validation by the caller).
fn write_stage(tx: &Transaction<'_>, s: &StageRecord) -> StoreResult<()> {
    let canary = s.canary.as_ref().map(to_json).transpose()?;
    tx.execute(
        &format!(
            "INSERT OR REPLACE INTO stages ({STAGE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
        ),
        params![
            s.api_id.as_str(),
            s.name.as_str(),
            s.deployment_id,
            to_json(&s.variables)?,
            s.description,
            canary,
            to_json(&s.cache)?,
            to_json(&s.throttle)?,
            s.invalidation_key_hash,
            s.created_at,
            now_rfc3339(),
            s.secret_environment,
        ],
    )?;
    Ok(())
}

fn to_json<T: Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Internal(e.into()))
}

/// API Gateway's rule: while a canary exists the stage stays on its deployment (promote
/// or remove the canary first).
fn check_move(stage: &StageRecord, deployment_id: &str) -> StoreResult<()> {
    match &stage.canary {
        Some(c) if stage.deployment_id != deployment_id => Err(StoreError::Conflict(format!(
            "Stage {} has a canary (deployment {}): promote or remove the canary before moving the stage to deployment {deployment_id}",
            stage.name, c.deployment_id
        ))),
        _ => Ok(()),
    }
}

fn find_stage(tx: &Transaction<'_>, api: &ApiId, name: &StageName) -> StoreResult<Option<StageRecord>> {
    Ok(tx
        .query_row(
            &format!("SELECT {STAGE_COLS} FROM stages WHERE api_id = ?1 AND name = ?2"),
            params![api.as_str(), name.as_str()],
            stage_row,
        )
        .optional()?)
}

pub fn get_stage(tx: &Transaction<'_>, api: &ApiId, name: &StageName) -> StoreResult<StageRecord> {
    get_api(tx, api)?;
    find_stage(tx, api, name)?
        .ok_or_else(|| StoreError::NotFound(format!("Invalid stage identifier specified: {name}")))
}

/// Creates or replaces a stage's deployment, variables and description; its settings
/// (canary, cache, throttle, invalidation key) are kept.
pub fn put_stage(
    tx: &Transaction<'_>,
    api: &ApiId,
    name: &StageName,
    deployment_id: &str,
    variables: &BTreeMap<String, String>,
    description: &str,
    secret_environment: Option<&str>,
) -> StoreResult<(StageRecord, bool)> {
    get_deployment(tx, api, deployment_id)?;
    validate_variables(variables).map_err(|e| StoreError::Invalid(e.0))?;
    let existing = find_stage(tx, api, name)?;
    let stage = match &existing {
        Some(s) => {
            check_move(s, deployment_id)?;
            StageRecord {
                deployment_id: deployment_id.to_string(),
                variables: variables.clone(),
                description: description.to_string(),
                secret_environment: secret_environment.map(str::to_string),
                ..s.clone()
            }
        }
        None => StageRecord {
            api_id: api.clone(),
            name: name.clone(),
            deployment_id: deployment_id.to_string(),
            variables: variables.clone(),
            description: description.to_string(),
            canary: None,
            cache: Default::default(),
            throttle: Default::default(),
            invalidation_key_hash: None,
            created_at: now_rfc3339(),
            updated_at: String::new(),
            secret_environment: secret_environment.map(str::to_string),
        },
    };
    write_stage(tx, &stage)?;
    Ok((get_stage(tx, api, name)?, existing.is_none()))
}

pub fn patch_stage(
    tx: &Transaction<'_>,
    api: &ApiId,
    name: &StageName,
    patch: &StagePatch,
) -> StoreResult<StageRecord> {
    let mut stage = get_stage(tx, api, name)?;
    let invalid = |e: crate::model::Invalid| StoreError::Invalid(e.0);
    if let Some(c) = &patch.canary {
        let canary = CanarySettings::apply(stage.canary.as_ref(), c).map_err(invalid)?;
        get_deployment(tx, api, &canary.deployment_id)?;
        stage.canary = Some(canary);
    }
    if let Some(d) = &patch.deployment_id {
        get_deployment(tx, api, d)?;
        check_move(&stage, d)?;
        stage.deployment_id = d.clone();
    }
    for (k, v) in &patch.variables {
        match v {
            Some(v) => stage.variables.insert(k.clone(), v.clone()),
            None => stage.variables.remove(k),
        };
    }
    validate_variables(&stage.variables).map_err(invalid)?;
    if let Some(d) = &patch.description {
        stage.description = d.clone();
    }
    if let Some(e) = &patch.secret_environment {
        stage.secret_environment = e.clone();
    }
    if let Some(c) = &patch.cache {
        stage.cache = c.clone().validated().map_err(invalid)?;
    }
    if let Some(t) = &patch.throttle {
        stage.throttle = t.clone().validated().map_err(invalid)?;
    }
    write_stage(tx, &stage)?;
    get_stage(tx, api, name)
}

pub fn promote_canary(tx: &Transaction<'_>, api: &ApiId, name: &StageName) -> StoreResult<StageRecord> {
    let mut stage = get_stage(tx, api, name)?;
    let Some(canary) = stage.canary.as_mut() else {
        return Err(StoreError::Invalid("Promotion not available. Canary does not exist.".into()));
    };
    let variables = canary.variables(&stage.variables);
    validate_variables(&variables).map_err(|e| StoreError::Invalid(e.0))?;
    stage.deployment_id = canary.deployment_id.clone();
    stage.variables = variables;
    canary.percent_traffic = 0.0;
    write_stage(tx, &stage)?;
    get_stage(tx, api, name)
}

pub fn remove_canary(tx: &Transaction<'_>, api: &ApiId, name: &StageName) -> StoreResult<StageRecord> {
    let mut stage = get_stage(tx, api, name)?;
    if stage.canary.take().is_none() {
        return Err(StoreError::NotFound(format!("Stage {name} has no canary")));
    }
    write_stage(tx, &stage)?;
    get_stage(tx, api, name)
}

pub fn set_invalidation_key(tx: &Transaction<'_>, api: &ApiId, name: &StageName, key_hash: &str) -> StoreResult<()> {
    let mut stage = get_stage(tx, api, name)?;
    stage.invalidation_key_hash = Some(key_hash.to_string());
    write_stage(tx, &stage)
}

pub fn list_stages(tx: &Transaction<'_>, api: &ApiId) -> StoreResult<Vec<StageRecord>> {
    get_api(tx, api)?;
    let mut stmt = tx.prepare(&format!("SELECT {STAGE_COLS} FROM stages WHERE api_id = ?1 ORDER BY name"))?;
    let rows = stmt.query_map([api.as_str()], stage_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn delete_stage(tx: &Transaction<'_>, api: &ApiId, name: &StageName) -> StoreResult<()> {
    get_stage(tx, api, name)?;
    tx.execute("DELETE FROM stages WHERE api_id = ?1 AND name = ?2", params![api.as_str(), name.as_str()])?;
    Ok(())
}

const PERMISSION_COLS: &str = "function, qualifier, statement_id, principal, source, created_at";

fn permission_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PermissionRecord> {
    let q: String = r.get(1)?;
    Ok(PermissionRecord {
        function: conv(FunctionName::parse(&r.get::<_, String>(0)?))?,
        qualifier: (!q.is_empty()).then_some(q),
        statement_id: r.get(2)?,
        principal: r.get(3)?,
        source: r.get(4)?,
        created_at: r.get(5)?,
    })
}

/// Checks that the qualifier names an existing version or alias.
fn check_qualifier(tx: &Transaction<'_>, function: &FunctionName, qualifier: Option<&str>) -> StoreResult<()> {
    let Some(q) = qualifier else { return Ok(()) };
    let exists = if q.bytes().all(|b| b.is_ascii_digit()) {
        tx.query_row(
            "SELECT 1 FROM versions WHERE function = ?1 AND number = ?2",
            params![function.as_str(), q],
            |_| Ok(()),
        )
    } else {
        tx.query_row("SELECT 1 FROM aliases WHERE function = ?1 AND name = ?2", params![function.as_str(), q], |_| {
            Ok(())
        })
    }
    .optional()?;
    exists
        .map(drop)
        .ok_or_else(|| StoreError::NotFound(format!("Function not found: {}", function_arn(function, Some(q)))))
}

pub fn add_permission(tx: &Transaction<'_>, p: &PermissionRecord) -> StoreResult<PermissionRecord> {
    super::sqlite::function_exists(tx, &p.function)?;
    let q = p.qualifier.as_deref();
    check_qualifier(tx, &p.function, q)?;
    let current = list_permissions(tx, &p.function, q)?;
    if current.iter().any(|c| c.statement_id == p.statement_id) {
        return Err(StoreError::Conflict(format!(
            "The statement id ({}) provided already exists. Please provide a new statement id, or remove the existing statement.",
            p.statement_id
        )));
    }
    let size: usize =
        current.iter().chain(std::iter::once(p)).map(|s| serde_json::to_string(s).map(|j| j.len()).unwrap_or(0)).sum();
    if size > MAX_POLICY_BYTES {
        return Err(StoreError::Invalid(format!(
            "The final policy size ({size}) is bigger than the limit ({MAX_POLICY_BYTES})."
        )));
    }
    tx.execute(
        &format!("INSERT INTO permissions ({PERMISSION_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
        params![p.function.as_str(), q.unwrap_or(""), p.statement_id, p.principal, p.source, p.created_at],
    )?;
    Ok(p.clone())
}

pub fn list_permissions(
    tx: &Transaction<'_>,
    function: &FunctionName,
    qualifier: Option<&str>,
) -> StoreResult<Vec<PermissionRecord>> {
    super::sqlite::function_exists(tx, function)?;
    check_qualifier(tx, function, qualifier)?;
    let mut stmt = tx.prepare(&format!(
        "SELECT {PERMISSION_COLS} FROM permissions WHERE function = ?1 AND qualifier = ?2 ORDER BY created_at, statement_id"
    ))?;
    let rows = stmt
        .query_map(params![function.as_str(), qualifier.unwrap_or("")], permission_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn remove_permission(
    tx: &Transaction<'_>,
    function: &FunctionName,
    qualifier: Option<&str>,
    sid: &str,
) -> StoreResult<()> {
    super::sqlite::function_exists(tx, function)?;
    let n = tx.execute(
        "DELETE FROM permissions WHERE function = ?1 AND qualifier = ?2 AND statement_id = ?3",
        params![function.as_str(), qualifier.unwrap_or(""), sid],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("Statement {sid} is not found in resource policy.")));
    }
    Ok(())
}

/// A qualifier's policy goes with it (Lambda deletes an alias's or version's policy along).
pub fn drop_policy(tx: &Transaction<'_>, function: &FunctionName, qualifier: &str) -> StoreResult<()> {
    tx.execute(
        "DELETE FROM permissions WHERE function = ?1 AND qualifier = ?2",
        params![function.as_str(), qualifier],
    )?;
    Ok(())
}

pub fn load_gateway(tx: &Transaction<'_>) -> StoreResult<GatewayState> {
    let mut stmt = tx.prepare(&format!("SELECT {STAGE_COLS} FROM stages ORDER BY api_id, name"))?;
    let stages = stmt.query_map([], stage_row)?.collect::<Result<Vec<_>, _>>()?;
    // Only deployments some stage (or its canary) serves.
    let mut stmt = tx.prepare(&format!(
        "SELECT {DEPLOYMENT_COLS} FROM deployments d WHERE EXISTS (SELECT 1 FROM stages s WHERE s.api_id = d.api_id \
         AND (s.deployment_id = d.id OR json_extract(s.canary, '$.deployment_id') = d.id))"
    ))?;
    let deployments = stmt.query_map([], deployment_row)?.collect::<Result<Vec<_>, _>>()?;
    let mut stmt = tx.prepare(&format!("SELECT {PERMISSION_COLS} FROM permissions"))?;
    let permissions = stmt.query_map([], permission_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(GatewayState { stages, deployments, permissions })
}
